//! The HTTP transport every adapter shares: one place for timeouts, retries with backoff that
//! honour `Retry-After`, client-side rate and concurrency limits, tracing, and redaction.
//! Adapters never retry on their own.

mod auth;
mod body;
pub mod graphql;
mod path;
pub mod redact;
mod settings;
mod stream;

pub use auth::{Auth, ExposeSecret, SecretString};
pub use body::Multipart;
/// The byte buffer of bodies and streams, re-exported so adapters need not depend on `bytes`.
pub use bytes::Bytes;
pub use path::path;
pub use reqwest::Method;
pub use settings::parse_duration;
pub use stream::{ndjson_lines, resumable_download, StreamingResponse};

use crate::{Error, ErrorKind, Result, Vendor};
use backon::BackoffBuilder;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use redact::redact_url;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use tracing::Instrument;
use url::Url;

/// Transport settings. Every field has a default; see `docs/configuration.md`.
///
/// Duration settings take a number in the unit their key names (`timeout_secs = 30`,
/// `initial_backoff_ms = 500`; seconds for the keys without a unit) or a string with a unit
/// (`"30s"`, `"500ms"`, `"2m"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportConfig {
    /// Timeout of one HTTP attempt, in seconds (for a streamed body: until its head arrives).
    /// Above 0, at most 3600.
    #[serde(deserialize_with = "settings::secs")]
    pub timeout_secs: f64,
    /// Deadline of one operation across all its retries, in seconds. Above 0, at most 86400.
    #[serde(deserialize_with = "settings::secs")]
    pub deadline_secs: f64,
    /// Attempts in total (first try included), 1 to 100. 1 disables retries. An attempt that
    /// timed out is retried once at most, whatever this says.
    pub max_attempts: u32,
    /// First backoff delay, in milliseconds (at most 600000); doubles each retry.
    #[serde(deserialize_with = "settings::millis")]
    pub initial_backoff_ms: u64,
    /// Largest backoff delay, in milliseconds (at most 600000).
    #[serde(deserialize_with = "settings::millis")]
    pub max_backoff_ms: u64,
    /// Longest `Retry-After` honoured, in seconds (0 to 3600); a longer one ends the retries.
    #[serde(deserialize_with = "settings::secs")]
    pub max_retry_after_secs: f64,
    /// Client-side limit of requests per second, 1 to 10000 (none by default).
    pub rate_limit_per_second: Option<u32>,
    /// Most requests in flight at once (also the parallelism of bulk operations), 1 to 1024.
    pub concurrency: usize,
    /// Allow plain `http://` to hosts other than loopback. Off by default: keys would travel
    /// in clear text.
    pub allow_insecure_http: bool,
    /// Longest wait for a connection to be established (above 0, at most 10 minutes).
    #[serde(with = "settings::duration")]
    pub connect_timeout: Duration,
    /// A response body that delivers less than [`MIN_BYTES_PER_IDLE_PERIOD`] in this long (or
    /// nothing at all) ends the attempt (a `Timeout`): a server that stalls or trickles its body
    /// is cut off after it, buffered or streamed. The one bound on streamed bodies, which may
    /// otherwise take as long as they need. Above 0, at most an hour.
    #[serde(with = "settings::duration")]
    pub read_idle_timeout: Duration,
    /// Largest response body read into memory, in bytes (1 KiB to 4 GiB); a larger one is a
    /// `Decode` error that names this setting, raised while reading (never after buffering it).
    /// Streamed bodies are not limited.
    pub max_response_bytes: u64,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            timeout_secs: 30.0,
            deadline_secs: 300.0,
            max_attempts: 5,
            initial_backoff_ms: 1000,
            max_backoff_ms: 30_000,
            max_retry_after_secs: 120.0,
            rate_limit_per_second: None,
            concurrency: 32,
            allow_insecure_http: false,
            connect_timeout: Duration::from_secs(10),
            read_idle_timeout: Duration::from_secs(20),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Default of [`TransportConfig::max_response_bytes`]: 64 MiB, far above any page of JSON the
/// vendors send (exports, which can be larger, are streamed).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// What a response body must deliver within every [`TransportConfig::read_idle_timeout`]
/// (unless it ends first): 1 KiB, so a server trickling a byte at a time is cut off as surely
/// as one that went silent, while any real network is hundreds of times faster.
pub const MIN_BYTES_PER_IDLE_PERIOD: u64 = 1024;

/// Client-side timeouts (no answer within the attempt, or a stalled body) retried in one
/// operation: one. A server that let two attempts time out is not answering; each further
/// attempt would cost a whole timeout more (see `docs/errors.md`).
const TIMEOUT_RETRIES: u32 = 1;

/// Largest number of seconds any duration setting may hold (a year): also keeps `Instant`
/// arithmetic from overflowing on a caller's own deadline.
const MAX_CONFIG_SECS: f64 = 365.0 * 24.0 * 3600.0;

/// The documented range of every numeric setting: a value outside it could hang a command
/// (a million attempts, a year-long timeout) or exhaust memory, so it is refused.
mod limits {
    pub const TIMEOUT_SECS: f64 = 3600.0;
    pub const DEADLINE_SECS: f64 = 86_400.0;
    pub const MAX_ATTEMPTS: u32 = 100;
    pub const BACKOFF_MS: u64 = 600_000;
    pub const RETRY_AFTER_SECS: f64 = 3600.0;
    pub const RATE_PER_SECOND: u32 = 10_000;
    pub const CONCURRENCY: usize = 1024;
    pub const CONNECT_TIMEOUT_SECS: f64 = 600.0;
    pub const READ_IDLE_SECS: f64 = 3600.0;
    pub const MIN_RESPONSE_BYTES: u64 = 1024;
    pub const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
}

impl TransportConfig {
    /// Settings for tests against a local emulator: short timeouts and backoffs.
    pub fn fast_for_tests() -> Self {
        TransportConfig {
            timeout_secs: 10.0,
            deadline_secs: 120.0,
            max_attempts: 8,
            initial_backoff_ms: 5,
            max_backoff_ms: 100,
            max_retry_after_secs: 5.0,
            ..TransportConfig::default()
        }
    }

