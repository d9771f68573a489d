//! How long the transport keeps trying: dropped connections are retried after a short pause of
//! their own (not the whole backoff schedule), and a request marked
//! `retry_until_deadline` outlives `max_attempts`.

use labelmux_core::transport::{
    default_classifier, Auth, Method, RetryMode, Transport, TransportConfig,
};
use labelmux_core::{ErrorKind, Vendor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the raw server does with the n-th request (0-based).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Answer {
    /// Read the request, then close the connection without a byte of answer.
    Drop,
    /// Answer with this status and a small JSON body.
    Status(u16),
}

/// A raw HTTP/1.1 server: the n-th request gets `plan[n]`, later ones the last entry. Every
/// answer closes its connection, so each attempt is a fresh connection.
async fn serve(plan: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let answer = plan[n.min(plan.len() - 1)];
            tokio::spawn(async move {
                // Read the head (the test requests have no body).
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                match answer {
                    Answer::Drop => drop(sock),
                    Answer::Status(code) => {
                        let body = if code == 200 { "{}" } else { "unavailable" };
                        let extra = if code == 429 {
                            "Retry-After: 0\r\n"
                        } else {
                            ""
                        };
                        let text = format!(
                            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                            body.len()
                        );
                        let _ = sock.write_all(text.as_bytes()).await;
                        let _ = sock.shutdown().await;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/v1"), hits)
}

fn transport(base: &str, cfg: TransportConfig) -> Transport {
    Transport::new(Vendor::Scale, base, Auth::None, cfg, default_classifier).unwrap()
}

#[tokio::test]
async fn dropped_connections_are_retried_after_a_short_pause_not_the_full_backoff() {
    let (base, hits) = serve(vec![
        Answer::Drop,
        Answer::Drop,
        Answer::Drop,
        Answer::Status(200),
    ])
    .await;
    // A backoff of 10 s would make three drops cost at least 30 s.
    let cfg = TransportConfig {
        initial_backoff_ms: 10_000,
        max_backoff_ms: 10_000,
        max_attempts: 5,
        ..TransportConfig::fast_for_tests()
    };
    let t = transport(&base, cfg);
    let started = Instant::now();
    let sent = tokio::time::timeout(
        Duration::from_secs(5),
        t.request(Method::GET, "get_task", "task/1").send(),
    )
    .await
    .expect("three dropped connections must not wait for the 10 s backoff");
    sent.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    println!("3 drops then success in {:?}", started.elapsed());
}

#[tokio::test]
async fn a_server_that_answers_still_gets_the_regular_backoff() {
    let (base, hits) = serve(vec![Answer::Status(503), Answer::Status(200)]).await;
    let cfg = TransportConfig {
        initial_backoff_ms: 1_000,
        max_backoff_ms: 1_000,
        ..TransportConfig::fast_for_tests()
    };
    let started = Instant::now();
    transport(&base, cfg)
        .request(Method::GET, "get_task", "task/1")
        .send()
        .await
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(990),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn dropped_connections_still_count_against_max_attempts() {
    let (base, hits) = serve(vec![Answer::Drop]).await;
    let cfg = TransportConfig {
        max_attempts: 3,
        ..TransportConfig::fast_for_tests()
    };
    let err = transport(&base, cfg)
        .request(Method::GET, "get_task", "task/1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.is_persistent(), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retry_until_deadline_outlives_max_attempts() {
    let plan = vec![
        Answer::Status(503),
        Answer::Drop,
        Answer::Status(429),
        Answer::Status(503),
        Answer::Drop,
        Answer::Status(503),
        Answer::Status(200),
    ];
    let cfg = TransportConfig {
        max_attempts: 2,
        initial_backoff_ms: 5,
        max_backoff_ms: 20,
        ..TransportConfig::fast_for_tests()
    };
    // Without it: two attempts, then the error.
    let (base, hits) = serve(plan.clone()).await;
    let err = transport(&base, cfg.clone())
        .request(Method::POST, "create_task", "task/imageannotation")
        .retry(RetryMode::Idempotent)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // With it: as many attempts as the deadline allows.
    let (base, hits) = serve(plan).await;
    transport(&base, cfg.clone())
        .request(Method::POST, "create_task", "task/imageannotation")
        .retry(RetryMode::Idempotent)
        .retry_until_deadline()
        .send()
        .await
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 7);
    // ...but never past the deadline.
    let (base, hits) = serve(vec![Answer::Status(503)]).await;
    let cfg = TransportConfig {
        deadline_secs: 0.5,
        ..cfg
    };
    let started = Instant::now();
    let err = transport(&base, cfg)
        .request(Method::POST, "create_task", "task/imageannotation")
        .retry(RetryMode::Idempotent)
        .retry_until_deadline()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServiceUnavailable);
    assert!(err.is_persistent());
    assert!(hits.load(Ordering::SeqCst) > 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn without_idempotency_only_requests_that_surely_did_nothing_are_retried_until_the_deadline()
{
    let cfg = TransportConfig {
        max_attempts: 2,
        ..TransportConfig::fast_for_tests()
    };
    // 429s say "not processed": resent, beyond max_attempts.
    let plan = vec![
        Answer::Status(429),
        Answer::Status(429),
        Answer::Status(429),
        Answer::Status(200),
    ];
    let (base, hits) = serve(plan).await;
    transport(&base, cfg.clone())
        .request(Method::POST, "create_task", "task/imageannotation")
        .retry(RetryMode::OnlyIfNotProcessed)
        .retry_until_deadline()
        .send()
        .await
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    // A dropped connection may have been acted on: not resent.
    let (base, hits) = serve(vec![Answer::Drop, Answer::Status(200)]).await;
    let err = transport(&base, cfg)
        .request(Method::POST, "create_task", "task/imageannotation")
        .retry(RetryMode::OnlyIfNotProcessed)
        .retry_until_deadline()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
