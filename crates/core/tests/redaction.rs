//! Secrets never leak: with a canary key, failing and succeeding requests run at `trace` level
//! and the canary must appear nowhere in captured logs, error `Display`/`Debug`, or `Debug` of
//! the transport. Its own test binary: the subscriber is process-global, so no other test's
//! thread can race tracing's per-callsite interest cache.

use axum::http::StatusCode;
use axum::routing::any;
use axum::Router;
use labelmux_core::transport::{
    default_classifier, Auth, Method, SecretString, Transport, TransportConfig,
};
use labelmux_core::Vendor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Serves 200, then 401 with Sama's error body, then 503 forever.
async fn serve() -> String {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new().fallback(any(move || {
        let n = hits.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => (StatusCode::OK, "{}"),
                1 => (
                    StatusCode::UNAUTHORIZED,
                    r#"{"errors":[{"type":401,"message":"Not authorized."}]}"#,
                ),
                _ => (StatusCode::SERVICE_UNAVAILABLE, ""),
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v2")
}

fn quick() -> TransportConfig {
    TransportConfig {
        initial_backoff_ms: 10,
        max_backoff_ms: 20,
        ..TransportConfig::fast_for_tests()
    }
}

/// Captures everything `tracing` writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_canary_key_appears_in_no_log_error_or_debug_output() {
    const CANARY: &str = "CANARY-d41d8cd98f";
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let base = serve().await;
    let cfg = TransportConfig {
        max_attempts: 2,
        ..quick()
    };
    let sama = Transport::new(
        Vendor::Sama,
        &base,
        Auth::QueryParam {
            name: "access_key",
            key: SecretString::from(CANARY),
        },
        cfg.clone(),
        default_classifier,
    )
    .unwrap();
    let mut outputs = vec![format!("{sama:?}")];
    sama.request(Method::GET, "ok", "a").send().await.unwrap();
    for op in ["unauthorized", "unavailable"] {
        let e = sama.request(Method::GET, op, "b").send().await.unwrap_err();
        outputs.push(format!("{e} {e:?}"));
    }
    // Refused connection: reqwest's own error text would carry the URL with the key.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = Transport::new(
        Vendor::Sama,
        &format!("http://127.0.0.1:{port}/v2"),
        Auth::QueryParam {
            name: "access_key",
            key: SecretString::from(CANARY),
        },
        cfg.clone(),
        default_classifier,
    )
    .unwrap();
    let e = refused
        .request(Method::GET, "refused", "c")
        .send()
        .await
        .unwrap_err();
    let mut chain = format!("{e} {e:?}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        chain.push_str(&format!(" {s} {s:?}"));
        src = s.source();
    }
    outputs.push(chain);
    for auth in [
        Auth::BasicUser(SecretString::from(CANARY)),
        Auth::Bearer(SecretString::from(CANARY)),
    ] {
        let t =
            Transport::new(Vendor::Scale, &base, auth, cfg.clone(), default_classifier).unwrap();
        outputs.push(format!("{t:?}"));
        let _ = t.request(Method::GET, "op", "d").send().await;
    }
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("labelmux.http"),
        "tracing captured nothing: {logs}"
    );
    assert!(logs.contains("access_key=REDACTED"), "{logs}");
    for out in outputs.iter().chain(std::iter::once(&logs)) {
        assert!(!out.contains(CANARY), "canary leaked: {out}");
    }
}