    /// Check every setting against its documented range (`docs/configuration.md`); an error
    /// names the key, its range and the value given.
    pub fn validate(&self) -> Result<()> {
        use limits::*;
        let bad = |field: &str, range: &str, value: String| {
            Err(Error::config(format!(
                "transport.{field} must be {range}, got {value}"
            )))
        };
        let secs = |field: &str, v: f64, max: f64| {
            if v > 0.0 && v <= max {
                Ok(())
            } else {
                bad(
                    field,
                    &format!("above 0 and at most {max} seconds"),
                    format!("{v}"),
                )
            }
        };
        secs("timeout_secs", self.timeout_secs, TIMEOUT_SECS)?;
        secs("deadline_secs", self.deadline_secs, DEADLINE_SECS)?;
        secs(
            "connect_timeout",
            self.connect_timeout.as_secs_f64(),
            CONNECT_TIMEOUT_SECS,
        )?;
        secs(
            "read_idle_timeout",
            self.read_idle_timeout.as_secs_f64(),
            READ_IDLE_SECS,
        )?;
        if !(self.max_retry_after_secs >= 0.0 && self.max_retry_after_secs <= RETRY_AFTER_SECS) {
            return bad(
                "max_retry_after_secs",
                &format!("from 0 to {RETRY_AFTER_SECS} seconds"),
                format!("{}", self.max_retry_after_secs),
            );
        }
        for (field, ms) in [
            ("initial_backoff_ms", self.initial_backoff_ms),
            ("max_backoff_ms", self.max_backoff_ms),
        ] {
            if ms > BACKOFF_MS {
                return bad(field, &format!("at most {BACKOFF_MS} ms"), ms.to_string());
            }
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return bad(
                "max_attempts",
                &format!("from 1 to {MAX_ATTEMPTS}"),
                self.max_attempts.to_string(),
            );
        }
        if !(1..=CONCURRENCY).contains(&self.concurrency) {
            return bad(
                "concurrency",
                &format!("from 1 to {CONCURRENCY}"),
                self.concurrency.to_string(),
            );
        }
        if let Some(rate) = self.rate_limit_per_second {
            if !(1..=RATE_PER_SECOND).contains(&rate) {
                return bad(
                    "rate_limit_per_second",
                    &format!("from 1 to {RATE_PER_SECOND} (omit it for no limit)"),
                    rate.to_string(),
                );
            }
        }
        if !(MIN_RESPONSE_BYTES..=MAX_RESPONSE_BYTES).contains(&self.max_response_bytes) {
            return bad(
                "max_response_bytes",
                &format!("from {MIN_RESPONSE_BYTES} to {MAX_RESPONSE_BYTES}"),
                self.max_response_bytes.to_string(),
            );
        }
        Ok(())
    }
}

/// What a vendor's error body says, as decoded by the adapter's classifier.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VendorError {
    /// A kind that overrides the one given by the status code.
    pub kind: Option<ErrorKind>,
    /// The vendor's message.
    pub message: String,
    /// The vendor's error code or type.
    pub code: Option<String>,
    /// How long the vendor asked us to wait, when it says so in the body (e.g. Segments'
    /// "Expected available in 3 seconds"). Honoured like a `Retry-After` header, which it
    /// overrides.
    pub retry_after: Option<Duration>,
}

/// Turns an error response (status, body) into a [`VendorError`]. Each adapter has one and
/// table-tests it.
pub type ErrorClassifier = fn(u16, &[u8]) -> VendorError;

/// Inspects a 2xx response (status, body) for a failure the vendor signals inside it (GraphQL
/// `errors[]` in a 200, Segments' "throttled" detail). `Some` makes the attempt fail exactly as
/// an error status would: the kind comes from [`VendorError::kind`] (else
/// [`ErrorKind::InvalidRequest`]); [`ErrorKind::TooManyRequests`] counts as "not processed"
/// (resent even under [`RetryMode::OnlyIfNotProcessed`]) and its `retry_after` is honoured.
/// Runs for [`RequestBuilder::send`] and [`RequestBuilder::send_json`], not for streamed bodies.
pub type SuccessCheck = fn(status: u16, body: &[u8]) -> Option<VendorError>;

/// The fallback classifier: the status code decides, the body (trimmed) is the message.
pub fn default_classifier(_status: u16, body: &[u8]) -> VendorError {
    VendorError {
        kind: None,
        message: body_snippet(body),
        code: None,
        retry_after: None,
    }
}

/// The first 300 characters of a body, for messages.
pub fn body_snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    redact::redact_text(&s)
}

/// When a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    /// Safe to resend on any temporary failure (GET, PUT, or a POST the adapter knows to be
    /// idempotent, e.g. one carrying an idempotency key).
    Idempotent,
    /// Resend only when the vendor surely did not act: 429 and failures to connect.
    OnlyIfNotProcessed,
    /// Never resend.
    Never,
}

struct Inner {
    vendor: Vendor,
    base_url: Url,
    auth: Auth,
    /// Every wire form of the key, blanked from any text a server sends back.
    secret_forms: Arc<[String]>,
    config: TransportConfig,
    client: reqwest::Client,
    classifier: ErrorClassifier,
    limiter: Option<DefaultDirectRateLimiter>,
    in_flight: Arc<Semaphore>,
}

/// A shareable, cheaply clonable HTTP transport for one vendor.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
    /// Per handle, so that one vendor's transports may check bodies differently (cheap: a `fn`).
    success_check: Option<SuccessCheck>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("vendor", &self.inner.vendor)
            .field("base_url", &redact_url(&self.inner.base_url))
            .field("auth", &self.inner.auth)
            .field("config", &self.inner.config)
            .field("success_check", &self.success_check.is_some())
            .finish()
    }
}

/// Whether a URL may be used: `https`, or `http` to a loopback host, or `http` anywhere when
/// the user allowed it.
pub fn check_url_scheme(url: &Url, allow_insecure_http: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(Error::config(format!(
            "refusing plain http to {}: API keys would travel in clear text; use https, or set transport.allow_insecure_http = true",
            url.host_str().unwrap_or("?")
        ))),
        other => Err(Error::config(format!(
            "unsupported URL scheme {other:?} in {}; use https",
            redact_url(url)
        ))),
    }
}

