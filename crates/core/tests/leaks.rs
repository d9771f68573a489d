//! No key leaves, whatever the server does: a hostile server that echoes credentials (raw,
//! base64 Basic, URL-encoded) in error and success bodies, buffered or streamed, redirects to
//! another host, or sends terminal escapes; nor when the base URL itself is malformed. Each
//! error's `Display`, `Debug` and source chain must be free of the key and of control
//! characters, and the other host must receive nothing.

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use labelmux_core::transport::{
    default_classifier, Auth, Method, SecretString, Transport, TransportConfig,
};
use labelmux_core::Vendor;
use std::sync::{Arc, Mutex};

const KEY: &str = "CANARY+k3y/9f";

/// Everything an error shows: Display, Debug and the source chain.
fn shown(e: &labelmux_core::Error) -> String {
    let mut out = format!("{e} {e:?}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(&format!(" {s} {s:?}"));
        src = s.source();
    }
    out
}

fn assert_clean(what: &str, text: &str) {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    let encoded: String = url::form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
    for form in [KEY, basic.as_str(), encoded.as_str()] {
        assert!(!text.contains(form), "{what}: leaked {form:?} in {text}");
    }
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{what}: control characters reached the message: {text:?}"
    );
}

/// Echoes the request line and every header back in the body, with the given status.
async fn echo(status: StatusCode, req: Request) -> impl IntoResponse {
    let mut text = format!(
        "\u{1b}[2J\u{1b}]0;pwned\u{7}{} {}\n",
        req.method(),
        req.uri()
    );
    for (k, v) in req.headers() {
        text.push_str(&format!(
            "{k}: {}\nerror: forged line\n",
            v.to_str().unwrap_or("?")
        ));
    }
    (status, text)
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn config() -> TransportConfig {
    TransportConfig {
        max_attempts: 1,
        ..TransportConfig::fast_for_tests()
    }
}

#[tokio::test]
async fn echoed_credentials_and_escapes_never_reach_an_error() {
    let app = Router::new()
        .route("/unauthorized", any(|r| echo(StatusCode::UNAUTHORIZED, r)))
        .route("/garbage", any(|r| echo(StatusCode::OK, r)));
    let base = serve(app).await;
    for auth in [
        Auth::BasicUser(SecretString::from(KEY)),
        Auth::Bearer(SecretString::from(KEY)),
        Auth::QueryParam {
            name: "access_key",
            key: SecretString::from(KEY),
        },
    ] {
        let what = format!("{auth:?}");
        let t = Transport::new(Vendor::Scale, &base, auth, config(), default_classifier).unwrap();
        let e = t
            .request(Method::GET, "op", "unauthorized")
            .send()
            .await
            .unwrap_err();
        assert_clean(&format!("{what} 401"), &shown(&e));
        // An unparsable 200 that echoes the request.
        let e = t
            .request(Method::GET, "op", "garbage")
            .send_json::<serde_json::Value>()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), labelmux_core::ErrorKind::Decode);
        assert_clean(&format!("{what} 200"), &shown(&e));
    }
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_and_sends_no_referer() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    // The "other host": loopback under another name, so host comparison is what stops it.
    let other = serve(Router::new().fallback(any(move |req: Request| {
        let log = Arc::clone(&log);
        async move {
            log.lock()
                .unwrap()
                .push(format!("{} {:?}", req.uri(), req.headers()));
            "stolen"
        }
    })))
    .await
    .replace("127.0.0.1", "localhost");
    let same_seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let same_log = Arc::clone(&same_seen);
    let target = format!("{other}/collect");
    let base = serve(
        Router::new()
            .route(
                "/away",
                any(move || {
                    let target = target.clone();
                    async move { (StatusCode::FOUND, [(header::LOCATION, target)], "") }
                }),
            )
            .route(
                "/here",
                any(|| async { (StatusCode::FOUND, [(header::LOCATION, "/landing")], "") }),
            )
            .route(
                "/landing",
                any(move |req: Request| {
                    let log = Arc::clone(&same_log);
                    async move {
                        log.lock().unwrap().push(format!("{:?}", req.headers()));
                        "{}"
                    }
                }),
            ),
    )
    .await;
    let t = Transport::new(
        Vendor::Sama,
        &base,
        Auth::QueryParam {
            name: "access_key",
            key: SecretString::from(KEY),
        },
        config(),
        default_classifier,
    )
    .unwrap();
    let outcome = t.request(Method::GET, "op", "away").send().await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "the other host was reached: {:?}",
        seen.lock().unwrap()
    );
    if let Err(e) = &outcome {
        assert_clean("redirect error", &shown(e));
    }
    // A redirect on the same host is still followed, without a Referer.
    t.request(Method::GET, "op", "here").send().await.unwrap();
    let landing = same_seen.lock().unwrap().clone();
    assert_eq!(landing.len(), 1, "{landing:?}");
    assert!(
        !landing[0].to_ascii_lowercase().contains("referer"),
        "{landing:?}"
    );
}

#[tokio::test]
async fn a_streamed_request_whose_error_echoes_the_request_is_scrubbed_too() {
    let app = Router::new().route("/unauthorized", any(|r| echo(StatusCode::UNAUTHORIZED, r)));
    let base = serve(app).await;
    for auth in [
        Auth::BasicUser(SecretString::from(KEY)),
        Auth::QueryParam {
            name: "access_key",
            key: SecretString::from(KEY),
        },
    ] {
        let what = format!("{auth:?}");
        let t = Transport::new(Vendor::Scale, &base, auth, config(), default_classifier).unwrap();
        let e = t
            .request(Method::GET, "export", "unauthorized")
            .send_streaming()
            .await
            .unwrap_err();
        assert_clean(&format!("{what} streamed 401"), &shown(&e));
    }
}

#[test]
fn a_malformed_base_url_never_shows_the_key() {
    let encoded: String = url::form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
    for url in [
        format!("https://user:{KEY}@[bad/v2"),
        format!("http//user:{KEY}@host/v2"),
        format!("ftp://user:{encoded}@host/v2"),
        format!("https://api.example/v2?access_key={encoded}&x=%zz[::"),
        KEY.to_owned(),
    ] {
        let err = Transport::new(
            Vendor::Sama,
            &url,
            Auth::QueryParam {
                name: "access_key",
                key: SecretString::from(KEY),
            },
            config(),
            default_classifier,
        );
        if let Err(e) = err {
            assert_eq!(e.kind(), labelmux_core::ErrorKind::Config, "{url}");
            assert_clean(&format!("base URL {url}"), &shown(&e));
        }
    }
}
