//! CLI errors and exit codes.
//!
//! Every failure ends as one [`CliError`]: one line for humans (kind, vendor, operation, what to
//! do next), the source chain under `-v`, a JSON document under `--output json`, and an exit
//! code chosen by the kind of failure so scripts can branch on it (documented in `docs/cli.md`).

use labelmux::transport::redact;
use labelmux::{Error, ErrorKind, Vendor};
use serde_json::{json, Value};
use std::fmt;
use std::sync::Mutex;

/// The wire forms of the API key this run uses ([`register_secret`]), blanked from every error
/// printed: a last line of defence behind the transport, which scrubs what servers echo.
static SECRET_FORMS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remember `key` so that no form of it (raw, URL-encoded, base64) is ever printed in an error.
pub fn register_secret(key: &str) {
    if let Ok(mut forms) = SECRET_FORMS.lock() {
        for form in redact::secret_forms(key) {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }
}

/// `text` safe to print: registered key forms blanked, control characters (terminal escapes,
/// carriage returns, line breaks that would forge lines) turned into spaces.
pub fn printable(text: &str) -> String {
    let forms = SECRET_FORMS.lock().map(|f| f.clone()).unwrap_or_default();
    redact::scrub_text(text, &forms)
}

/// Exit codes, one per family of failure.
pub mod code {
    /// Success.
    pub const OK: i32 = 0;
    /// Anything not covered below (e.g. the output file cannot be written).
    pub const OTHER: i32 = 1;
    /// Bad command line or configuration (including a missing API key).
    pub const USAGE: i32 = 2;
    /// The vendor refused the key (401, 402, 403).
    pub const AUTH: i32 = 3;
    /// A project, batch or task does not exist.
    pub const NOT_FOUND: i32 = 4;
    /// Bad input: a task file that cannot be read or parsed, or input the vendor rejected.
    pub const INPUT: i32 = 5;
    /// The provider has no such operation.
    pub const UNSUPPORTED: i32 = 6;
    /// The vendor or the network kept failing after retries (5xx, 429, timeouts, bad responses).
    pub const VENDOR: i32 = 7;
    /// Another run holds what this one needs exclusively (a consumer, an output file); the
    /// message names it.
    pub const BUSY: i32 = 8;
    /// Interrupted (Ctrl-C) after making what was done durable.
    pub const INTERRUPTED: i32 = 130;
}

/// The exit code for a labelmux error kind.
pub fn code_for_kind(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Config => code::USAGE,
        ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::NotEnabled => code::AUTH,
        ErrorKind::NotFound => code::NOT_FOUND,
        ErrorKind::Validation | ErrorKind::InvalidRequest | ErrorKind::Duplicate => code::INPUT,
        ErrorKind::Unsupported => code::UNSUPPORTED,
        ErrorKind::TooManyRequests
        | ErrorKind::Internal
        | ErrorKind::ServiceUnavailable
        | ErrorKind::Timeout
        | ErrorKind::Transport
        | ErrorKind::Decode => code::VENDOR,
        ErrorKind::Busy => code::BUSY,
        _ => code::OTHER,
    }
}

/// A failure of one CLI command, ready to be printed. Its fields are in [`Failure`] (boxed,
/// so `Result<_, CliError>` stays small); they are reachable directly through `Deref`.
#[derive(Debug, Clone, PartialEq)]
pub struct CliError(Box<Failure>);

/// What a [`CliError`] holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Process exit code.
    pub code: i32,
    /// Short kind label (`unauthorized`, `bad input`, ...).
    pub kind: String,
    /// The vendor, when the failure came from one.
    pub vendor: Option<Vendor>,
    /// The operation that failed, when known.
    pub operation: Option<String>,
    /// HTTP status, when the vendor answered.
    pub status: Option<u16>,
    /// The full message (for labelmux errors: vendor, operation, kind, status and message).
    pub message: String,
    /// What to do next.
    pub advice: Option<String>,
    /// The source chain, outermost first (printed under `-v`).
    pub details: Vec<String>,
    /// The command already printed its result (e.g. a receipt listing refused rows); only the
    /// one-line summary goes to stderr, no second JSON document to stdout.
    pub result_printed: bool,
    /// The batch the failure concerns, when a vendor had opened one (`tasks create`): what to
    /// follow instead of sending the file again.
    pub batch_id: Option<String>,
}

impl std::ops::Deref for CliError {
    type Target = Failure;
    fn deref(&self) -> &Failure {
        &self.0
    }
}

impl std::ops::DerefMut for CliError {
    fn deref_mut(&mut self) -> &mut Failure {
        &mut self.0
    }
}

