//! Turn a page-fetch function into a `Stream` of items.
//!
//! [`paginate`] fetches the next page while the current one is consumed, so a consumer that
//! does work per item overlaps it with network latency; memory stays bounded by about two pages.
//! [`paginate_sequential`] fetches a page only when the previous one is used up: use it for
//! endpoints where reading a page has effects (Sama's since-last-call cursor), so that dropping
//! the stream never consumes a page nobody saw.
//! [`paginate_numbered`] fetches up to `depth` numbered pages concurrently, for endpoints whose
//! pages are addressed by number and whose reads have no effect (e.g. Sama's GET of delivered
//! tasks), so that network latency is paid once per `depth` pages instead of once per page.
//!
//! A server that stops making progress (the same page again, a cursor it already gave, endless
//! empty pages, pages past the total it reported) would make any of them run forever: wrap the
//! page-fetch function in [`guarded`] (or [`guarded_with_total`]) and such a listing ends with a
//! `Decode` error instead. The guard remembers a few recent pages and cursors, never every id.
//! [`paginate_numbered_within`] does the same within a [`ReadAhead`] budget of pages *and bytes*,
//! so memory stays bounded whatever the page size.

use crate::{Error, Result, Vendor};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// One page: its items and the cursor of the next page, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    /// Items of this page, in order.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` ends the stream.
    pub next: Option<C>,
}

/// Pages whose item ids a [`ProgressGuard`] remembers: a page made only of ids among them brings
/// nothing new. More than one, so that a server alternating two pages is caught too.
const RECENT_PAGES: usize = 4;
/// Cursors a [`ProgressGuard`] remembers; one among them handed out again is a loop.
const RECENT_CURSORS: usize = 16;
/// Empty pages in a row, each saying more follow, after which a listing is taken as endless.
const MAX_EMPTY_PAGES: u32 = 10;

/// The 64-bit hash a [`ProgressGuard`] keeps of an id or a cursor (ids are compared by hash, so
/// memory does not depend on their length).
pub fn key_of<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Watches one paginated listing for a server that stops making progress, and turns that into a
/// `Decode` error naming the vendor and the operation:
///
/// - a cursor (token, page number, offset) equal to one of the last few requested;
/// - a non-empty page all of whose ids were in the last few pages (a page sent again; a partial
///   overlap is normal for offset paging over a list that changes, and passes);
/// - more than a few empty pages in a row that each say more follow;
/// - items more than a page past the total the server reported.
///
/// Memory is bounded: the hashes of the ids of the last few pages and of the last few cursors.
/// Usually used through [`guarded`]; an adapter with its own loop calls the checks directly.
#[derive(Debug)]
pub struct ProgressGuard {
    vendor: Vendor,
    operation: &'static str,
    cursors: VecDeque<u64>,
    pages: VecDeque<HashSet<u64>>,
    empty_run: u32,
    items: u64,
    largest_page: u64,
}

impl ProgressGuard {
    /// A guard for `operation` on `vendor` (both named in its errors).
    pub fn new(vendor: Vendor, operation: &'static str) -> Self {
        ProgressGuard {
            vendor,
            operation,
            cursors: VecDeque::new(),
            pages: VecDeque::new(),
            empty_run: 0,
            items: 0,
            largest_page: 0,
        }
    }

    fn stuck(&self, what: String) -> Error {
        Error::decode(format!(
            "the listing stopped making progress: {what}; giving up instead of reading forever (a vendor bug or a hostile server; run again later, and report it if it persists)"
        ))
        .with_vendor(self.vendor)
        .with_operation(self.operation)
    }

    /// Check the cursor of the page about to be requested (by hash: see [`key_of`]).
    pub fn cursor(&mut self, cursor: u64) -> Result<()> {
        if self.cursors.contains(&cursor) {
            return Err(
                self.stuck("the server handed out a page cursor it had already given".to_owned())
            );
        }
        if self.cursors.len() == RECENT_CURSORS {
            self.cursors.pop_front();
        }
        self.cursors.push_back(cursor);
        Ok(())
    }

    /// Check a page: the hashes of its items' ids (see [`key_of`]), and whether the server says
    /// more pages follow.
    pub fn page(&mut self, ids: impl IntoIterator<Item = u64>, more: bool) -> Result<()> {
        let ids: HashSet<u64> = ids.into_iter().collect();
        let len = ids.len() as u64;
        if ids.is_empty() {
            self.empty_run = if more { self.empty_run + 1 } else { 0 };
            if self.empty_run > MAX_EMPTY_PAGES {
                return Err(self.stuck(format!(
                    "{} empty pages in a row, each saying more follow",
                    self.empty_run
                )));
            }
            return Ok(());
        }
        self.empty_run = 0;
        if ids
            .iter()
            .all(|id| self.pages.iter().any(|p| p.contains(id)))
        {
            return Err(self.stuck(format!(
                "a page of {len} item(s) repeats items of the previous pages"
            )));
        }
        self.items += len;
        self.largest_page = self.largest_page.max(len);
        if self.pages.len() == RECENT_PAGES {
            self.pages.pop_front();
        }
        self.pages.push_back(ids);
        Ok(())
    }

