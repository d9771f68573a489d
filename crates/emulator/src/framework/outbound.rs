//! Requests the emulator itself sends to a receiver of the user's (Scale callbacks, Labelbox
//! webhooks): one `reqwest` client and one retry policy for every vendor.

use std::sync::OnceLock;
use std::time::Duration;

/// Attempts per delivery (the first one included).
const ATTEMPTS: u32 = 3;

/// Time limit of one attempt: connecting, sending and reading the response head.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared client, or `None` if it could not be built (the deliveries then fail, logged).
fn client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                // A receiver answers itself: a redirect is not followed, a proxy not used.
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                // No pooling: tests start and drop runtimes, and a pooled connection belongs
                // to the runtime that opened it.
                .pool_max_idle_per_host(0)
                .timeout(ATTEMPT_TIMEOUT)
                .build()
                .map_err(|e| tracing::warn!("emulator: no HTTP client for deliveries: {e}"))
                .ok()
        })
        .as_ref()
}

/// POST `body` with `headers` to `url`, up to [`ATTEMPTS`] times (the n-th retry after
/// `n × backoff_step`), until the receiver answers a 2xx status. Returns whether it did.
pub(crate) async fn post_with_retries(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    backoff_step: Duration,
) -> bool {
    let Some(client) = client() else {
        return false;
    };
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff_step * attempt).await;
        }
        let mut request = client.post(url).body(body.clone());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return true,
            Ok(response) => {
                tracing::debug!(%url, status = %response.status(), "emulator: delivery refused")
            }
            Err(e) => tracing::debug!(%url, "emulator: delivery failed: {e}"),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::Router;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    /// A receiver that refuses the first `refusals` requests with a 503, records the rest.
    async fn receiver(
        refusals: u32,
    ) -> (String, Arc<AtomicU32>, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (calls.clone(), seen.clone());
        let app = Router::new().route(
            "/hook",
            post(
                move |headers: HeaderMap, body: axum::body::Bytes| async move {
                    if c.fetch_add(1, Ordering::SeqCst) < refusals {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let tag = headers
                        .get("x-tag")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    s.lock().unwrap().push((tag, body.to_vec()));
                    StatusCode::OK
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/hook"), calls, seen)
    }

    #[tokio::test]
    async fn a_refused_delivery_is_retried_with_its_headers_and_body() {
        let (url, calls, seen) = receiver(2).await;
        let headers = [("X-Tag", "t1".to_owned())];
        let ok = post_with_retries(&url, &headers, b"{}".to_vec(), Duration::from_millis(1)).await;
        assert!(ok);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(*seen.lock().unwrap(), [("t1".to_owned(), b"{}".to_vec())]);
    }

    #[tokio::test]
    async fn a_delivery_gives_up_after_three_attempts() {
        let (url, calls, _) = receiver(u32::MAX).await;
        let ok = post_with_retries(&url, &[], Vec::new(), Duration::from_millis(1)).await;
        assert!(!ok);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(!post_with_retries("not a url", &[], Vec::new(), Duration::ZERO).await);
    }
}