impl CliError {
    fn local(code: i32, kind: &str, message: impl Into<String>, advice: Option<&str>) -> Self {
        CliError(Box::new(Failure {
            code,
            kind: kind.to_owned(),
            vendor: None,
            operation: None,
            status: None,
            message: message.into(),
            advice: advice.map(str::to_owned),
            details: Vec::new(),
            result_printed: false,
            batch_id: None,
        }))
    }

    /// The command printed its result, but whether the vendor created some tasks is unknown
    /// (their answer was lost, or the vendor kept failing): exit with [`code::VENDOR`], never
    /// [`code::INPUT`], because sending them again as if refused could duplicate them.
    pub fn unknown_outcome(message: impl Into<String>, advice: impl Into<String>) -> Self {
        let mut e = Self::local(code::VENDOR, "outcome unknown", message, None);
        e.0.advice = Some(advice.into());
        e.0.result_printed = true;
        e
    }

    /// The command did its work and printed its result, but some tasks were refused: exit with
    /// [`code::INPUT`] so scripts notice, without printing the result twice.
    pub fn partly_refused(message: impl Into<String>) -> Self {
        let mut e = Self::local(
            code::INPUT,
            "tasks refused",
            message,
            Some("fix the refused rows listed above and submit them again"),
        );
        e.0.result_printed = true;
        e
    }

