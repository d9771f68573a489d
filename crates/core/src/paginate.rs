//! Turn a page-fetch function into a `Stream` of items.
//!
//! [`paginate`] fetches the next page while the current one is consumed, so a consumer that
//! does work per item overlaps it with network latency; memory stays bounded by about two pages.
//! [`paginate_sequential`] fetches a page only when the previous one is used up: use it for
//! endpoints where reading a page has effects (Sama's since-last-call cursor), so that dropping
//! the stream never consumes a page nobody saw.

use crate::Result;
use futures::stream::{self, BoxStream, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
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
}
