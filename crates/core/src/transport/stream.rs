//! Streamed response bodies: large downloads that resume where they broke off, and NDJSON split
//! into lines, in bounded memory.

use super::{redact, stall_message, IdleWatch, Method, Response, Transport};
use crate::{Error, ErrorKind, Result, Vendor};
use backon::BackoffBuilder;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::header::HeaderMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A successful response whose body has not been read yet.
pub struct StreamingResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    body: BodySource,
    vendor: Vendor,
    operation: &'static str,
    idle: Duration,
    secret_forms: Arc<[String]>,
}

enum BodySource {
    Live(reqwest::Response),
    Read(Bytes),
}

impl fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("vendor", &self.vendor)
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

impl StreamingResponse {
    pub(crate) fn new(
        resp: reqwest::Response,
        vendor: Vendor,
        operation: &'static str,
        idle: Duration,
        secret_forms: Arc<[String]>,
    ) -> Self {
        StreamingResponse {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: BodySource::Live(resp),
            vendor,
            operation,
            idle,
            secret_forms,
        }
    }

    pub(crate) fn from_full(resp: Response, vendor: Vendor, operation: &'static str) -> Self {
        StreamingResponse {
            status: resp.status,
            headers: resp.headers,
            body: BodySource::Read(resp.body),
            vendor,
            operation,
            idle: Duration::MAX,
            secret_forms: resp.secret_forms,
        }
    }

    /// The body as a stream of chunks, as they arrive. A failure mid-body is an error item
    /// (kind `Transport`, or `Timeout` when no byte came for the read idle timeout, naming the
    /// vendor and the operation), after which the stream ends.
    pub fn into_stream(self) -> BoxStream<'static, Result<Bytes>> {
        let (vendor, operation, idle) = (self.vendor, self.operation, self.idle);
        match self.body {
            BodySource::Read(bytes) => stream::iter([Ok(bytes)]).boxed(),
            BodySource::Live(resp) => {
                let watch = IdleWatch::new(idle);
                stream::unfold(Some((resp, watch)), move |state| async move {
                    let (mut resp, mut watch) = state?;
                    match watch.chunk(resp.chunk()).await {
                        Ok(Ok(Some(chunk))) => {
                            watch.got(chunk.len());
                            Some((Ok(chunk), Some((resp, watch))))
                        }
                        Ok(Ok(None)) => None,
                        Ok(Err(e)) => Some((Err(body_error(vendor, operation, e)), None)),
                        Err(got) => {
                            let e = Error::new(ErrorKind::Timeout, stall_message(idle, got))
                                .with_vendor(vendor)
                                .with_operation(operation);
                            Some((Err(e), None))
                        }
                    }
                })
                .boxed()
            }
        }
    }

    /// The whole body (for the rare caller that wants it after all).
    pub(crate) async fn read_all(self) -> Result<Response> {
        let (status, headers) = (self.status, self.headers.clone());
        let secret_forms = Arc::clone(&self.secret_forms);
        let mut chunks = self.into_stream();
        let mut body = BytesMut::new();
        while let Some(chunk) = chunks.next().await {
            body.extend_from_slice(&chunk?);
        }
        Ok(Response {
            status,
            headers,
            body: body.freeze(),
            secret_forms,
        })
    }
}

/// A failure while a body was being read.
fn body_error(vendor: Vendor, operation: &str, e: reqwest::Error) -> Error {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    let mut msg = format!("the response body broke off: {e}");
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::new(kind, redact::redact_text(&msg))
        .with_vendor(vendor)
        .with_operation(operation)
        .with_source(e)
}

/// State of one resumable download.
struct Download {
    transport: Transport,
    operation: &'static str,
    url: String,
    /// Bytes handed out so far.
    offset: u64,
    /// Bytes still to drop from the current response (a 200 answer to a `Range` request).
    skip: u64,
    /// The full length, once known.
    total: Option<u64>,
    /// The first response's validator, to notice a file that changed between requests.
    etag: Option<String>,
    body: Option<BoxStream<'static, Result<Bytes>>>,
    attempts: u32,
    backoff: backon::ExponentialBackoff,
    finished: bool,
}

