//! The HTTP server: an accept loop over hyper's HTTP/1 connection driver, so that a fault can
//! close a connection without writing any response (the service returns an error, which makes
//! hyper drop the connection).

use super::control::Shared;
use super::faults::{retry_after_header, FaultAction};
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use axum::Router;
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Error returned to hyper to make it close the connection without a response.
#[derive(Debug)]
pub(crate) struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}
impl std::error::Error for ConnectionDropped {}

/// Path prefix of the control API; everything else is a vendor route.
pub(crate) const CONTROL_PREFIX: &str = "/_emulator";

fn is_control(path: &str) -> bool {
    path == CONTROL_PREFIX
        || path
            .strip_prefix(CONTROL_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The per-connection service: splits control from vendor routes, counts and faults the latter.
#[derive(Clone)]
pub(crate) struct App {
    pub shared: Arc<Shared>,
    pub vendor: Router,
    pub control: Router,
}

impl App {
    async fn handle(self, req: Request<Incoming>) -> Result<Response<Body>, ConnectionDropped> {
        let req = req.map(Body::new);
        if is_control(req.uri().path()) {
            let resp = self.control.oneshot(req).await;
            return Ok(match resp {
                Ok(r) => r,
                Err(e) => match e {},
            });
        }
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        let (latency, action) = if self
            .shared
            .faults
            .applies_to(req.method().as_str(), req.uri().path())
        {
            self.shared.faults.decide()
        } else {
            (std::time::Duration::ZERO, FaultAction::Pass)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match action {
            FaultAction::Pass => {}
            FaultAction::Drop => return Err(ConnectionDropped),
            FaultAction::DropAfter | FaultAction::TruncateAfter => {
                let resp = match self.vendor.oneshot(req).await {
                    Ok(r) => r,
                    Err(e) => match e {},
                };
                return lose_answer(resp, action == FaultAction::TruncateAfter).await;
            }
            FaultAction::Status {
                status,
                retry_after,
            } => {
                let mut resp = match (status, retry_after) {
                    (429 | 200, Some(secs)) => self.shared.vendor.throttle_response(status, secs),
                    _ => {
                        let message = match status {
                            503 => "Service unavailable (injected fault)",
                            _ => "Internal server error (injected fault)",
                        };
                        self.shared.vendor.error_response(status, message)
                    }
                };
                if let Some(secs) = retry_after {
                    if let Ok(v) = HeaderValue::from_str(&retry_after_header(secs)) {
                        resp.headers_mut().insert("retry-after", v);
                    }
                }
                return Ok(resp);
            }
        }
        match self.vendor.oneshot(req).await {
            Ok(r) => Ok(r),
            Err(e) => match e {},
        }
    }
}

/// The vendor handler has acted and answered `resp`: read the whole answer (a streamed body may
/// still be acting as it is produced), then lose it. Truncated, the head announces the full
/// length and half of the body follows before the connection closes; an empty body is dropped.
async fn lose_answer(
    resp: Response<Body>,
    truncate: bool,
) -> Result<Response<Body>, ConnectionDropped> {
    let (mut head, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|_| ConnectionDropped)?;
    if !truncate || bytes.is_empty() {
        return Err(ConnectionDropped);
    }
    let half = bytes.slice(..bytes.len() / 2);
    head.headers.remove(axum::http::header::TRANSFER_ENCODING);
    head.headers.insert(
        axum::http::header::CONTENT_LENGTH,
        HeaderValue::from(bytes.len()),
    );
    // The body errors after its first half: hyper then closes the connection mid-body. The
    // pause lets hyper flush the head and the half first (it writes when the body waits).
    let cut = futures::stream::iter([Ok(half)]).chain(futures::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Err(std::io::Error::other(
            "response truncated by fault injection",
        ))
    }));
    Ok(Response::from_parts(head, Body::from_stream(cut)))
}

impl hyper::service::Service<Request<Incoming>> for App {
    type Response = Response<Body>;
    type Error = ConnectionDropped;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        Box::pin(self.clone().handle(req))
    }
}

/// Accept connections until `shutdown` fires; open connections are then dropped.
pub(crate) fn spawn_server(
    listener: TcpListener,
    app: App,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stop = shutdown.clone();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() { break; }
                    continue;
                }
            };
            let (stream, _peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // E.g. too many open files: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "emulator accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let mut conn_stop = shutdown.clone();
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    // hyper's default 30 s header timeout also closes idle keep-alive
                    // connections, racing with clients that reuse them: local emulator, no need.
                    .header_read_timeout(None)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), app);
                tokio::select! {
                    r = conn => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "emulator connection ended with error");
                        }
                    }
                    _ = conn_stop.wait_for(|s| *s) => {}
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::is_control;

    #[test]
    fn control_prefix_is_exact() {
        assert!(is_control("/_emulator/state"));
        assert!(is_control("/_emulator"));
        assert!(!is_control("/_emulatorx/state"));
        assert!(!is_control("/v2/projects/1.json"));
    }
}
