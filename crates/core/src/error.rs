//! One error type for every vendor, with kinds modelled on Scale's status-code exceptions.
//!
//! Each [`Error`] names the vendor and the operation, keeps the HTTP status and the vendor's own
//! message, says whether retrying can help ([`Error::retryability`]), and keeps its cause as a
//! `source()` chain. Messages never contain secrets: URLs are redacted before they reach an error.

use crate::Vendor;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// What went wrong, independent of the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request was malformed or missing a required parameter.
    InvalidRequest,
    /// 401: the API key is missing, wrong, or not enabled for this project.
    Unauthorized,
    /// 402: the feature is not enabled for this account.
    NotEnabled,
    /// 403: the key is valid but may not do this.
    Forbidden,
    /// 404: the resource does not exist or is not visible to this key.
    NotFound,
    /// 409: a resource with the same unique key already exists.
    Duplicate,
    /// 429: rate limited; see [`Error::retry_after`].
    TooManyRequests,
    /// 500 and other unknown 5xx: the vendor failed.
    Internal,
    /// 502/503: the vendor is temporarily unavailable.
    ServiceUnavailable,
    /// 504 or a client-side timeout.
    Timeout,
    /// The connection failed, was refused or dropped.
    Transport,
    /// A local file or directory could not be read or written (an upload file, a spool file, a
    /// cursor). Never retried: the file system will not heal by itself.
    Io,
    /// The vendor answered with a body labelmux could not decode.
    Decode,
    /// Input failed validation (by labelmux or by the vendor, e.g. a task not matching the schema).
    Validation,
    /// The vendor has no such operation; see `Provider::capabilities`.
    Unsupported,
    /// The configuration is missing or invalid.
    Config,
    /// Another process (or another pull in this one) holds what this operation needs
    /// exclusively: a consumer's cursor, an output file. The message names the holder.
    Busy,
}