    /// Check the total the server reported with the last page: more than a page of items past
    /// it (a page of slack for items removed while listing) means the pages do not end.
    pub fn total(&self, total: u64) -> Result<()> {
        if self.items > total.saturating_add(self.largest_page) {
            return Err(self.stuck(format!(
                "{} items received, more than a page past the {total} the server reported",
                self.items
            )));
        }
        Ok(())
    }
}

/// `fetch` with every page checked by a [`ProgressGuard`] (see there): the cursor before the
/// request, the page's ids (`id` of each item, hashed with [`key_of`]) after it. A listing
/// that stops making progress ends with a `Decode` error. Use it with any of the paginators; with
/// [`paginate_numbered`] pages are checked as they arrive (the cursors, page numbers, never
/// repeat there).
pub fn guarded<T, C, F, Fut>(
    vendor: Vendor,
    operation: &'static str,
    id: fn(&T) -> u64,
    mut fetch: F,
) -> impl FnMut(C) -> BoxFuture<'static, Result<Page<T, C>>> + Send + 'static
where
    T: Send + 'static,
    C: Hash + Send + 'static,
    F: FnMut(C) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T, C>>> + Send + 'static,
{
    let mut inner = guarded_with_total(vendor, operation, id, move |c| {
        let page = fetch(c);
        async move { page.await.map(|p| (p, None)) }
    });
    move |c| inner(c)
}

/// [`guarded`] for listings whose pages report the total number of items: `fetch` returns the
/// page and that total (when the page carried one), and items more than a page past it end the
/// listing with a `Decode` error.
pub fn guarded_with_total<T, C, F, Fut>(
    vendor: Vendor,
    operation: &'static str,
    id: fn(&T) -> u64,
    mut fetch: F,
) -> impl FnMut(C) -> BoxFuture<'static, Result<Page<T, C>>> + Send + 'static
where
    T: Send + 'static,
    C: Hash + Send + 'static,
    F: FnMut(C) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(Page<T, C>, Option<u64>)>> + Send + 'static,
{
    let guard = Arc::new(Mutex::new(ProgressGuard::new(vendor, operation)));
    move |cursor: C| {
        let checked = guard
            .lock()
            .map_err(|_| Error::new(crate::ErrorKind::Internal, "progress guard poisoned"))
            .and_then(|mut g| g.cursor(key_of(&cursor)));
        let page = checked.map(|()| fetch(cursor));
        let guard = Arc::clone(&guard);
        Box::pin(async move {
            let (page, total) = page?.await?;
            let mut g = guard
                .lock()
                .map_err(|_| Error::new(crate::ErrorKind::Internal, "progress guard poisoned"))?;
            g.page(page.items.iter().map(id), page.next.is_some())?;
            if let Some(total) = total {
                g.total(total)?;
            }
            Ok(page)
        })
    }
}

/// Aborts the prefetch task when the stream is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct State<T, C, F> {
    buffer: VecDeque<T>,
    in_flight: Option<AbortOnDrop<Result<Page<T, C>>>>,
    fetch: F,
    failed: bool,
}

/// Stream the items of every page, starting at cursor `first`, prefetching one page ahead.
/// Must be polled inside a Tokio runtime. An error ends the stream after it is yielded.
pub fn paginate<T, C, F, Fut>(first: C, mut fetch: F) -> BoxStream<'static, Result<T>>
where
    T: Send + 'static,
    C: Send + 'static,
    F: FnMut(C) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T, C>>> + Send + 'static,
{
    let first_fetch = fetch(first);
    let state = State {
        buffer: VecDeque::new(),
        in_flight: Some(AbortOnDrop(tokio::spawn(first_fetch))),
        fetch,
        failed: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.buffer.pop_front() {
                return Some((Ok(item), st));
            }
            if st.failed {
                return None;
            }
            let mut handle = st.in_flight.take()?;
            let joined = (&mut handle.0).await;
            let page = match joined {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    st.failed = true;
                    return Some((Err(e), st));
                }
                Err(join) => {
                    st.failed = true;
                    return Some((
                        Err(crate::Error::new(
                            crate::ErrorKind::Internal,
                            format!("page fetch task failed: {join}"),
                        )),
                        st,
                    ));
                }
            };
            if let Some(next) = page.next {
                st.in_flight = Some(AbortOnDrop(tokio::spawn((st.fetch)(next))));
            }
            st.buffer = page.items.into();
        }
    })
    .boxed()
}