/// A base URL as configured, checked: a URL, `https` (or `http` as [`check_url_scheme`]
/// allows). Errors are `Config` errors naming `vendor`, with the URL redacted
/// ([`redact::redact_url_str`]) and every one of `secret_forms` (the key's wire forms, see
/// [`redact::secret_forms`]) blanked, should the user have pasted the key somewhere no pattern
/// finds.
pub fn parse_base_url(
    vendor: Vendor,
    text: &str,
    allow_insecure_http: bool,
    secret_forms: &[String],
) -> Result<Url> {
    let scrub =
        |e: Error| Error::config(redact::scrub_text(e.message(), secret_forms)).with_vendor(vendor);
    let url = Url::parse(text)
        .map_err(|e| {
            Error::config(format!(
                "{vendor} base URL {:?} is not a URL: {e}",
                redact::redact_url_str(text)
            ))
        })
        .map_err(scrub)?;
    check_url_scheme(&url, allow_insecure_http).map_err(scrub)?;
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

impl Transport {
    /// Build a transport for `vendor` at `base_url`.
    pub fn new(
        vendor: Vendor,
        base_url: &str,
        auth: Auth,
        config: TransportConfig,
        classifier: ErrorClassifier,
    ) -> Result<Transport> {
        config.validate()?;
        let secret_forms: Arc<[String]> = auth
            .secret()
            .map(redact::secret_forms)
            .unwrap_or_default()
            .into();
        let mut base_url =
            parse_base_url(vendor, base_url, config.allow_insecure_http, &secret_forms)?;
        // Joining relative paths needs a trailing slash on the base.
        if !base_url.path().ends_with('/') {
            let p = format!("{}/", base_url.path());
            base_url.set_path(&p);
        }
        // No client-wide total timeout: buffered requests set one per attempt, and streamed
        // bodies must not be cut off after it.
        let same_host_only = reqwest::redirect::Policy::custom(|attempt| {
            // Follow a redirect only to the host the request went to: the key (a header, or
            // Sama's query parameter) must never reach another host.
            let first = attempt.previous().first().map(|u| {
                (
                    u.scheme().to_owned(),
                    u.host_str().map(str::to_owned),
                    u.port_or_known_default(),
                )
            });
            let next = (
                attempt.url().scheme().to_owned(),
                attempt.url().host_str().map(str::to_owned),
                attempt.url().port_or_known_default(),
            );
            if attempt.previous().len() > 5 {
                attempt.error("too many redirects")
            } else if first.as_ref() != Some(&next) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            // Never send a Referer: it would carry the previous URL (and Sama's key).
            .referer(false)
            .redirect(same_host_only)
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(config.concurrency.max(8))
            .user_agent(concat!("labelmux/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::config(format!("cannot build HTTP client: {e}")))?;
        let limiter = config
            .rate_limit_per_second
            .and_then(NonZeroU32::new)
            // No burst: requests are spaced 1/n s apart, so no 1-second window ever holds more
            // than n (+1) requests. governor's default burst of n would allow 2n in the first second.
            .map(|n| RateLimiter::direct(Quota::per_second(n).allow_burst(NonZeroU32::MIN)));
        Ok(Transport {
            inner: Arc::new(Inner {
                secret_forms,
                vendor,
                base_url,
                auth,
                in_flight: Arc::new(Semaphore::new(config.concurrency)),
                config,
                client,
                classifier,
                limiter,
            }),
            success_check: None,
        })
    }

    /// This transport (sharing its connections and limits) with `check` run on every
    /// successful, fully read response; see [`SuccessCheck`].
    pub fn with_success_check(mut self, check: SuccessCheck) -> Transport {
        self.success_check = Some(check);
        self
    }

    /// The vendor this transport talks to.
    pub fn vendor(&self) -> Vendor {
        self.inner.vendor
    }

    /// The base URL (with a trailing slash). May contain no secrets.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The settings in force.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// Start a request to `path`, relative to the base URL (a leading `/` is ignored). Build
    /// paths from ids with [`path`]; a path with an empty interior segment or a `.`/`..` segment
    /// is refused (a validation error when sent).
    pub fn request(&self, method: Method, operation: &'static str, path: &str) -> RequestBuilder {
        let relative = path.trim_start_matches('/');
        let url = match path::path_problem(relative) {
            Some(why) => Err(Error::validation(format!("bad path {path:?}: {why}"))),
            None => self
                .inner
                .base_url
                .join(relative)
                .map_err(|e| Error::validation(format!("bad path {path:?}: {e}"))),
        };
        RequestBuilder::new(self.clone(), method, operation, url, true)
    }

    /// Start a request to an absolute URL the vendor handed out (e.g. a pre-signed upload URL).
    /// No credentials are attached.
    pub fn request_absolute(
        &self,
        method: Method,
        operation: &'static str,
        url: &str,
    ) -> RequestBuilder {
        let url = Url::parse(url)
            .map_err(|e| Error::decode(format!("vendor sent an invalid URL: {e}")))
            .and_then(|u| check_url_scheme(&u, self.inner.config.allow_insecure_http).map(|_| u));
        RequestBuilder::new(self.clone(), method, operation, url, false)
    }
}

/// The body of a request, kept so that it can be sent again on retry.
#[derive(Debug, Clone)]
enum Body {
    Empty,
    Bytes {
        bytes: Bytes,
        content_type: &'static str,
    },
    /// Streamed from a file on every attempt, so large uploads use no memory.
    File {
        path: PathBuf,
        content_type: &'static str,
    },
    /// Rebuilt on every attempt (files re-opened).
    Multipart(Multipart),
}

/// A request being built; [`RequestBuilder::send`] runs it with retries.
pub struct RequestBuilder {
    transport: Transport,
    method: Method,
    operation: &'static str,
    url: Result<Url>,
    with_auth: bool,
    query: Vec<(String, String)>,
    headers: Vec<(&'static str, String)>,
    body: Result<Body>,
    gzip: bool,
    retry: RetryMode,
    max_attempts: Option<u32>,
    until_deadline: bool,
    timeout: Option<Duration>,
    deadline: Option<Duration>,
}

impl RequestBuilder {
    fn new(
        transport: Transport,
        method: Method,
        operation: &'static str,
        url: Result<Url>,
        with_auth: bool,
    ) -> Self {
        let retry = if method == Method::POST || method == Method::PATCH {
            RetryMode::OnlyIfNotProcessed
        } else {
            RetryMode::Idempotent
        };
        RequestBuilder {
            transport,
            method,
            operation,
            url,
            with_auth,
            query: Vec::new(),
            headers: Vec::new(),
            body: Ok(Body::Empty),
            gzip: false,
            retry,
            max_attempts: None,
            until_deadline: false,
            timeout: None,
            deadline: None,
        }
    }

    /// Add a query parameter.
    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    /// Add a query parameter if it has a value (unset parameters are omitted, never empty).
    pub fn query_opt(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Add a header (must not be a secret: secrets come from [`Auth`]).
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Send `value` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value)
            .map(|v| Body::Bytes {
                bytes: Bytes::from(v),
                content_type: "application/json",
            })
            .map_err(|e| Error::validation(format!("cannot encode request body: {e}")));
        self
    }

    /// Send an empty body with `Content-Type: application/json` (Sama's bodiless POSTs).
    pub fn empty_json(mut self) -> Self {
        self.body = Ok(Body::Bytes {
            bytes: Bytes::new(),
            content_type: "application/json",
        });
        self
    }

    /// Send raw bytes.
    pub fn bytes(mut self, bytes: impl Into<Bytes>, content_type: &'static str) -> Self {
        self.body = Ok(Body::Bytes {
            bytes: bytes.into(),
            content_type,
        });
        self
    }

    /// Stream the body from a file (re-read on every attempt).
    pub fn file(mut self, path: impl Into<PathBuf>, content_type: &'static str) -> Self {
        self.body = Ok(Body::File {
            path: path.into(),
            content_type,
        });
        self
    }

    /// Send a `multipart/form-data` form, rebuilt on every attempt (a file part is re-read).
    pub fn multipart(mut self, form: Multipart) -> Self {
        self.body = match form.invalid_content_type() {
            Some(ct) => Err(Error::validation(format!(
                "{ct:?} is not a valid content type for a multipart part"
            ))),
            None => Ok(Body::Multipart(form)),
        };
        self
    }

    /// Compress the body (JSON or bytes) with gzip, once, and send it with
    /// `Content-Encoding: gzip` (Segments' sample and label writes). Order with
    /// [`json`](Self::json)/[`bytes`](Self::bytes) does not matter; a file or multipart body
    /// cannot be compressed (a validation error when sent).
    pub fn gzip(mut self) -> Self {
        self.gzip = true;
        self
    }

    /// Choose when this request may be resent.
    pub fn retry(mut self, mode: RetryMode) -> Self {
        self.retry = mode;
        self
    }

    /// Resend (as [`RequestBuilder::retry`] allows) until the operation deadline, however many
    /// attempts that takes: `max_attempts` does not apply. For requests whose loss costs more
    /// than waiting, e.g. a task create that is safe to resend (Scale's `unique_id`): a
    /// transient fault then never costs the task.
    pub fn retry_until_deadline(mut self) -> Self {
        self.until_deadline = true;
        self
    }

    /// Override the per-attempt timeout (e.g. for a large upload).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Override the operation deadline (all attempts together) for this request, e.g. for an
    /// upload whose size makes the configured deadline too short.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Send and decode a JSON body; an empty 2xx body is a decode error.
    pub async fn send_json<T: DeserializeOwned>(self) -> Result<T> {
        let op = self.operation;
        let t = self.transport.clone();
        let resp = self.send().await?;
        resp.json()
            .map_err(|e| e.with_vendor(t.vendor()).with_operation(op))
    }

    /// Send with retries; returns the successful response or the classified error.
    pub async fn send(self) -> Result<Response> {
        match self.run(false).await?.0 {
            Outcome::Full(resp) => Ok(resp),
            // `run(false)` reads every body.
            Outcome::Streaming(resp) => resp.read_all().await,
        }
    }

    /// Send with retries until the response head arrives, and return the body as a stream
    /// (never buffered). The success check does not run; a failure while the body is read is
    /// not retried (see [`resumable_download`] for downloads that resume). The per-attempt
    /// timeout covers the wait for the head; reading the body is bounded only by the read idle
    /// timeout, so a large body may take as long as it needs. The concurrency permit is held
    /// until the head arrives, so a slowly consumed body never blocks other requests.
    pub async fn send_streaming(self) -> Result<StreamingResponse> {
        Ok(self.send_streaming_counted().await?.0)
    }

    /// [`send_streaming`](Self::send_streaming), also telling how many attempts it took.
    pub(crate) async fn send_streaming_counted(self) -> Result<(StreamingResponse, u32)> {
        let (vendor, op) = (self.transport.vendor(), self.operation);
        match self.run(true).await? {
            (Outcome::Streaming(resp), n) => Ok((resp, n)),
            // `run(true)` streams every 2xx body; this only keeps the types honest.
            (Outcome::Full(resp), n) => Ok((StreamingResponse::from_full(resp, vendor, op), n)),
        }
    }

    /// Use at most `attempts` attempts (instead of the configured number) for this request.
    pub(crate) fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// The retry loop: attempts until success, a failure not safe or not worth retrying, or
    /// the end of the attempts or of the deadline. Returns the outcome and the attempts made.
    async fn run(mut self, streaming: bool) -> Result<(Outcome, u32)> {
        let inner = Arc::clone(&self.transport.inner);
        let op = self.operation;
        let mut url = std::mem::replace(&mut self.url, Err(Error::validation("taken")))
            .map_err(|e| e.with_vendor(inner.vendor).with_operation(op))?;
        let mut body = std::mem::replace(&mut self.body, Ok(Body::Empty))
            .map_err(|e| e.with_vendor(inner.vendor).with_operation(op))?;
        if self.gzip {
            body = self
                .compress(body)
                .map_err(|e| e.with_vendor(inner.vendor).with_operation(op))?;
        }
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &self.query {
                pairs.append_pair(k, v);
            }
            if self.with_auth {
                if let Some((name, key)) = inner.auth.query_param() {
                    pairs.append_pair(name, key);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let shown_url = redact_url(&url);
        let cfg = &inner.config;
        let started = Instant::now();
        let budget = self
            .deadline
            .unwrap_or(Duration::from_secs_f64(cfg.deadline_secs));
        // A caller's huge deadline must not overflow `Instant` (a panic): a year is forever here.
        let deadline = started
            .checked_add(budget)
            .or_else(|| started.checked_add(Duration::from_secs_f64(MAX_CONFIG_SECS)))
            .unwrap_or(started);
        // The schedule after a failure the server answered (5xx, 429, a timeout): exponential,
        // jittered, honouring Retry-After.
        let mut backoff = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(cfg.initial_backoff_ms))
            .with_max_delay(Duration::from_millis(
                cfg.max_backoff_ms.max(cfg.initial_backoff_ms),
            ))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build();
        // The attempts allowed; without a limit the deadline alone ends the retries.
        let max_attempts = if self.until_deadline {
            u32::MAX
        } else {
            self.max_attempts.unwrap_or(cfg.max_attempts)
        };
        // Connections dropped in a row (see `reconnect_delay`).
        let mut drops_in_a_row: u32 = 0;
        let mut attempt: u32 = 0;
        let mut timeouts: u32 = 0;
        loop {
            attempt += 1;
            let span = tracing::debug_span!(
                "labelmux.http",
                vendor = inner.vendor.name(),
                operation = op,
                method = %self.method,
                url = %shown_url,
                attempt,
            );
            let outcome = self
                .attempt(&inner, &url, &body, deadline, streaming)
                .instrument(span.clone())
                .await;
            let err = match outcome {
                Ok(resp) => {
                    span.in_scope(|| {
                        tracing::debug!(
                            status = resp.status(),
                            latency_ms = started.elapsed().as_millis() as u64,
                            "ok"
                        )
                    });
                    return Ok((resp, attempt));
                }
                Err(AttemptError {
                    error,
                    processed,
                    timed_out,
                }) => {
                    span.in_scope(|| tracing::debug!(status = ?error.status(), kind = %error.kind(), "attempt failed"));
                    timeouts += u32::from(timed_out);
                    (error, processed)
                }
            };
            let (error, maybe_processed) = err;
            if timeouts > TIMEOUT_RETRIES {
                return Err(error.exhausted(attempt));
            }
            let may_retry = error.is_retryable()
                && match self.retry {
                    RetryMode::Idempotent => true,
                    RetryMode::OnlyIfNotProcessed => !maybe_processed,
                    RetryMode::Never => false,
                };
            if !may_retry {
                return Err(if attempt > 1 {
                    error.exhausted(attempt)
                } else {
                    error
                });
            }
            if attempt >= max_attempts {
                return Err(error.exhausted(attempt));
            }
            // A connection that broke after the request went out (reset, closed before the
            // answer, cut mid-body) says nothing about the server's load: a fresh connection is
            // tried after a short pause of its own schedule, not after the full backoff (which
            // made 20,000 creates over a flaky proxy take minutes instead of seconds).
            let dropped =
                maybe_processed && error.kind() == ErrorKind::Transport && error.status().is_none();
            let mut delay = if dropped {
                drops_in_a_row += 1;
                reconnect_delay(
                    drops_in_a_row,
                    Duration::from_millis(cfg.initial_backoff_ms),
                )
            } else {
                drops_in_a_row = 0;
                match backoff.next() {
                    Some(d) => d,
                    None => return Err(error.exhausted(attempt)),
                }
            };
            if let Some(after) = error.retry_after() {
                if after.as_secs_f64() > cfg.max_retry_after_secs {
                    return Err(error.exhausted(attempt));
                }
                delay = delay.max(after);
            }
            if Instant::now() + delay >= deadline {
                return Err(error.exhausted(attempt));
            }
            tracing::debug!(
                vendor = inner.vendor.name(),
                operation = op,
                attempt,
                delay_ms = delay.as_millis() as u64,
                kind = error.kind().label(),
                error = %error,
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// The body gzipped (once for all attempts), with its `Content-Encoding` header.
    fn compress(&mut self, body: Body) -> Result<Body> {
        match body {
            Body::Empty => Ok(Body::Empty),
            Body::Bytes {
                bytes,
                content_type,
            } => {
                self.headers.push(("content-encoding", "gzip".into()));
                Ok(Body::Bytes {
                    bytes: body::gzip(&bytes)?,
                    content_type,
                })
            }
            Body::File { .. } | Body::Multipart(_) => Err(Error::validation(
                "gzip applies to JSON or bytes bodies, not to files or multipart forms",
            )),
        }
    }

    async fn attempt(
        &self,
        inner: &Inner,
        url: &Url,
        body: &Body,
        deadline: Instant,
        streaming: bool,
    ) -> std::result::Result<Outcome, AttemptError> {
        let op = self.operation;
        let mk = |kind, msg: String| inner_error(inner, kind, op, msg);
        if let Some(limiter) = &inner.limiter {
            limiter.until_ready().await;
        }
        let _permit = inner.in_flight.acquire().await.map_err(|_| {
            AttemptError::not_processed(mk(ErrorKind::Transport, "transport closed".into()))
        })?;
        let mut req = inner.client.request(self.method.clone(), url.clone());
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            req = req.header(reqwest::header::ACCEPT, "application/json");
        }
        if self.with_auth {
            if let Some(value) = inner.auth.header_value() {
                let mut v = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                    AttemptError::not_processed(mk(
                        ErrorKind::Config,
                        "API key contains characters not allowed in a header".into(),
                    ))
                })?;
                v.set_sensitive(true);
                req = req.header(reqwest::header::AUTHORIZATION, v);
            }
        }
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        req = match body {
            Body::Empty => req,
            Body::Bytes {
                bytes,
                content_type,
            } => req
                .header(reqwest::header::CONTENT_TYPE, *content_type)
                .body(bytes.clone()),
            Body::File { path, content_type } => {
                let (stream, len) = body::open_file_body(path)
                    .await
                    .map_err(|e| AttemptError::not_processed(file_error(inner, op, e)))?;
                req.header(reqwest::header::CONTENT_TYPE, *content_type)
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(stream)
            }
            Body::Multipart(form) => {
                let form = form
                    .to_form()
                    .await
                    .map_err(|e| AttemptError::not_processed(file_error(inner, op, e)))?;
                req.multipart(form)
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(AttemptError::not_processed(mk(
                ErrorKind::Timeout,
                "operation deadline passed".into(),
            )));
        }
        let per_attempt = self
            .timeout
            .unwrap_or(Duration::from_secs_f64(inner.config.timeout_secs))
            .min(remaining);
        let resp = if streaming {
            // Only the head is bounded: the body may take as long as it needs.
            match tokio::time::timeout(per_attempt, req.send()).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(AttemptError::from_reqwest(inner, op, e)),
                Err(_) => {
                    return Err(AttemptError {
                        error: mk(
                            ErrorKind::Timeout,
                            format!("no response within {:.1} s", per_attempt.as_secs_f64()),
                        ),
                        processed: true,
                        timed_out: true,
                    })
                }
            }
        } else {
            match req.timeout(per_attempt).send().await {
                Ok(r) => r,
                Err(e) => return Err(AttemptError::from_reqwest(inner, op, e)),
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if streaming && (200..300).contains(&status) {
            return Ok(Outcome::Streaming(StreamingResponse::new(
                resp,
                inner.vendor,
                op,
                inner.config.read_idle_timeout,
                Arc::clone(&inner.secret_forms),
            )));
        }
        let read = async {
            let idle = inner.config.read_idle_timeout;
            let limit = inner.config.max_response_bytes;
            match read_limited(resp, idle, limit).await {
                Ok(b) => Ok(b),
                Err(ReadFailure::Http(e)) => {
                    let mut a = AttemptError::from_reqwest(inner, op, e);
                    a.processed = true;
                    Err(a)
                }
                Err(ReadFailure::Idle(got)) => Err(AttemptError {
                    error: mk(ErrorKind::Timeout, stall_message(idle, got)).with_status(status),
                    processed: true,
                    timed_out: true,
                }),
                Err(ReadFailure::TooLarge(size)) => Err(AttemptError {
                    error: mk(
                        ErrorKind::Decode,
                        format!(
                            "the response is larger than transport.max_response_bytes ({limit} bytes{}); raise it if such answers are expected",
                            size.map(|n| format!(", it has {n}")).unwrap_or_default()
                        ),
                    )
                    .with_status(status),
                    processed: true,
                    timed_out: false,
                }),
            }
        };
        let body = if streaming {
            // An error body of a streamed request is read within the attempt's time.
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(per_attempt.min(remaining), read).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(AttemptError {
                        error: mk(ErrorKind::Timeout, "error body not read in time".into())
                            .with_status(status),
                        processed: true,
                        timed_out: true,
                    })
                }
            }
        } else {
            read.await?
        };
        if (200..300).contains(&status) {
            if let Some(info) = self.transport.success_check.and_then(|c| c(status, &body)) {
                return Err(vendor_failure(inner, op, status, &headers, info));
            }
            return Ok(Outcome::Full(Response {
                secret_forms: Arc::clone(&inner.secret_forms),
                status,
                headers,
                body,
            }));
        }
        let info = (inner.classifier)(status, &body);
        Err(vendor_failure(inner, op, status, &headers, info))
    }
}

/// First pause after a dropped connection; it doubles with each drop in a row.
const RECONNECT_FIRST_DELAY: Duration = Duration::from_millis(20);

/// The pause before the `n`-th attempt in a row after a dropped connection (`n` ≥ 1): 20 ms,
/// doubling, never more than `cap` (the configured first backoff), jittered to between half and
/// all of it so that many requests cut at once do not reconnect in step. A server that keeps
/// dropping connections still meets the attempt limit and the deadline.
fn reconnect_delay(n: u32, cap: Duration) -> Duration {
    let full = RECONNECT_FIRST_DELAY
        .saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(cap.max(RECONNECT_FIRST_DELAY));
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

#[cfg(test)]
mod reconnect_tests {
    use super::*;

    #[test]
    fn reconnects_start_short_double_and_stop_at_the_first_backoff() {
        let cap = Duration::from_secs(1);
        for (n, full_ms) in [(1, 20), (2, 40), (3, 80), (6, 640), (7, 1000), (40, 1000)] {
            for _ in 0..50 {
                let d = reconnect_delay(n, cap);
                let full = Duration::from_millis(full_ms);
                assert!(
                    d >= full / 2 && d <= full,
                    "drop {n}: {d:?} not within {full:?}"
                );
            }
        }
        // A first backoff under 20 ms still leaves 10-20 ms between reconnects.
        let d = reconnect_delay(3, Duration::from_millis(5));
        assert!(
            d <= RECONNECT_FIRST_DELAY && d >= RECONNECT_FIRST_DELAY / 2,
            "{d:?}"
        );
    }
}

/// Why a response body could not be read into memory.
enum ReadFailure {
    Http(reqwest::Error),
    /// Less than [`MIN_BYTES_PER_IDLE_PERIOD`] arrived within the read idle timeout (this many).
    Idle(u64),
    /// Over the limit (the announced length, when there was one).
    TooLarge(Option<u64>),
}

/// The read-idle rule of [`TransportConfig::read_idle_timeout`]: within every period of `idle`,
/// the body must deliver [`MIN_BYTES_PER_IDLE_PERIOD`] bytes (or end). A period starts when the
/// previous one was satisfied, so a body that goes silent is cut off `idle` after its last
/// kilobyte, and one trickled byte by byte `idle` after its period began.
pub(crate) struct IdleWatch {
    idle: Duration,
    since: tokio::time::Instant,
    bytes: u64,
}

impl IdleWatch {
    pub(crate) fn new(idle: Duration) -> Self {
        IdleWatch {
            idle,
            since: tokio::time::Instant::now(),
            bytes: 0,
        }
    }

    /// The next chunk of `body`, or the stall (with the bytes of the period) if the period runs
    /// out first.
    pub(crate) async fn chunk<F, T>(&mut self, next: F) -> std::result::Result<T, u64>
    where
        F: std::future::Future<Output = T>,
    {
        // A period that cannot be represented (`Duration::MAX`) never ends.
        match self.since.checked_add(self.idle) {
            Some(end) => tokio::time::timeout_at(end, next)
                .await
                .map_err(|_| self.bytes),
            None => Ok(next.await),
        }
    }

    /// Count `n` bytes received; a period that got its due starts the next one.
    pub(crate) fn got(&mut self, n: usize) {
        self.bytes += n as u64;
        if self.bytes >= MIN_BYTES_PER_IDLE_PERIOD {
            self.since = tokio::time::Instant::now();
            self.bytes = 0;
        }
    }
}

/// The message of a body that stalled or trickled (`got` bytes in the last period).
pub(crate) fn stall_message(idle: Duration, got: u64) -> String {
    let idle = humantime::format_duration(idle);
    if got == 0 {
        format!("no data for {idle} while reading the response (transport.read_idle_timeout)")
    } else {
        format!(
            "the response trickled: {got} bytes in {idle}, less than {MIN_BYTES_PER_IDLE_PERIOD} (transport.read_idle_timeout)"
        )
    }
}

/// Read a whole body, failing when it stalls (see [`IdleWatch`]) or when it exceeds `limit`
/// (checked as bytes arrive, so memory never holds more than `limit`).
async fn read_limited(
    mut resp: reqwest::Response,
    idle: Duration,
    limit: u64,
) -> std::result::Result<Bytes, ReadFailure> {
    let announced = resp.content_length();
    if announced.is_some_and(|n| n > limit) {
        return Err(ReadFailure::TooLarge(announced));
    }
    let mut body = bytes::BytesMut::with_capacity(announced.unwrap_or(0).min(1 << 20) as usize);
    let mut watch = IdleWatch::new(idle);
    loop {
        match watch.chunk(resp.chunk()).await {
            Err(got) => return Err(ReadFailure::Idle(got)),
            Ok(Err(e)) => return Err(ReadFailure::Http(e)),
            Ok(Ok(None)) => return Ok(body.freeze()),
            Ok(Ok(Some(chunk))) => {
                if (body.len() + chunk.len()) as u64 > limit {
                    return Err(ReadFailure::TooLarge(announced));
                }
                watch.got(chunk.len());
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// What one successful attempt produced.
enum Outcome {
    Full(Response),
    Streaming(StreamingResponse),
}

impl Outcome {
    fn status(&self) -> u16 {
        match self {
            Outcome::Full(r) => r.status,
            Outcome::Streaming(r) => r.status,
        }
    }
}

/// The error of a response the vendor marked as failed, by its status or inside its body.
fn vendor_failure(
    inner: &Inner,
    op: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    info: VendorError,
) -> AttemptError {
    let kind = info
        .kind
        .or_else(|| ErrorKind::from_status(status))
        .unwrap_or(ErrorKind::InvalidRequest);
    // A vendor or proxy may echo the request (and so the key, in any encoding) back in its
    // error text, or send terminal escapes.
    let scrub = |text: String| redact::scrub_text(&text, &inner.secret_forms);
    let mut error = inner_error(inner, kind, op, scrub(info.message)).with_status(status);
    if let Some(code) = info.code {
        error = error.with_vendor_code(scrub(code));
    }
    error = error.with_retry_after(info.retry_after.or_else(|| parse_retry_after(headers)));
    // A rate-limit refusal (429, or a vendor's own throttling signal) came before any work;
    // anything else may have been acted on.
    let processed = !(status == 429 || kind == ErrorKind::TooManyRequests);
    AttemptError {
        error,
        processed,
        timed_out: false,
    }
}

/// A local upload file that could not be read.
fn file_error(inner: &Inner, op: &str, e: body::FileError) -> Error {
    Error::io(
        format!("cannot read upload file {}", e.path.display()),
        e.error,
    )
    .with_vendor(inner.vendor)
    .with_operation(op)
}

fn inner_error(inner: &Inner, kind: ErrorKind, op: &str, message: String) -> Error {
    Error::new(kind, message)
        .with_vendor(inner.vendor)
        .with_operation(op)
}

struct AttemptError {
    error: Error,
    /// Whether the vendor may have acted on the request.
    processed: bool,
    /// A client-side timeout: no answer within the attempt, or a stalled body (retried once at
    /// most: see [`TIMEOUT_RETRIES`]).
    timed_out: bool,
}

impl AttemptError {
    fn not_processed(error: Error) -> Self {
        AttemptError {
            error,
            processed: false,
            timed_out: false,
        }
    }

    fn from_reqwest(inner: &Inner, op: &str, e: reqwest::Error) -> Self {
        // reqwest puts the URL (with Sama's key) in its messages: strip it.
        let e = e.without_url();
        let timed_out = e.is_timeout();
        let (kind, processed) = if e.is_connect() {
            // Never connected (refused, or the connect timeout): nothing was sent.
            let kind = if timed_out {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transport
            };
            (kind, false)
        } else if timed_out {
            (ErrorKind::Timeout, true)
        } else {
            (ErrorKind::Transport, true)
        };
        let mut msg = e.to_string();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        let msg = redact::scrub_text(&redact::redact_text(&msg), &inner.secret_forms);
        let error = inner_error(inner, kind, op, msg).with_source(e);
        AttemptError {
            error,
            processed,
            timed_out,
        }
    }
}

/// Parse `Retry-After` as delta-seconds or an HTTP date.
pub fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        // A value too large for `Duration` (e.g. `1e30`) means "much later": saturate rather
        // than panic, so the retry loop gives up as for any over-long wait.
        return (secs >= 0.0).then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A successful response, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The key's wire forms, scrubbed from decode errors that quote the body.
    secret_forms: Arc<[String]>,
}

impl Response {
    /// Decode the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            // A server may echo the request (and the key) in a body it sends with a 200.
            let shown = redact::scrub_text(&body_snippet(&self.body), &self.secret_forms);
            Error::decode(format!("unexpected response body ({e}): {shown}"))
                .with_status(self.status)
                .with_source(e)
        })
    }

    /// The body as JSON, or `None` when it is empty or not JSON (Sama's SDK treats such 2xx
    /// bodies as "no content").
    pub fn json_or_none(&self) -> Option<serde_json::Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", "0.5".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(500)));
        let future = SystemTime::now() + Duration::from_secs(30);
        h.insert(
            "retry-after",
            httpdate::fmt_http_date(future).parse().unwrap(),
        );
        let d = parse_retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(27) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn absurd_retry_after_saturates_instead_of_panicking() {
        let mut h = reqwest::header::HeaderMap::new();
        for v in ["1e30", "inf", "1e400"] {
            h.insert("retry-after", v.parse().unwrap());
            assert_eq!(parse_retry_after(&h), Some(Duration::MAX), "{v}");
        }
        h.insert("retry-after", "NaN".parse().unwrap());
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn huge_durations_in_config_are_errors_not_panics() {
        for (field, cfg) in [
            (
                "timeout_secs",
                TransportConfig {
                    timeout_secs: 1e300,
                    ..TransportConfig::default()
                },
            ),
            (
                "deadline_secs",
                TransportConfig {
                    deadline_secs: 1e300,
                    ..TransportConfig::default()
                },
            ),
            (
                "max_retry_after_secs",
                TransportConfig {
                    max_retry_after_secs: 1e300,
                    ..TransportConfig::default()
                },
            ),
        ] {
            let e = Transport::new(
                Vendor::Sama,
                "https://api.example/v2",
                Auth::None,
                cfg,
                default_classifier,
            )
            .err()
            .unwrap_or_else(|| panic!("{field}: accepted"));
            assert_eq!(e.kind(), ErrorKind::Config, "{field}");
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    #[test]
    fn plain_http_only_for_loopback_unless_allowed() {
        let ok = [
            "http://127.0.0.1:8080/v2",
            "http://localhost/x",
            "http://[::1]:9/",
            "https://api.sama.com/v2",
        ];
        for u in ok {
            check_url_scheme(&Url::parse(u).unwrap(), false).unwrap();
        }
        let remote = Url::parse("http://api.sama.com/v2").unwrap();
        let err = check_url_scheme(&remote, false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("allow_insecure_http"));
        check_url_scheme(&remote, true).unwrap();
        assert!(check_url_scheme(&Url::parse("ftp://x/").unwrap(), true).is_err());
    }

    #[test]
    fn new_settings_are_validated_with_the_field_named() {
        let cases = [
            (
                "connect_timeout",
                TransportConfig {
                    connect_timeout: Duration::ZERO,
                    ..TransportConfig::default()
                },
            ),
            (
                "read_idle_timeout",
                TransportConfig {
                    read_idle_timeout: Duration::from_secs(400 * 24 * 3600),
                    ..TransportConfig::default()
                },
            ),
            (
                "max_response_bytes",
                TransportConfig {
                    max_response_bytes: 10,
                    ..TransportConfig::default()
                },
            ),
            (
                "max_backoff_ms",
                TransportConfig {
                    max_backoff_ms: u64::MAX,
                    ..TransportConfig::default()
                },
            ),
            (
                "initial_backoff_ms",
                TransportConfig {
                    initial_backoff_ms: u64::MAX / 2,
                    ..TransportConfig::default()
                },
            ),
        ];
        for (field, cfg) in cases {
            let err = Transport::new(
                Vendor::Segments,
                "https://api.segments.ai/",
                Auth::None,
                cfg,
                default_classifier,
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{field}");
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn absurdly_large_settings_are_refused_and_the_bounds_accepted() {
        let refused = [
            ("max_attempts", json_cfg(r#"{"max_attempts": 4294967295}"#)),
            ("max_attempts", json_cfg(r#"{"max_attempts": 101}"#)),
            ("concurrency", json_cfg(r#"{"concurrency": 100000000}"#)),
            ("concurrency", json_cfg(r#"{"concurrency": 1025}"#)),
            (
                "rate_limit_per_second",
                json_cfg(r#"{"rate_limit_per_second": 4294967295}"#),
            ),
            ("timeout_secs", json_cfg(r#"{"timeout_secs": 3601}"#)),
            ("deadline_secs", json_cfg(r#"{"deadline_secs": "2 days"}"#)),
            ("connect_timeout", json_cfg(r#"{"connect_timeout": "11m"}"#)),
            (
                "read_idle_timeout",
                json_cfg(r#"{"read_idle_timeout": "2h"}"#),
            ),
            ("max_backoff_ms", json_cfg(r#"{"max_backoff_ms": "1h"}"#)),
            (
                "max_retry_after_secs",
                json_cfg(r#"{"max_retry_after_secs": 86400}"#),
            ),
            (
                "max_response_bytes",
                json_cfg(r#"{"max_response_bytes": 18446744073709551615}"#),
            ),
        ];
        for (field, cfg) in refused {
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{field}");
            let text = err.to_string();
            assert!(
                text.contains(field) && text.contains("must be") && text.contains("got"),
                "{field}: {text}"
            );
        }
        let edges = json_cfg(
            r#"{"max_attempts": 100, "concurrency": 1024, "rate_limit_per_second": 10000,
                "timeout_secs": 3600, "deadline_secs": 86400, "connect_timeout": "10m",
                "read_idle_timeout": "1h", "initial_backoff_ms": 0, "max_backoff_ms": 600000,
                "max_retry_after_secs": 0, "max_response_bytes": 1024}"#,
        );
        edges.validate().unwrap();
        TransportConfig::default().validate().unwrap();
        TransportConfig::fast_for_tests().validate().unwrap();
    }

    fn json_cfg(text: &str) -> TransportConfig {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_malformed_base_url_never_shows_the_key() {
        for url in [
            "https://user:CANARY-K3Y@[bad/v2",
            "http//user:CANARY-K3Y@host/v2",
            "ftp://user:CANARY-K3Y@host/v2",
            "http://CANARY-K3Y.example.com/v2",
            "gopher://host/CANARY-K3Y",
        ] {
            let err = Transport::new(
                Vendor::Scale,
                url,
                Auth::BasicUser(SecretString::from("CANARY-K3Y")),
                TransportConfig::default(),
                default_classifier,
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("CANARY-K3Y"), "{url}: {shown}");
        }
    }

    #[test]
    fn config_validation_names_the_field() {
        let cfg = TransportConfig {
            max_attempts: 0,
            ..TransportConfig::default()
        };
        let err = Transport::new(
            Vendor::Sama,
            "https://x/",
            Auth::None,
            cfg,
            default_classifier,
        )
        .unwrap_err();
        assert!(err.to_string().contains("max_attempts"), "{err}");
    }
}
