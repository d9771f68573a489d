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
//! [`paginate_numbered_within`] does the same within a [`ReadAhead`] budget of pages *and bytes*,
//! so memory stays bounded whatever the page size.

use crate::Result;
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
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