/// Pages in flight [`paginate_numbered_within`] ramps up to whatever the latency: enough for
/// the fetches (and the decoding done in them) to run in parallel with the consumer.
const EAGER_DEPTH: usize = 4;

/// A consumer that waits at least this long for its next page, and longer than it took to
/// consume the previous one, while even the quickest fetch took [`SLOW_ROUND_TRIP`], is
/// waiting for the network: more pages in flight will hide it. Otherwise the consumer waits for
/// the fetches' own work (decoding, on the same CPUs), which more pages in flight would not
/// speed up: they would only hold memory.
const NETWORK_WAIT: Duration = Duration::from_millis(2);

/// See [`NETWORK_WAIT`]: a quickest fetch this slow means the network's latency, not the work
/// of fetching, dominates.
const SLOW_ROUND_TRIP: Duration = Duration::from_millis(10);

/// How far [`paginate_numbered_within`] may read ahead of the consumer: at most `pages` pages
/// in flight or waiting, and, as far as it can tell, at most `bytes` bytes of pages held at once
/// (the page being consumed, plus each page in flight counted at the largest size seen so far).
/// At least one page is always fetched ahead, whatever its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAhead {
    /// Most pages in flight or waiting (0 counts as 1).
    pub pages: usize,
    /// Most bytes of pages held at once (see [`SizedPage::bytes`]).
    pub bytes: usize,
}

impl ReadAhead {
    /// At most `pages` pages ahead, whatever they weigh.
    pub fn pages(pages: usize) -> Self {
        ReadAhead {
            pages,
            bytes: usize::MAX,
        }
    }

    /// At most `bytes` bytes of pages held at once, and at most `pages` pages ahead.
    pub fn bytes(bytes: usize, pages: usize) -> Self {
        ReadAhead { pages, bytes }
    }
}

/// A page and what it costs in memory while it waits to be consumed, in bytes (e.g. the
/// response body it was decoded from plus the items' own size).
#[derive(Debug, Clone, PartialEq)]
pub struct SizedPage<T> {
    /// The page.
    pub page: Page<T, u64>,
    /// Its weight in memory.
    pub bytes: usize,
}

/// Numbered page fetches in flight, in page order.
struct NumberedState<T, F> {
    buffer: VecDeque<T>,
    /// Each fetch with how long it took (from its start to its page).
    in_flight: VecDeque<AbortOnDrop<(Result<SizedPage<T>>, Duration)>>,
    next_page: u64,
    /// Pages allowed in flight now (ramps up to `limit.pages`).
    depth: usize,
    limit: ReadAhead,
    /// Weight of the page being consumed.
    current_bytes: usize,
    /// The heaviest page seen: what a page in flight is expected to weigh.
    page_estimate: usize,
    /// When the consumer started on the page being consumed.
    current_since: Option<Instant>,
    /// The quickest fetch seen: the network's round trip plus a page's own work, with no
    /// waiting behind other fetches.
    quickest_fetch: Option<Duration>,
    /// A page said it was the last (or failed): nothing more is started.
    ended: bool,
    fetch: F,
}

impl<T, F, Fut> NumberedState<T, F>
where
    T: Send + 'static,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<SizedPage<T>>> + Send + 'static,
{
    /// Start fetches until `depth` pages are in flight or the byte budget is spent.
    fn top_up(&mut self) {
        while !self.ended && self.in_flight.len() < self.depth && self.fits_one_more() {
            let fut = (self.fetch)(self.next_page);
            let started = Instant::now();
            self.in_flight
                .push_back(AbortOnDrop(tokio::spawn(async move {
                    let page = fut.await;
                    (page, started.elapsed())
                })));
            self.next_page = self.next_page.saturating_add(1);
        }
    }

    /// Whether one more page in flight keeps the expected memory within the byte budget (one
    /// page in flight is always allowed, so the stream makes progress).
    fn fits_one_more(&self) -> bool {
        if self.in_flight.is_empty() {
            return true;
        }
        let expected = (self.in_flight.len() + 1)
            .saturating_mul(self.page_estimate)
            .saturating_add(self.current_bytes);
        expected <= self.limit.bytes
    }

    /// Stop: abort (by dropping) every fetch still in flight; their pages are never used.
    fn end(&mut self) {
        self.ended = true;
        self.in_flight.clear();
    }
}

