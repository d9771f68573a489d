//! The transport against servers that misbehave on purpose: silent, slowloris (a head dribbled
//! byte by byte), a head and then no body, a body trickled byte by byte, an endless body. Each
//! must end with a clear `Timeout` or `Decode` error naming the setting that ended it, within a
//! bound set by the (shortened) timeouts, and a timed-out attempt is retried once at most.

use labelmux_core::transport::{default_classifier, Auth, Method, Transport, TransportConfig};
use labelmux_core::{ErrorKind, Vendor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the server does once it has read a request head.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Never answers.
    Silent,
    /// Sends its response head one byte every 50 ms, forever (slowloris).
    DribbledHead,
    /// Sends a head announcing 1000 bytes, then nothing.
    HeadThenNothing,
    /// Sends a head, then its body one byte every 20 ms, forever.
    TrickledBody,
    /// Sends a chunked body as fast as it can, forever.
    EndlessBody,
}

/// A server doing `what` on every connection; counts the connections (attempts).
async fn serve(what: Misbehaviour) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(misbehave(sock, what));
        }
    });
    (format!("http://{addr}/v1"), hits)
}

async fn misbehave(mut sock: TcpStream, what: Misbehaviour) {
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));
    match what {
        Misbehaviour::Silent => pause(600_000).await,
        Misbehaviour::DribbledHead => {
            for b in b"HTTP/1.1 200 OK\r\nx-padding: "
                .iter()
                .chain([b'a'; 100_000].iter())
            {
                if sock.write_all(&[*b]).await.is_err() {
                    return;
                }
                pause(50).await;
            }
        }
        Misbehaviour::HeadThenNothing => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                .await;
            pause(600_000).await;
        }
        Misbehaviour::TrickledBody => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 50000\r\n\r\n[")
                .await;
            loop {
                pause(20).await;
                if sock.write_all(b"1").await.is_err() {
                    return;
                }
            }
        }
        Misbehaviour::EndlessBody => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = [b"4000\r\n".as_slice(), &[b' '; 0x4000], b"\r\n"].concat();
            while sock.write_all(&chunk).await.is_ok() {}
        }
    }
}

/// Short timeouts, many attempts: only the timeout cap keeps the attempts at two.
fn config() -> TransportConfig {
    TransportConfig {
        timeout_secs: 0.5,
        read_idle_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(1),
        max_attempts: 6,
        initial_backoff_ms: 10,
        max_backoff_ms: 20,
        deadline_secs: 60.0,
        max_response_bytes: 64 * 1024,
        ..TransportConfig::default()
    }
}

fn transport(base: &str) -> Transport {
    Transport::new(
        Vendor::Scale,
        base,
        Auth::None,
        config(),
        default_classifier,
    )
    .unwrap()
}

/// Run one buffered GET against `what`; returns the error, the attempts the server saw and the
/// time it took.
async fn buffered(what: Misbehaviour) -> (labelmux_core::Error, usize, Duration) {
    let (base, hits) = serve(what).await;
    let started = Instant::now();
    let err = transport(&base)
        .request(Method::GET, "tasks", "tasks")
        .send()
        .await
        .expect_err("a hostile server cannot succeed");
    (err, hits.load(Ordering::SeqCst), started.elapsed())
}

#[tokio::test]
async fn silent_and_slowloris_servers_end_after_two_attempt_timeouts() {
    for what in [Misbehaviour::Silent, Misbehaviour::DribbledHead] {
        let (err, attempts, took) = buffered(what).await;
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what:?}: {err}");
        assert!(err.is_persistent(), "{what:?}: {err:?}");
        // Two attempts of 0.5 s, not six, not the 60 s deadline.
        assert_eq!(attempts, 2, "{what:?}");
        assert!(took < Duration::from_secs(5), "{what:?}: {took:?}");
    }
}

#[tokio::test]
async fn a_head_without_its_body_and_a_trickled_body_end_after_the_read_idle_timeout() {
    for (what, says) in [
        (Misbehaviour::HeadThenNothing, "no data for"),
        (Misbehaviour::TrickledBody, "trickled"),
    ] {
        let (err, attempts, took) = buffered(what).await;
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what:?}: {err}");
        assert!(
            err.message().contains("read_idle_timeout") && err.message().contains(says),
            "{what:?}: {err}"
        );
        assert_eq!(attempts, 2, "{what:?}");
        assert!(took < Duration::from_secs(5), "{what:?}: {took:?}");
    }
}

#[tokio::test]
async fn a_trickled_stream_is_cut_off_too() {
    use futures::StreamExt;
    let (base, _) = serve(Misbehaviour::TrickledBody).await;
    let started = Instant::now();
    let mut body = transport(&base)
        .request(Method::GET, "export", "export")
        .send_streaming()
        .await
        .unwrap()
        .into_stream();
    let mut received = 0;
    let read = async {
        loop {
            match body.next().await {
                Some(Ok(chunk)) => received += chunk.len(),
                Some(Err(e)) => break e,
                None => panic!("the endless trickle ended"),
            }
        }
    };
    let err = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the trickle was never cut off");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("trickled"), "{err}");
    assert!(received < 1024, "{received}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_endless_body_stops_at_max_response_bytes_while_reading() {
    let (err, attempts, _) = buffered(Misbehaviour::EndlessBody).await;
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(
        err.message().contains("max_response_bytes") && err.message().contains("65536"),
        "{err}"
    );
    assert_eq!(attempts, 1, "a response too large is not asked for again");
}