    /// A bad command line or configuration.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::local(code::USAGE, "usage", message, Some("see `labelmux --help`"))
    }

    /// A task file that cannot be read or parsed. Nothing was submitted.
    pub fn input(message: impl Into<String>) -> Self {
        Self::local(
            code::INPUT,
            "bad input",
            message,
            Some("fix the file and run again; nothing from it was submitted"),
        )
    }

    /// Anything else, with a hint.
    pub fn other(message: impl Into<String>, advice: &str) -> Self {
        Self::local(code::OTHER, "error", message, Some(advice))
    }

    /// An I/O failure on a local file (`what` says which, e.g. "cannot write out.jsonl").
    pub fn io(what: impl fmt::Display, e: std::io::Error) -> Self {
        Self::local(
            code::OTHER,
            "i/o",
            format!("{what}: {e}"),
            Some("check the path, permissions and free disk space"),
        )
    }

    /// The command was interrupted.
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self::local(
            code::INTERRUPTED,
            "interrupted",
            message,
            Some("run the same command again to resume"),
        )
    }

    /// Add context in front of the message (e.g. which command or file).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// This error as it may be printed: message, advice and causes passed through
    /// [`printable`].
    pub fn printable(&self) -> CliError {
        let mut e = self.clone();
        e.message = printable(&e.message);
        e.advice = e.advice.as_deref().map(printable);
        e.details = e.details.iter().map(|d| printable(d)).collect();
        e
    }

    /// The one line printed on stderr.
    pub fn line(&self) -> String {
        let mut line = format!("error: {}", self.message);
        if !self.message.contains(&self.kind) {
            line = format!("error: {}: {}", self.kind, self.message);
        }
        if let Some(a) = &self.advice {
            line.push_str(" — ");
            line.push_str(a);
        }
        line
    }

    /// The JSON document printed on stdout under `--output json`.
    pub fn to_json(&self) -> Value {
        json!({
            "error": {
                "kind": self.kind,
                "exit_code": self.code,
                "vendor": self.vendor.map(|v| v.name()),
                "operation": self.operation,
                "status": self.status,
                "message": self.message,
                "advice": self.advice,
                "batch_id": self.batch_id,
            }
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

impl std::error::Error for CliError {}

/// Advice for errors that name no vendor (a vendor-independent version of `ErrorKind::advice`).
fn generic_advice(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "fix the configuration as the message says",
        ErrorKind::Validation | ErrorKind::InvalidRequest => "fix the input as the message says",
        ErrorKind::NotFound => "check the project, batch and task ids",
        ErrorKind::Unauthorized | ErrorKind::Forbidden => "check the API key",
        ErrorKind::Unsupported => "run `labelmux capabilities` to see what the provider supports",
        ErrorKind::Busy => "wait for the run it names to finish (or stop it), then run again",
        k if k.is_temporary() => "retry later",
        _ => "run again with -v for details",
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        let mut details = Vec::new();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            details.push(s.to_string());
            source = s.source();
        }
        let advice = match (e.kind(), e.vendor()) {
            // No adapter for this vendor in this release: its capabilities cannot help.
            (ErrorKind::Unsupported, Some(_)) if e.operation() == Some("from_config") => {
                "choose one of the available providers with --provider or `provider` in the config"
                    .to_owned()
            }
            // A temporary failure the transport did not retry: the request may have been acted
            // on (a create), so raising `max_attempts` would not help.
            (k, Some(v)) if k.is_temporary() && !e.is_persistent() && e.attempts() <= 1 => format!(
                "{v} failed on a request labelmux does not resend by itself, because it may have been acted on: check whether it took effect (`labelmux batches list`, `tasks create --resume`), then run the command again"
            ),
            // The library's advice points at `capabilities()`; a shell user needs the command.
            (ErrorKind::Unsupported, Some(v)) => format!(
                "{v} has no such operation; run `labelmux --provider {} capabilities` to see what it supports",
                v.name()
            ),
            _ => e
                .advice()
                .unwrap_or_else(|| generic_advice(e.kind()).to_owned()),
        };
        CliError(Box::new(Failure {
            code: code_for_kind(e.kind()),
            kind: e.kind().label().to_owned(),
            vendor: e.vendor(),
            operation: e.operation().map(str::to_owned),
            status: e.status(),
            message: e.to_string(),
            advice: Some(advice),
            details,
            result_printed: false,
            batch_id: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_exit_code() {
        use ErrorKind::*;
        let table = [
            (Config, 2),
            (Unauthorized, 3),
            (Forbidden, 3),
            (NotEnabled, 3),
            (NotFound, 4),
            (Validation, 5),
            (InvalidRequest, 5),
            (Duplicate, 5),
            (Unsupported, 6),
            (TooManyRequests, 7),
            (Internal, 7),
            (ServiceUnavailable, 7),
            (Timeout, 7),
            (Transport, 7),
            (Decode, 7),
        ];
        for (kind, want) in table {
            assert_eq!(code_for_kind(kind), want, "{kind:?}");
        }
    }

    #[test]
    fn vendor_errors_print_one_line_with_vendor_operation_and_advice() {
        let e = Error::new(ErrorKind::Unauthorized, "Invalid access key")
            .with_vendor(Vendor::Scale)
            .with_operation("create_batch")
            .with_status(401);
        let c = CliError::from(e);
        assert_eq!(c.code, code::AUTH);
        let line = c.line();
        assert!(!line.contains('\n'), "{line}");
        for want in ["scale", "create_batch", "unauthorized", "SCALE_API_KEY"] {
            assert!(line.contains(want), "{want} missing in {line}");
        }
        let j = c.to_json();
        assert_eq!(j["error"]["vendor"], "scale");
        assert_eq!(j["error"]["exit_code"], 3);
        assert_eq!(j["error"]["status"], 401);
    }

    #[test]
    fn unsupported_operations_point_at_the_capabilities_command() {
        let e = Error::new(
            ErrorKind::Unsupported,
            "scale does not support set_priority",
        )
        .with_vendor(Vendor::Scale)
        .with_operation("set_priority");
        let c = CliError::from(e);
        assert_eq!(c.code, code::UNSUPPORTED);
        let line = c.line();
        assert!(
            line.contains("labelmux --provider scale capabilities") && !line.contains("()"),
            "{line}"
        );
    }

    #[test]
    fn source_chain_is_kept_for_verbose_output() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::new(ErrorKind::Transport, "connect failed").with_source(io);
        let c = CliError::from(e);
        assert_eq!(c.code, code::VENDOR);
        assert_eq!(c.details, vec!["refused".to_owned()]);
        assert!(c.advice.is_some());
    }

    #[test]
    fn printed_errors_carry_no_key_and_no_control_characters() {
        use base64::Engine;
        register_secret("CANARY+k3y/9");
        let basic = base64::engine::general_purpose::STANDARD.encode("CANARY+k3y/9:");
        let c = CliError::other(
            format!("echo CANARY+k3y/9 {basic} CANARY%2Bk3y%2F9 \u{1b}[2J\u{1b}]0;x\u{7}\nerror: forged"),
            "retry",
        )
        .printable();
        let shown = format!("{} {}", c.line(), c.to_json());
        for leak in ["CANARY", basic.as_str(), "\u{1b}", "\n"] {
            assert!(!shown.contains(leak), "{leak:?} in {shown:?}");
        }
        assert!(!c.line().chars().any(char::is_control), "{:?}", c.line());
    }

    #[test]
    fn local_errors_name_their_kind_once() {
        let c = CliError::input("tasks.jsonl line 3: invalid JSON");
        assert_eq!(c.code, code::INPUT);
        assert!(c.line().starts_with("error: bad input: tasks.jsonl line 3"));
        assert!(c.line().contains("nothing from it was submitted"));
    }
}