/// GET an absolute URL (no credentials) as a byte stream; a failure mid-body re-requests with
/// `Range: bytes=<offset>-` (a 200 answer instead of 206: the first `<offset>` bytes are skipped),
/// each resume counting as one attempt of the transport's retry budget. Never buffers the body.
///
/// The bytes out equal the file exactly: a resumed answer that starts elsewhere than asked, or
/// whose `ETag` differs from the first one (the file changed), ends the stream with a `Decode`
/// error rather than splice two files.
pub fn resumable_download(
    transport: &Transport,
    operation: &'static str,
    url: &str,
) -> BoxStream<'static, Result<Bytes>> {
    let cfg = transport.config();
    let backoff = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(cfg.initial_backoff_ms))
        .with_max_delay(Duration::from_millis(
            cfg.max_backoff_ms.max(cfg.initial_backoff_ms),
        ))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    let state = Download {
        transport: transport.clone(),
        operation,
        url: url.to_owned(),
        offset: 0,
        skip: 0,
        total: None,
        etag: None,
        body: None,
        attempts: 0,
        backoff,
        finished: false,
    };
    stream::unfold(state, |mut d| async move {
        let item = d.next().await?;
        Some((item, d))
    })
    .boxed()
}

impl Download {
    fn fail(&mut self, e: Error) -> Option<Result<Bytes>> {
        self.finished = true;
        self.body = None;
        Some(Err(e))
    }

    fn decode_error(&self, message: String) -> Error {
        Error::decode(message)
            .with_vendor(self.transport.vendor())
            .with_operation(self.operation)
    }