/// Stream the items of numbered pages `first`, `first + 1`, … with up to `depth` pages
/// fetched concurrently (a `depth` of 0 counts as 1), yielding items in page order.
/// The first page is fetched alone, so a result that fits in one page costs one request;
/// after that the pages in flight double with each full page, up to `depth` (past 4 only
/// while the consumer waits for the network; see [`paginate_numbered_within`]).
///
/// Use it only for endpoints where reading a page has no effect and page `n + 1` always
/// follows page `n`. A page whose `next` is `None` (e.g. a short or empty page) is the last
/// one: its items are yielded, fetches of later pages still in flight are aborted and their
/// results discarded, and no further page is requested. The value inside `next` is not used.
/// While a page is consumed, at most `depth` later pages are in flight or waiting, so memory
/// stays bounded by about `depth + 1` pages. An error ends the stream after it is yielded
/// (items of the pages before it come first). Dropping the stream aborts every fetch in
/// flight. Must be polled inside a Tokio runtime.
pub fn paginate_numbered<T, F, Fut>(
    first: u64,
    depth: usize,
    mut fetch: F,
) -> BoxStream<'static, Result<T>>
where
    T: Send + 'static,
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T, u64>>> + Send + 'static,
{
    paginate_numbered_within(first, ReadAhead::pages(depth), move |n| {
        let fut = fetch(n);
        async move { fut.await.map(|page| SizedPage { page, bytes: 0 }) }
    })
}

/// [`paginate_numbered`] within a [`ReadAhead`] budget: up to `read_ahead.pages` pages in flight
/// (ramping up from one as in [`paginate_numbered`]), and no more than `read_ahead.bytes` bytes
/// of pages expected in memory at once, each page weighing what its fetch reported
/// ([`SizedPage::bytes`]). The fetch future runs on its own task, so work done in it (decoding
/// the page) runs in parallel with the consumer and with other fetches.
///
/// Memory is spent on reading ahead only where it buys time: the pages in flight double with
/// each full page up to 4, and beyond that grow by two a page only while the consumer waits for
/// the network — it waits 2 ms or more for its next page, longer than it took over the previous
/// one, and even the quickest fetch took 10 ms or more. On a fast network a pull so keeps a few
/// pages ahead (the consumer then waits for the decoding done in the fetches, which more pages
/// in flight would not speed up); with latency, as many as the limits allow.
pub fn paginate_numbered_within<T, F, Fut>(
    first: u64,
    read_ahead: ReadAhead,
    fetch: F,
) -> BoxStream<'static, Result<T>>
where
    T: Send + 'static,
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<SizedPage<T>>> + Send + 'static,
{
    let depth = read_ahead.pages.max(1);
    let mut state = NumberedState {
        buffer: VecDeque::new(),
        in_flight: VecDeque::new(),
        next_page: first,
        // Doubled with each full page, up to `depth`.
        depth: 1,
        limit: read_ahead,
        current_bytes: 0,
        page_estimate: 0,
        current_since: None,
        quickest_fetch: None,
        ended: false,
        fetch,
    };
    state.top_up();
    stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(item) = st.buffer.pop_front() {
                return Some((Ok(item), st));
            }
            let mut handle = st.in_flight.pop_front()?;
            // How long the consumer waits for this page, against how long it took over the
            // last one, tells whether more pages in flight would help (network-bound) or only
            // cost memory (the fetches keep up).
            let consumed = st.current_since.map_or(Duration::ZERO, |t| t.elapsed());
            let waited_since = (!handle.0.is_finished()).then(Instant::now);
            let joined = (&mut handle.0).await;
            let waited = waited_since.map_or(Duration::ZERO, |t| t.elapsed());
            st.current_since = Some(Instant::now());
            let SizedPage { page, bytes } = match joined {
                Ok((Ok(page), took)) => {
                    st.quickest_fetch = Some(st.quickest_fetch.map_or(took, |q| q.min(took)));
                    page
                }
                Ok((Err(e), _)) => {
                    st.end();
                    return Some((Err(e), st));
                }
                Err(join) => {
                    st.end();
                    return Some((
                        Err(crate::Error::new(
                            crate::ErrorKind::Internal,
                            format!("page fetch task failed: {join}"),
                        )),
                        st,
                    ));
                }
            };
            st.current_bytes = bytes;
            st.page_estimate = st.page_estimate.max(bytes);
            if page.next.is_none() {
                st.end();
            } else {
                // Slow start: double the pages in flight with each full page, so a short
                // result requests at most about as many pages past its end as it used; past
                // `EAGER_DEPTH` pages, only while the consumer still waits for the network.
                let network_bound = st.quickest_fetch.is_some_and(|q| q >= SLOW_ROUND_TRIP)
                    && waited >= NETWORK_WAIT
                    && waited > consumed;
                if st.depth < EAGER_DEPTH {
                    st.depth = st.depth.saturating_mul(2).min(depth);
                } else if network_bound {
                    // Two more at a time, not twice as many: fetches started together arrive
                    // together, and a burst of pages is what costs memory.
                    st.depth = st.depth.saturating_add(2).min(depth);
                }
                st.top_up();
            }
            st.buffer = page.items.into();
        }
    })
    .boxed()
}