impl ErrorKind {
    /// Short lower-case label used in messages and by the CLI.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NotEnabled => "not enabled",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not found",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::TooManyRequests => "too many requests",
            ErrorKind::Internal => "internal vendor error",
            ErrorKind::ServiceUnavailable => "service unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Io => "I/O",
            ErrorKind::Decode => "decode",
            ErrorKind::Validation => "validation",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
            ErrorKind::Busy => "busy",
        }
    }

    /// Whether the same request may succeed if sent again later. [`ErrorKind::Io`] is not:
    /// a local file that cannot be read will not appear by waiting.
    pub fn is_temporary(self) -> bool {
        matches!(
            self,
            ErrorKind::TooManyRequests
                | ErrorKind::Internal
                | ErrorKind::ServiceUnavailable
                | ErrorKind::Timeout
                | ErrorKind::Transport
        )
    }

    /// Map an HTTP status code onto a kind. Unknown 4xx are [`ErrorKind::InvalidRequest`],
    /// unknown 5xx [`ErrorKind::Internal`]. Adapters refine this with vendor-specific signals.
    /// Returns `None` for non-error statuses.
    pub fn from_status(status: u16) -> Option<ErrorKind> {
        let exact = match status {
            400 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::NotEnabled,
            403 => ErrorKind::Forbidden,
            404 | 410 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            409 => ErrorKind::Duplicate,
            422 => ErrorKind::Validation,
            429 => ErrorKind::TooManyRequests,
            502 | 503 => ErrorKind::ServiceUnavailable,
            504 => ErrorKind::Timeout,
            _ if (400..500).contains(&status) => ErrorKind::InvalidRequest,
            _ if (500..600).contains(&status) => ErrorKind::Internal,
            _ => return None,
        };
        Some(exact)
    }

    /// What a user can do about this kind of error, for the vendor named.
    pub fn advice(self, vendor: Vendor) -> String {
        match self {
            ErrorKind::Unauthorized => format!(
                "check the API key (set {} or the `api_key` field of [{}] in the config) and that API access is enabled for the project",
                vendor.api_key_env(),
                vendor.name()
            ),
            ErrorKind::NotEnabled => format!("ask {vendor} to enable this feature for the account"),
            ErrorKind::Forbidden => "use a key with permission for this project".into(),
            ErrorKind::NotFound => "check the project, batch and task ids".into(),
            ErrorKind::Duplicate => "the resource exists already; look it up by its external key".into(),
            ErrorKind::TooManyRequests => "lower `rate_limit_per_second` or `concurrency` in the transport config".into(),
            ErrorKind::Internal | ErrorKind::ServiceUnavailable => {
                format!("{vendor} is failing; retry later (raise `max_attempts` or `deadline_secs` to retry longer)")
            }
            ErrorKind::Timeout => "raise `timeout_secs`/`deadline_secs` in the transport config or retry later".into(),
            ErrorKind::Transport => format!("check the network and the {vendor} base URL"),
            ErrorKind::Io => "check the file or directory the message names: that it exists, may be read or written, and that the disk has space".into(),
            ErrorKind::Decode => format!("{vendor} sent an unexpected response; report it with `-v` output"),
            ErrorKind::Validation | ErrorKind::InvalidRequest => "fix the input as the message says".into(),
            ErrorKind::Unsupported => format!("{vendor} has no such operation; see `capabilities()`"),
            ErrorKind::Config => "fix the configuration as the message says".into(),
            ErrorKind::Busy => "wait for the run the message names to finish (or stop it), then run again".into(),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Whether retrying an operation that failed can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retryability {
    /// Sending the same request again will fail the same way (bad input, key, id, config, a
    /// local file): fix the cause first.
    Permanent,
    /// A temporary failure not retried yet (or not safe to retry automatically): trying again
    /// later may succeed.
    Temporary,
    /// A temporary failure that outlived the transport's retries: no longer worth retrying
    /// now; try again much later or look into the vendor's status.
    Persistent,
}

/// The error every labelmux operation returns.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    vendor: Option<Vendor>,
    operation: Option<String>,
    status: Option<u16>,
    message: String,
    vendor_code: Option<String>,
    retry_after: Option<Duration>,
    attempts: u32,
    persistent: bool,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// Result alias used across labelmux.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a human-readable message (which must not contain secrets).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                vendor: None,
                operation: None,
                status: None,
                message: message.into(),
                vendor_code: None,
                retry_after: None,
                attempts: 0,
                persistent: false,
                source: None,
            }),
        }
    }

    /// Error for an operation the vendor lacks.
    pub fn unsupported(vendor: Vendor, operation: &str) -> Self {
        Error::new(
            ErrorKind::Unsupported,
            format!("{vendor} does not support {operation}"),
        )
        .with_vendor(vendor)
        .with_operation(operation)
    }

    /// Error for invalid input caught before anything was sent.
    pub fn validation(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Validation, message)
    }

    /// Error for a bad configuration.
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// Error for a response body that could not be decoded.
    pub fn decode(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Decode, message)
    }

    /// Error for a local file-system failure: `context` says what was being done (e.g.
    /// `"cannot open upload file /tmp/x.json"`), the I/O error is appended and kept as the source.
    pub fn io(context: impl Into<String>, error: std::io::Error) -> Self {
        let context = context.into();
        Error::new(ErrorKind::Io, format!("{context}: {error}")).with_source(error)
    }

    /// Name the vendor.
    pub fn with_vendor(mut self, vendor: Vendor) -> Self {
        self.inner.vendor = Some(vendor);
        self
    }

    /// Name the operation (e.g. `get_task`), unless one is already named.
    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        if self.inner.operation.is_none() {
            self.inner.operation = Some(operation.into());
        }
        self
    }

    /// Record the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Record the vendor's own error code or type (e.g. Sama's `InvalidInputSchema`).
    pub fn with_vendor_code(mut self, code: impl Into<String>) -> Self {
        self.inner.vendor_code = Some(code.into());
        self
    }

    /// Record how long the vendor asked us to wait.
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.inner.retry_after = after;
        self
    }

    /// Attach the underlying cause. When the cause is itself a labelmux [`Error`], its operation
    /// and vendor are kept unless this error names its own: the innermost operation is the one
    /// that failed.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        let source: Box<dyn StdError + Send + Sync> = Box::new(source);
        if let Some(inner) = source.downcast_ref::<Error>() {
            if self.inner.operation.is_none() {
                self.inner.operation = inner.inner.operation.clone();
            }
            if self.inner.vendor.is_none() {
                self.inner.vendor = inner.inner.vendor;
            }
        }
        self.inner.source = Some(source);
        self
    }

    /// Mark that the error outlived `attempts` tries: retrying again now will not help.
    pub fn exhausted(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self.inner.persistent = true;
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }
    /// The vendor, when the error came from one.
    pub fn vendor(&self) -> Option<Vendor> {
        self.inner.vendor
    }
    /// The operation that failed (e.g. `create_batch`).
    pub fn operation(&self) -> Option<&str> {
        self.inner.operation.as_deref()
    }
    /// The HTTP status, if the vendor answered.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }
    /// The message: the vendor's own words where it sent some.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
    /// The vendor's own error code or type, if it sent one.
    pub fn vendor_code(&self) -> Option<&str> {
        self.inner.vendor_code.as_deref()
    }
    /// How long the vendor asked us to wait before retrying (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
    /// How many attempts were made before giving up (0 if the error was not retried).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }
    /// True when retries were exhausted: the failure persisted.
    pub fn is_persistent(&self) -> bool {
        self.inner.persistent
    }
    /// Whether retrying later may help: the kind is temporary (also after the transport gave
    /// up; see [`Error::retryability`] for the finer answer).
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_temporary()
    }
    /// Permanent, temporary, or temporary but persistent (retries exhausted; see
    /// [`Error::exhausted`]).
    pub fn retryability(&self) -> Retryability {
        match (self.inner.kind.is_temporary(), self.inner.persistent) {
            (false, _) => Retryability::Permanent,
            (true, false) => Retryability::Temporary,
            (true, true) => Retryability::Persistent,
        }
    }
    /// What the user can do next.
    pub fn advice(&self) -> Option<String> {
        self.inner.vendor.map(|v| self.inner.kind.advice(v))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(v) = i.vendor {
            write!(f, "{v}: ")?;
        }
        if let Some(op) = &i.operation {
            write!(f, "{op}: ")?;
        }
        f.write_str(i.kind.label())?;
        if let Some(s) = i.status {
            write!(f, " (HTTP {s})")?;
        }
        if !i.message.is_empty() {
            write!(f, ": {}", i.message)?;
        }
        if let Some(code) = &i.vendor_code {
            write!(f, " [{code}]")?;
        }
        if i.persistent {
            let plural = if i.attempts == 1 { "" } else { "s" };
            write!(f, " (gave up after {} attempt{plural})", i.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind)
            .field("vendor", &i.vendor)
            .field("operation", &i.operation)
            .field("status", &i.status)
            .field("message", &i.message);
        if let Some(code) = &i.vendor_code {
            d.field("vendor_code", code);
        }
        if let Some(ra) = i.retry_after {
            d.field("retry_after", &ra);
        }
        if i.persistent {
            d.field("attempts", &i.attempts);
        }
        if let Some(s) = &i.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn StdError + 'static))
    }
}

