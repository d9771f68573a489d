//! Stand-ins for core-transport items not merged yet (GraphQL helpers, polling, streamed
//! downloads), with the agreed signatures of `core-transport-api.md`, so the client compiles
//! and runs today. Each is replaced by the core's own once it lands.

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use labelmux_core::transport::{Method, RetryMode, Transport};
use labelmux_core::{Error, ErrorKind, Result, Vendor};
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};

/// Untyped GraphQL: POST `{query, variables}` to `path`, return `data`.
pub async fn execute_raw(
    t: &Transport,
    path: &str,
    operation: &'static str,
    query: &str,
    variables: Value,
    retry: RetryMode,
) -> Result<Value> {
    let resp = t
        .request(Method::POST, operation, path)
        .json(&json!({"query": query, "variables": variables}))
        .retry(retry)
        .send()
        .await?;
    let mut body: Value = resp.json()?;
    match body.get_mut("data").map(Value::take) {
        Some(Value::Null) | None => Err(Error::decode(format!(
            "GraphQL answer without data: {}",
            labelmux_core::transport::body_snippet(&resp.body)
        ))
        .with_vendor(t.vendor())
        .with_operation(operation)),
        Some(data) => Ok(data),
    }
}

/// Polling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollOptions {
    /// First wait.
    pub interval: Duration,
    /// Largest wait.
    pub max_interval: Duration,
    /// Give up after.
    pub timeout: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(300),
        }
    }
}

impl PollOptions {
    /// Set the first wait.
    pub fn with_interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }
    /// Set the largest wait.
    pub fn with_max_interval(mut self, d: Duration) -> Self {
        self.max_interval = d;
        self
    }
    /// Set the time-out.
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
}

/// One probe's outcome.
pub enum PollStatus<T> {
    /// Finished.
    Done(T),
    /// Not yet, with a progress note.
    Pending(Option<String>),
}

/// Probe until done or timed out (interval ×1.5 up to `max_interval`).
pub async fn poll_until<T, F, Fut>(
    vendor: Vendor,
    operation: &'static str,
    options: PollOptions,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<PollStatus<T>>>,
{
    let start = Instant::now();
    let mut interval = options.interval;
    loop {
        let note = match probe().await? {
            PollStatus::Done(t) => return Ok(t),
            PollStatus::Pending(note) => note,
        };
        if start.elapsed() + interval > options.timeout {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{vendor} job still running after {:?} ({}); wait longer or check its status",
                    options.timeout,
                    note.unwrap_or_else(|| "no progress note".into())
                ),
            )
            .with_vendor(vendor)
            .with_operation(operation));
        }
        tokio::time::sleep(interval).await;
        interval = interval.mul_f64(1.5).min(options.max_interval);
    }
}

/// GET an absolute URL as bytes (buffered here; the core's version streams and resumes).
pub fn resumable_download(
    transport: &Transport,
    operation: &'static str,
    url: &str,
) -> BoxStream<'static, Result<Bytes>> {
    let rb = transport.request_absolute(Method::GET, operation, url);
    stream::once(async move { rb.send().await.map(|r| r.body) }).boxed()
}

/// Split bytes into non-blank lines.
pub fn ndjson_lines(
    bytes: BoxStream<'static, Result<Bytes>>,
    max_line_bytes: usize,
) -> BoxStream<'static, Result<Bytes>> {
    let state = (
        bytes,
        Vec::<u8>::new(),
        std::collections::VecDeque::<Bytes>::new(),
        false,
    );
    stream::unfold(
        state,
        move |(mut src, mut buf, mut ready, mut done)| async move {
            loop {
                if let Some(line) = ready.pop_front() {
                    return Some((Ok(line), (src, buf, ready, done)));
                }
                if done {
                    return None;
                }
                match src.next().await {
                    Some(Ok(chunk)) => {
                        buf.extend_from_slice(&chunk);
                        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                            let mut line: Vec<u8> = buf.drain(..=pos).collect();
                            line.pop();
                            if line.last() == Some(&b'\r') {
                                line.pop();
                            }
                            if !line.iter().all(u8::is_ascii_whitespace) {
                                ready.push_back(Bytes::from(line));
                            }
                        }
                        if buf.len() > max_line_bytes {
                            done = true;
                            return Some((
                                Err(Error::decode(format!(
                                    "a line longer than {max_line_bytes} bytes"
                                ))),
                                (src, buf, ready, done),
                            ));
                        }
                    }
                    Some(Err(e)) => {
                        done = true;
                        return Some((Err(e), (src, buf, ready, done)));
                    }
                    None => {
                        done = true;
                        if !buf.iter().all(u8::is_ascii_whitespace) {
                            ready.push_back(Bytes::from(std::mem::take(&mut buf)));
                        }
                    }
                }
            }
        },
    )
    .boxed()
}
