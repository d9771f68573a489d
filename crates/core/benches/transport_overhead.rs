//! Prints the transport's overhead per request against a local server: the same GET sent with a
//! bare `reqwest::Client` and through `Transport` (retry bookkeeping, limits, tracing, redaction).
//! Run: `cargo bench -p labelmux-core --bench transport_overhead`. Figures are printed, not asserted.

use axum::routing::get;
use axum::Router;
use labelmux_core::transport::{
    default_classifier, Auth, Method, SecretString, Transport, TransportConfig,
};
use labelmux_core::Vendor;
use std::time::{Duration, Instant};

const REQUESTS: usize = 5_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = Router::new().route("/v2/ping.json", get(|| async { r#"{"ok":true}"# }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let base = format!("http://{addr}/v2");

        let raw = reqwest::Client::new();
        let url = format!("{base}/ping.json?access_key=k");
        let bare = time(|| {
            let raw = raw.clone();
            let url = url.clone();
            async move {
                let r = raw
                    .get(&url)
                    .header("accept", "application/json")
                    .send()
                    .await
                    .unwrap();
                r.bytes().await.unwrap();
            }
        })
        .await;

        let t = Transport::new(
            Vendor::Sama,
            &base,
            Auth::QueryParam {
                name: "access_key",
                key: SecretString::from("k"),
            },
            TransportConfig::default(),
            default_classifier,
        )
        .unwrap();
        let through = time(|| {
            let t = t.clone();
            async move {
                t.request(Method::GET, "ping", "ping.json")
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await;

        let per = |d: Duration| d.as_secs_f64() * 1e6 / REQUESTS as f64;
        println!("transport_overhead: {REQUESTS} sequential GETs to a local server");
        println!("  bare reqwest : {:>8.1} µs/request", per(bare));
        println!("  Transport    : {:>8.1} µs/request", per(through));
        println!(
            "  overhead     : {:>8.1} µs/request",
            per(through) - per(bare)
        );
    });
}

async fn time<F, Fut>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..200 {
        f().await; // warm the connection pool
    }
    let started = Instant::now();
    for _ in 0..REQUESTS {
        f().await;
    }
    started.elapsed()
}