    async fn next(&mut self) -> Option<Result<Bytes>> {
        let max_attempts = self.transport.config().max_attempts;
        loop {
            if self.finished {
                return None;
            }
            let Some(body) = self.body.as_mut() else {
                if let Err(e) = self.open(max_attempts).await {
                    return self.fail(e);
                }
                continue;
            };
            match body.next().await {
                Some(Ok(mut chunk)) => {
                    if self.skip > 0 {
                        let drop = self.skip.min(chunk.len() as u64);
                        self.skip -= drop;
                        chunk = chunk.slice(drop as usize..);
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    self.offset += chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                Some(Err(e)) => {
                    self.body = None;
                    if self.total == Some(self.offset) {
                        // Every byte arrived; only the end of the exchange failed.
                        self.finished = true;
                        return None;
                    }
                    if !e.is_retryable() || self.attempts >= max_attempts {
                        let e = e.exhausted(self.attempts);
                        return self.fail(e);
                    }
                    let delay = self.backoff.next().unwrap_or(Duration::from_secs(1));
                    tracing::debug!(
                        vendor = self.transport.vendor().name(),
                        operation = self.operation,
                        offset = self.offset,
                        attempts = self.attempts,
                        delay_ms = delay.as_millis() as u64,
                        "download broke off; resuming"
                    );
                    tokio::time::sleep(delay).await;
                }
                None => {
                    self.finished = true;
                    if let Some(total) = self.total.filter(|t| *t != self.offset) {
                        let e = self.decode_error(format!(
                            "the download ended after {} of {total} bytes",
                            self.offset
                        ));
                        return self.fail(e);
                    }
                    return None;
                }
            }
        }
    }

    /// (Re-)request the file from the current offset.
    async fn open(&mut self, max_attempts: u32) -> Result<()> {
        let mut request = self
            .transport
            .request_absolute(Method::GET, self.operation, &self.url)
            .header("accept", "*/*")
            .max_attempts(max_attempts.saturating_sub(self.attempts));
        if self.offset > 0 {
            request = request.header("range", format!("bytes={}-", self.offset));
        }
        let (resp, used) = request.send_streaming_counted().await.map_err(|e| {
            // The attempts before this request count too.
            if self.attempts > 0 && e.is_persistent() {
                let used = e.attempts();
                e.exhausted(self.attempts + used)
            } else {
                e
            }
        })?;
        self.attempts += used;
        let etag = header(&resp.headers, "etag");
        if self.offset == 0 {
            self.etag = etag;
        } else if let (Some(first), Some(now)) = (&self.etag, &etag) {
            if first != now {
                return Err(self.decode_error(format!(
                    "the file changed while it was downloaded (ETag {first} became {now})"
                )));
            }
        }
        let length = header(&resp.headers, "content-length").and_then(|v| v.parse::<u64>().ok());
        if resp.status == 206 && self.offset > 0 {
            let range = header(&resp.headers, "content-range");
            let (start, total) = range
                .as_deref()
                .and_then(parse_content_range)
                .unwrap_or((self.offset, None));
            if start > self.offset {
                return Err(self.decode_error(format!(
                    "asked to resume at byte {} but the answer starts at {start}",
                    self.offset
                )));
            }
            if let (Some(before), Some(now)) = (self.total, total) {
                if before != now {
                    return Err(self.decode_error(format!(
                        "the file changed while it was downloaded ({before} bytes became {now})"
                    )));
                }
            }
            self.skip = self.offset - start;
            self.total = self.total.or(total);
        } else {
            // A whole file (a first request, or a server that ignores `Range`).
            self.skip = self.offset;
            if self.total.is_none() && resp.status == 200 {
                self.total = length;
            }
        }
        if self.offset == 0 && resp.status == 206 {
            // Not asked for a range, yet got one: only its total length is meaningful.
            let range = header(&resp.headers, "content-range");
            if let Some((start, total)) = range.as_deref().and_then(parse_content_range) {
                if start != 0 {
                    return Err(self.decode_error(format!(
                        "asked for the whole file but the answer starts at byte {start}"
                    )));
                }
                self.total = total;
            }
        }
        self.body = Some(resp.into_stream());
        Ok(())
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

/// `bytes <start>-<end>/<total or *>` → (start, total).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = total.trim().parse().ok();
    Some((start, total))
}

/// State of [`ndjson_lines`].
struct Lines {
    input: BoxStream<'static, Result<Bytes>>,
    buf: BytesMut,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    max_line_bytes: usize,
    line_number: u64,
    input_ended: bool,
    failed: bool,
}

/// Split a byte stream into lines (`\n`, a trailing `\r` dropped, a last line without newline
/// kept, blank lines skipped); a line longer than `max_line_bytes` is a Decode error.
///
/// Memory is bounded by `max_line_bytes` plus one input chunk. An error of the input is passed
/// on (a partial last line before it is dropped), and the stream ends after any error.
pub fn ndjson_lines(
    bytes: BoxStream<'static, Result<Bytes>>,
    max_line_bytes: usize,
) -> BoxStream<'static, Result<Bytes>> {
    let state = Lines {
        input: bytes,
        buf: BytesMut::new(),
        scanned: 0,
        max_line_bytes,
        line_number: 0,
        input_ended: false,
        failed: false,
    };
    stream::unfold(state, |mut s| async move {
        let item = s.next().await?;
        Some((item, s))
    })
    .boxed()
}

impl Lines {
    async fn next(&mut self) -> Option<Result<Bytes>> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(pos) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + pos;
                let mut line = self.buf.split_to(end + 1).freeze();
                line.truncate(end);
                self.scanned = 0;
                if let Some(item) = self.emit(line) {
                    return Some(item);
                }
                continue;
            }
            self.scanned = self.buf.len();
            // Even with a `\r` to drop, this line is too long: fail before reading more.
            if self.buf.len() > self.max_line_bytes.saturating_add(1) {
                self.line_number += 1;
                return Some(Err(self.too_long()));
            }
            if self.input_ended {
                if self.buf.is_empty() {
                    return None;
                }
                let line = self.buf.split().freeze();
                self.scanned = 0;
                if let Some(item) = self.emit(line) {
                    return Some(item);
                }
                continue;
            }
            match self.input.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                None => self.input_ended = true,
            }
        }
    }

    /// A complete line (without its `\n`): `None` if it is blank.
    fn emit(&mut self, mut line: Bytes) -> Option<Result<Bytes>> {
        self.line_number += 1;
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.max_line_bytes {
            return Some(Err(self.too_long()));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(Ok(line))
    }

    fn too_long(&mut self) -> Error {
        self.failed = true;
        Error::decode(format!(
            "line {} of the NDJSON stream is longer than {} bytes",
            self.line_number, self.max_line_bytes
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(chunks: &[&[u8]], max: usize) -> Vec<std::result::Result<String, String>> {
        let input: Vec<Result<Bytes>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        ndjson_lines(stream::iter(input).boxed(), max)
            .map(|r| {
                r.map(|b| String::from_utf8(b.to_vec()).unwrap())
                    .map_err(|e| e.to_string())
            })
            .collect()
            .await
    }

    fn ok(items: &[&str]) -> Vec<std::result::Result<String, String>> {
        items.iter().map(|s| Ok((*s).to_owned())).collect()
    }

    #[tokio::test]
    async fn lines_split_on_lf_and_crlf_keep_a_last_unterminated_line_and_skip_blanks() {
        let want = ok(&[r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]);
        let cases: &[&[&[u8]]] = &[
            &[b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"],
            &[b"{\"a\":1}\r\n{\"b\":2}\r\n{\"c\":3}"],
            &[b"{\"a\":1}\n\n\r\n  \n{\"b\":2}\n{\"c\":3}\n\n"],
            &[b"{\"a\"", b":1}\r", b"\n{\"b\":2}", b"\n", b"{\"c\":3}"],
            &[b"", b"{\"a\":1}\n", b"", b"{\"b\":2}\n{\"c\":3}", b""],
        ];
        for chunks in cases {
            assert_eq!(lines(chunks, 100).await, want, "{chunks:?}");
        }
        // Byte by byte.
        let text = b"{\"a\":1}\r\n{\"b\":2}\n{\"c\":3}";
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(lines(&bytes, 100).await, want);
        assert_eq!(lines(&[], 10).await, ok(&[]));
        assert_eq!(lines(&[b"\n\r\n"], 10).await, ok(&[]));
    }

    #[tokio::test]
    async fn a_line_longer_than_the_limit_is_a_decode_error_that_ends_the_stream() {
        // Exactly at the limit is fine, also with a CR to drop.
        assert_eq!(
            lines(&[b"12345\r\n123\n12345"], 5).await,
            ok(&["12345", "123", "12345"])
        );
        for chunks in [
            &[&b"ok\n123456\nnext\n"[..]][..],
            &[b"ok\n1234", b"56789", b"0123\nnext\n"],
            &[b"ok\n123456"],
        ] {
            let got = lines(chunks, 5).await;
            assert_eq!(got.len(), 2, "{got:?}");
            assert_eq!(got[0], Ok("ok".to_owned()));
            let err = got[1].clone().unwrap_err();
            assert!(
                err.contains("line 2") && err.contains("longer than 5 bytes"),
                "{err}"
            );
        }
        // An endless line fails without the whole of it being held.
        let endless = stream::repeat_with(|| Ok(Bytes::from_static(&[b'x'; 1024]))).boxed();
        let mut out = ndjson_lines(endless, 4096);
        let err = out.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(out.next().await.is_none());
    }

    #[tokio::test]
    async fn an_input_error_is_passed_on_and_ends_the_stream() {
        let input: Vec<Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"a\nb")),
            Err(Error::new(ErrorKind::Transport, "reset")),
            Ok(Bytes::from_static(b"c\n")),
        ];
        let got: Vec<_> = ndjson_lines(stream::iter(input).boxed(), 10)
            .collect()
            .await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().as_ref(), b"a");
        assert_eq!(got[1].as_ref().unwrap_err().kind(), ErrorKind::Transport);
    }

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 100-199/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range("bytes */1000"), None);
    }
}