/// A bare I/O error is a local file-system failure; prefer [`Error::io`], which says what was
/// being done.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::io("I/O error", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_onto_kinds() {
        let table: &[(u16, Option<ErrorKind>)] = &[
            (200, None),
            (204, None),
            (302, None),
            (400, Some(ErrorKind::InvalidRequest)),
            (401, Some(ErrorKind::Unauthorized)),
            (402, Some(ErrorKind::NotEnabled)),
            (403, Some(ErrorKind::Forbidden)),
            (404, Some(ErrorKind::NotFound)),
            (405, Some(ErrorKind::InvalidRequest)),
            (408, Some(ErrorKind::Timeout)),
            (409, Some(ErrorKind::Duplicate)),
            (410, Some(ErrorKind::NotFound)),
            (418, Some(ErrorKind::InvalidRequest)),
            (422, Some(ErrorKind::Validation)),
            (429, Some(ErrorKind::TooManyRequests)),
            (500, Some(ErrorKind::Internal)),
            (501, Some(ErrorKind::Internal)),
            (502, Some(ErrorKind::ServiceUnavailable)),
            (503, Some(ErrorKind::ServiceUnavailable)),
            (504, Some(ErrorKind::Timeout)),
            (599, Some(ErrorKind::Internal)),
            (600, None),
        ];
        for (status, want) in table {
            assert_eq!(ErrorKind::from_status(*status), *want, "status {status}");
        }
        // Kinds of local or decoding failures never come from a status.
        for status in 0..1000 {
            let kind = ErrorKind::from_status(status);
            assert!(
                !matches!(
                    kind,
                    Some(
                        ErrorKind::Io
                            | ErrorKind::Transport
                            | ErrorKind::Decode
                            | ErrorKind::Unsupported
                            | ErrorKind::Config
                    )
                ),
                "status {status} → {kind:?}"
            );
        }
    }

    #[test]
    fn retryability_tells_permanent_temporary_and_persistent_apart() {
        let temporary = Error::new(ErrorKind::ServiceUnavailable, "");
        assert_eq!(temporary.retryability(), Retryability::Temporary);
        assert_eq!(
            temporary.exhausted(3).retryability(),
            Retryability::Persistent
        );
        for kind in [ErrorKind::Io, ErrorKind::NotFound, ErrorKind::Decode] {
            let e = Error::new(kind, "");
            assert_eq!(e.retryability(), Retryability::Permanent, "{kind}");
            assert_eq!(
                e.exhausted(2).retryability(),
                Retryability::Permanent,
                "{kind}"
            );
        }
    }

    #[test]
    fn io_errors_say_what_was_done_and_are_never_transport_errors() {
        let e = Error::io(
            "cannot open upload file /tmp/rows.json",
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        );
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "I/O: cannot open upload file /tmp/rows.json: No such file or directory"
        );
        assert!(e.source().is_some());
        let from: Error = std::io::Error::other("disk full").into();
        assert_eq!(from.kind(), ErrorKind::Io);
        assert!(e
            .with_vendor(Vendor::Labelbox)
            .advice()
            .unwrap()
            .contains("disk has space"));
    }

    #[test]
    fn wrapping_keeps_the_innermost_operation() {
        let inner = Error::new(ErrorKind::NotFound, "no such task")
            .with_vendor(Vendor::Labelbox)
            .with_operation("get_task");
        // Naming an operation again keeps the first.
        let e = inner.with_operation("create_batch");
        assert_eq!(e.operation(), Some("get_task"));
        // An error wrapping another adopts its operation and vendor…
        let outer = Error::new(ErrorKind::NotFound, "batch rows missing").with_source(e);
        assert_eq!(outer.operation(), Some("get_task"));
        assert_eq!(outer.vendor(), Some(Vendor::Labelbox));
        let outer = outer.with_operation("create_batch");
        assert_eq!(outer.operation(), Some("get_task"));
        // …unless it names its own.
        let own = Error::new(ErrorKind::Internal, "x")
            .with_operation("export")
            .with_source(Error::new(ErrorKind::Timeout, "y").with_operation("poll"));
        assert_eq!(own.operation(), Some("export"));
    }

    #[test]
    fn temporary_kinds_are_exactly_the_retryable_ones() {
        use ErrorKind::*;
        let temporary = [
            TooManyRequests,
            Internal,
            ServiceUnavailable,
            Timeout,
            Transport,
        ];
        let permanent = [
            Io,
            InvalidRequest,
            Unauthorized,
            NotEnabled,
            Forbidden,
            NotFound,
            Duplicate,
            Decode,
            Validation,
            Unsupported,
            Config,
        ];
        assert!(temporary.iter().all(|k| k.is_temporary()));
        assert!(permanent.iter().all(|k| !k.is_temporary()));
    }

    #[test]
    fn display_names_vendor_operation_status_and_message() {
        let e = Error::new(ErrorKind::NotFound, "Task not found")
            .with_vendor(Vendor::Sama)
            .with_operation("get_task")
            .with_status(404);
        assert_eq!(
            e.to_string(),
            "sama: get_task: not found (HTTP 404): Task not found"
        );
        let e = Error::new(ErrorKind::ServiceUnavailable, "Service Unavailable")
            .with_vendor(Vendor::Scale)
            .with_status(503)
            .exhausted(5);
        assert!(e.to_string().ends_with("(gave up after 5 attempts)"));
        let once = Error::new(ErrorKind::TooManyRequests, "").exhausted(1);
        assert!(
            once.to_string().ends_with("(gave up after 1 attempt)"),
            "{once}"
        );
        assert!(e.is_persistent() && e.is_retryable());
        assert!(Error::new(ErrorKind::Unauthorized, "")
            .with_vendor(Vendor::Scale)
            .advice()
            .unwrap()
            .contains("SCALE_API_KEY"));
    }
}