/// Stream the items of every page, fetching a page only once the previous one is consumed.
pub fn paginate_sequential<'a, T, C, F, Fut>(first: C, fetch: F) -> BoxStream<'a, Result<T>>
where
    T: Send + 'a,
    C: Send + 'a,
    F: FnMut(C) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Page<T, C>>> + Send + 'a,
{
    let state = (VecDeque::new(), Some(first), fetch);
    stream::unfold(state, |(mut buffer, mut next, mut fetch)| async move {
        loop {
            if let Some(item) = buffer.pop_front() {
                return Some((Ok(item), (buffer, next, fetch)));
            }
            let cursor = next.take()?;
            match fetch(cursor).await {
                Ok(page) => {
                    buffer = page.items.into();
                    next = page.next;
                }
                Err(e) => return Some((Err(e), (buffer, None, fetch))),
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorKind};
    use futures::TryStreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn pages(
        n_pages: usize,
        per_page: usize,
    ) -> impl FnMut(usize) -> futures::future::Ready<Result<Page<usize, usize>>> {
        move |p| {
            let items = (p * per_page..(p + 1) * per_page).collect();
            let next = (p + 1 < n_pages).then_some(p + 1);
            futures::future::ready(Ok(Page { items, next }))
        }
    }

    #[tokio::test]
    async fn yields_every_item_in_order_both_ways() {
        let all: Vec<usize> = paginate(0, pages(5, 3)).try_collect().await.unwrap();
        assert_eq!(all, (0..15).collect::<Vec<_>>());
        let all: Vec<usize> = paginate_sequential(0, pages(5, 3))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(all, (0..15).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn prefetches_at_most_one_page_ahead() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let f = fetched.clone();
        let mut s = paginate(0usize, move |p| {
            f.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(Page {
                    items: vec![p; 10],
                    next: Some(p + 1),
                })
            }
        });
        // Consume page 0 only.
        for _ in 0..10 {
            s.try_next().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Page 0 and the prefetched page 1, nothing more.
        assert_eq!(fetched.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn sequential_never_fetches_ahead() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let f = fetched.clone();
        let mut s = paginate_sequential(0usize, move |p| {
            f.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(Page {
                    items: vec![p; 10],
                    next: Some(p + 1),
                })
            }
        });
        for _ in 0..10 {
            s.try_next().await.unwrap();
        }
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_error_is_yielded_then_ends_the_stream() {
        let s = paginate(0usize, |p| async move {
            if p == 1 {
                Err(Error::new(ErrorKind::Internal, "boom"))
            } else {
                Ok(Page {
                    items: vec![p],
                    next: Some(p + 1),
                })
            }
        });
        let got: Vec<_> = s.collect().await;
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert_eq!(got[1].as_ref().unwrap_err().kind(), ErrorKind::Internal);
    }

    /// A numbered-page fetcher over `n_items` items, `per_page` a page, where page `p`
    /// (1-based) takes `delay(p)` ms; counts fetches started and the most in flight at once.
    #[derive(Clone, Default)]
    struct Probe {
        started: Arc<AtomicUsize>,
        in_flight: Arc<AtomicUsize>,
        max_in_flight: Arc<AtomicUsize>,
        finished_or_dropped: Arc<AtomicUsize>,
    }

    struct InFlightGuard(Probe);
    impl Drop for InFlightGuard {
        fn drop(&mut self) {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.0.finished_or_dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Probe {
        fn fetcher(
            &self,
            n_items: u64,
            per_page: u64,
            delay: fn(u64) -> u64,
        ) -> impl FnMut(u64) -> futures::future::BoxFuture<'static, Result<Page<u64, u64>>>
               + Send
               + 'static {
            let probe = self.clone();
            move |p| {
                let probe = probe.clone();
                probe.started.fetch_add(1, Ordering::SeqCst);
                let now = probe.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                probe.max_in_flight.fetch_max(now, Ordering::SeqCst);
                let guard = InFlightGuard(probe);
                Box::pin(async move {
                    let _guard = guard;
                    tokio::time::sleep(std::time::Duration::from_millis(delay(p))).await;
                    let start = (p - 1) * per_page;
                    let items: Vec<u64> = (start..(start + per_page).min(n_items)).collect();
                    let next = (items.len() as u64 == per_page).then_some(p + 1);
                    Ok(Page { items, next })
                })
            }
        }
    }

    #[tokio::test]
    async fn numbered_pages_keep_order_when_fetches_finish_out_of_order() {
        let probe = Probe::default();
        // Earlier pages are slower, so later ones finish first.
        let fetch = probe.fetcher(95, 10, |p| 2 + (10 - p.min(10)) * 3);
        let all: Vec<u64> = paginate_numbered(1, 4, fetch).try_collect().await.unwrap();
        assert_eq!(all, (0..95).collect::<Vec<_>>());
        assert!(probe.max_in_flight.load(Ordering::SeqCst) <= 4);
        assert!(
            probe.max_in_flight.load(Ordering::SeqCst) >= 2,
            "ran concurrently"
        );
    }

    #[tokio::test]
    async fn numbered_pages_end_at_a_short_or_empty_page_and_discard_the_rest() {
        for (n_items, depth) in [(95u64, 3usize), (100, 3), (0, 2), (7, 1), (30, 8)] {
            let probe = Probe::default();
            let fetch = probe.fetcher(n_items, 10, |_| 1);
            let all: Vec<u64> = paginate_numbered(1, depth, fetch)
                .try_collect()
                .await
                .unwrap();
            assert_eq!(all, (0..n_items).collect::<Vec<_>>(), "{n_items}/{depth}");
            // The last page is number n_items/10 + 1; at most `depth` pages beyond the one
            // being read were started.
            let last_page = n_items / 10 + 1;
            let started = probe.started.load(Ordering::SeqCst) as u64;
            assert!(started >= last_page, "{n_items}/{depth}: {started}");
            assert!(
                started < last_page + depth as u64,
                "{n_items}/{depth}: {started}"
            );
            if last_page == 1 {
                assert_eq!(started, 1, "a single page costs a single request");
            }
        }
    }

    #[tokio::test]
    async fn numbered_pages_stay_bounded_while_the_consumer_is_slow() {
        let probe = Probe::default();
        let fetch = probe.fetcher(u64::MAX, 10, |_| 0);
        let mut s = paginate_numbered(1, 3, fetch);
        for _ in 0..10 {
            s.try_next().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Page 1 is being read; the ramp allows 2 ahead (pages 2, 3), nothing more.
        assert_eq!(probe.started.load(Ordering::SeqCst), 3);
        for _ in 0..10 {
            s.try_next().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Page 2 is being read; now the full depth of 3 is ahead (pages 3, 4, 5), no more.
        assert_eq!(probe.started.load(Ordering::SeqCst), 5);
        assert!(probe.max_in_flight.load(Ordering::SeqCst) <= 3);
    }

    #[tokio::test]
    async fn numbered_pages_yield_an_error_after_earlier_items_then_end() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let f = fetched.clone();
        let s = paginate_numbered(1, 4, move |p| {
            f.fetch_add(1, Ordering::SeqCst);
            async move {
                if p == 3 {
                    Err(Error::new(ErrorKind::TooManyRequests, "slow down"))
                } else {
                    Ok(Page {
                        items: vec![p; 2],
                        next: Some(p + 1),
                    })
                }
            }
        });
        let got: Vec<_> = s.collect().await;
        let oks: Vec<u64> = got
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        assert_eq!(oks, [1, 1, 2, 2]);
        assert_eq!(got.len(), 5);
        assert_eq!(
            got[4].as_ref().unwrap_err().kind(),
            ErrorKind::TooManyRequests
        );
    }

    #[tokio::test]
    async fn dropping_the_numbered_stream_aborts_fetches_in_flight() {
        let probe = Probe::default();
        // Page 1 is quick; the others take far longer than the test.
        let fetch = probe.fetcher(u64::MAX, 10, |p| if p == 1 { 0 } else { 60_000 });
        let mut s = paginate_numbered(1, 3, fetch);
        s.try_next().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // After the first full page the ramp has two pages in flight.
        assert_eq!(probe.in_flight.load(Ordering::SeqCst), 2);
        drop(s);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(probe.in_flight.load(Ordering::SeqCst), 0, "aborted on drop");
    }

    fn id_of(n: &u64) -> u64 {
        key_of(n)
    }

    /// Collect a guarded listing, at most `cap` items (a runaway fails the test, not the box).
    async fn drain<T>(mut s: BoxStream<'static, Result<T>>, cap: usize) -> (Vec<T>, Option<Error>) {
        let mut items = Vec::new();
        while let Some(r) = s.next().await {
            match r {
                Ok(i) => items.push(i),
                Err(e) => return (items, Some(e)),
            }
            assert!(items.len() < cap, "the listing ran away");
        }
        (items, None)
    }

    fn assert_stuck(e: Option<Error>, what: &str) {
        let e = e.unwrap_or_else(|| panic!("{what}: no error"));
        assert_eq!(e.kind(), ErrorKind::Decode, "{what}: {e}");
        assert_eq!(e.vendor(), Some(Vendor::Sama), "{what}");
        assert_eq!(e.operation(), Some("list"), "{what}");
        assert!(
            e.message().contains("stopped making progress"),
            "{what}: {e}"
        );
    }

    #[tokio::test]
    async fn a_page_sent_again_ends_every_kind_of_listing() {
        // The server answers every request with the same full page.
        let same = |_| async {
            Ok(Page {
                items: vec![1u64, 2, 3],
                next: Some(()),
            })
        };
        let numbered = |_| async {
            Ok(Page {
                items: vec![1u64, 2, 3],
                next: Some(0u64),
            })
        };
        let counter = Arc::new(AtomicUsize::new(0));
        let c = counter.clone();
        // Token paging: a new token every time, the same items.
        let tokens = move |_: String| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(Page {
                    items: vec![7u64, 8],
                    next: Some(format!("t{n}")),
                })
            }
        };
        for (what, s) in [
            (
                "paginate",
                paginate((), guarded(Vendor::Sama, "list", id_of, same)),
            ),
            (
                "sequential",
                paginate_sequential((), guarded(Vendor::Sama, "list", id_of, same)),
            ),
            (
                "numbered",
                paginate_numbered(1, 4, guarded(Vendor::Sama, "list", id_of, numbered)),
            ),
            (
                "tokens",
                paginate(String::new(), guarded(Vendor::Sama, "list", id_of, tokens)),
            ),
        ] {
            let (items, err) = drain(s, 1000).await;
            assert_stuck(err, what);
            assert!(items.len() <= 3 * 5, "{what}: {}", items.len());
        }
    }

    #[tokio::test]
    async fn two_pages_in_turn_a_repeated_cursor_and_endless_empty_pages_end_too() {
        // A, B, A, B, …: each page differs from the one before it.
        let alternating = |p: u64| async move {
            let items = if p % 2 == 0 {
                vec![1u64, 2]
            } else {
                vec![3, 4]
            };
            Ok(Page {
                items,
                next: Some(p + 1),
            })
        };
        let (items, err) = drain(
            paginate(0u64, guarded(Vendor::Sama, "list", id_of, alternating)),
            100,
        )
        .await;
        assert_stuck(err, "alternating");
        assert_eq!(items, [1, 2, 3, 4]);
        // Tokens a → b → a, with new items on every page.
        let next = Arc::new(AtomicUsize::new(10));
        let n = next.clone();
        let cycle = move |t: &'static str| {
            let fresh = n.fetch_add(1, Ordering::SeqCst) as u64;
            async move {
                Ok(Page {
                    items: vec![fresh],
                    next: Some(if t == "a" { "b" } else { "a" }),
                })
            }
        };
        let (_, err) = drain(
            paginate("a", guarded(Vendor::Sama, "list", id_of, cycle)),
            100,
        )
        .await;
        assert_stuck(err, "cursor cycle");
        // Empty pages that each say more follow, with new cursors.
        let empty = |p: u64| async move {
            Ok(Page {
                items: Vec::<u64>::new(),
                next: Some(p + 1),
            })
        };
        let (_, err) = drain(
            paginate(0u64, guarded(Vendor::Sama, "list", id_of, empty)),
            100,
        )
        .await;
        assert_stuck(err, "empty pages");
    }

    #[tokio::test]
    async fn honest_listings_pass_the_guard_even_when_pages_overlap() {
        let (items, err) = drain(
            paginate(
                0,
                guarded(Vendor::Sama, "list", |n: &usize| key_of(n), pages(50, 7)),
            ),
            1000,
        )
        .await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(items, (0..350).collect::<Vec<_>>());
        // Offset paging over a list that grew: each page repeats the last item of the one before.
        let shifted = |p: u64| async move {
            let items: Vec<u64> = (p * 10..p * 10 + 11).collect();
            Ok(Page {
                items,
                next: (p < 20).then_some(p + 1),
            })
        };
        let (items, err) = drain(
            paginate(0u64, guarded(Vendor::Sama, "list", id_of, shifted)),
            1000,
        )
        .await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(items.len(), 21 * 11);
        // A few empty pages before data are fine.
        let late = |p: u64| async move {
            let items = if p < 5 { vec![] } else { vec![p] };
            Ok(Page {
                items,
                next: (p < 8).then_some(p + 1),
            })
        };
        let (items, err) = drain(
            paginate(0u64, guarded(Vendor::Sama, "list", id_of, late)),
            100,
        )
        .await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(items, [5, 6, 7, 8]);
    }

    #[tokio::test]
    async fn pages_past_the_reported_total_end_the_listing() {
        // Fresh items forever, while each page says there are 25 in all.
        let endless = |p: u64| async move {
            let items: Vec<u64> = (p * 10..p * 10 + 10).collect();
            Ok((
                Page {
                    items,
                    next: Some(p + 1),
                },
                Some(25),
            ))
        };
        let (items, err) = drain(
            paginate(
                0u64,
                guarded_with_total(Vendor::Sama, "list", id_of, endless),
            ),
            1000,
        )
        .await;
        assert_stuck(err, "past total");
        // 25 reported, a page of slack: the fourth page (items 31..40) is refused.
        assert_eq!(items.len(), 30);
        // A total that grows while listing is fine.
        let growing = |p: u64| async move {
            let items: Vec<u64> = (p * 10..p * 10 + 10).collect();
            Ok((
                Page {
                    items,
                    next: (p < 9).then_some(p + 1),
                },
                Some(p * 10 + 15),
            ))
        };
        let (items, err) = drain(
            paginate(
                0u64,
                guarded_with_total(Vendor::Sama, "list", id_of, growing),
            ),
            1000,
        )
        .await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(items.len(), 100);
    }

    /// Pages of 10 items, each weighing `bytes(page)`, fetched instantly; counts fetches started.
    fn weighed(
        started: Arc<AtomicUsize>,
        bytes: fn(u64) -> usize,
    ) -> impl FnMut(u64) -> futures::future::Ready<Result<SizedPage<u64>>> + Send + 'static {
        move |p| {
            started.fetch_add(1, Ordering::SeqCst);
            futures::future::ready(Ok(SizedPage {
                page: Page {
                    items: vec![p; 10],
                    next: Some(p + 1),
                },
                bytes: bytes(p),
            }))
        }
    }

    #[tokio::test]
    async fn numbered_pages_stay_within_the_byte_budget_while_the_consumer_is_slow() {
        let started = Arc::new(AtomicUsize::new(0));
        // 100 bytes a page, a budget of 350 bytes and up to 10 pages: while a page is consumed,
        // two more fit (100 + 2 x 100 = 300); a third would make 400.
        let mut s = paginate_numbered_within(
            1,
            ReadAhead::bytes(350, 10),
            weighed(started.clone(), |_| 100),
        );
        for _ in 0..5 {
            for _ in 0..10 {
                s.try_next().await.unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Page 5 is being read; pages 6 and 7 are ahead, nothing more.
        assert_eq!(started.load(Ordering::SeqCst), 7);
        // The same pages with no byte limit: fetches that keep up need no more than 4 ahead.
        let started = Arc::new(AtomicUsize::new(0));
        let mut s =
            paginate_numbered_within(1, ReadAhead::pages(10), weighed(started.clone(), |_| 100));
        for _ in 0..5 {
            for _ in 0..10 {
                s.try_next().await.unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(started.load(Ordering::SeqCst), 9);
    }

    #[tokio::test]
    async fn pages_in_flight_grow_past_four_only_while_the_consumer_waits_for_the_network() {
        let fast: fn(u64) -> u64 = |_| 0;
        let slow: fn(u64) -> u64 = |_| 30;
        for (delay, expected_depth) in [(fast, 4usize), (slow, 10)] {
            let probe = Probe::default();
            let fetch = probe.fetcher(u64::MAX, 10, delay);
            let mut s = paginate_numbered(1, 10, fetch);
            for _ in 0..10 * 40 {
                s.try_next().await.unwrap();
            }
            let most = probe.max_in_flight.load(Ordering::SeqCst);
            assert_eq!(most, expected_depth, "fetches of {} ms", delay(1));
        }
    }

    #[tokio::test]
    async fn a_page_larger_than_the_byte_budget_still_streams_one_page_ahead() {
        let started = Arc::new(AtomicUsize::new(0));
        let s = paginate_numbered_within(
            1,
            ReadAhead::bytes(50, 10),
            weighed(started.clone(), |_| 1000),
        );
        let first: Vec<u64> = s.take(45).try_collect().await.unwrap();
        assert_eq!(first.len(), 45);
        assert_eq!(first[44], 5);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // Page 5 read (dropped at the end of `take`): at most one page ahead was started.
        assert!(started.load(Ordering::SeqCst) <= 6, "{started:?}");
    }

    #[tokio::test]
    async fn numbered_pages_ramp_up_so_short_results_waste_few_requests() {
        let requested = Arc::new(AtomicUsize::new(0));
        let r = requested.clone();
        // Two pages of data (the second short), read with a large depth.
        let items: Vec<u64> = paginate_numbered(1, 12, move |p| {
            r.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(match p {
                    1 => Page {
                        items: vec![1; 10],
                        next: Some(2),
                    },
                    2 => Page {
                        items: vec![2; 3],
                        next: None,
                    },
                    _ => Page {
                        items: vec![],
                        next: None,
                    },
                })
            }
        })
        .try_collect()
        .await
        .unwrap();
        assert_eq!(items.len(), 13);
        // Page 1 alone, then pages 2 and 3: never the 13 a full-depth jump would request.
        assert!(requested.load(Ordering::SeqCst) <= 3, "{requested:?}");
    }
}
