//! # labelmux-cli
//!
//! The `labelmux` command: send tasks to an annotation vendor from JSONL/CSV files, follow
//! batches, pull finished labels into files, and try all of it with `labelmux demo` against an
//! in-process emulator. Built on the `labelmux` facade; see `docs/cli.md` for every command and
//! the exit codes.
//!
//! The library half exists so the pieces (task-file parsing, the delivery writer, exit codes,
//! the progress adapter) are unit-tested; the binary is [`main_entry`].
#![deny(missing_docs)]

pub mod args;
mod commands;
pub mod exit;
pub mod journal;
pub mod output;
pub mod progress;
pub mod sink;
mod tablefile;
pub mod taskfile;
pub mod taskinput;

use args::{Cli, OutputMode};
use exit::CliError;

/// The sample task file `labelmux demo` sends: 200 tasks with the Sama emulator's default
/// project inputs (`url`, `name`, `external_id`), every fourth with an `output_label`
/// pre-annotation.
pub const SAMPLE_TASKS: &str = include_str!("../assets/sample_tasks.jsonl");

/// Parse the command line, run the command, print any error; returns the process exit code.
pub fn main_entry() -> i32 {
    let parsed = args::command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with code 0; usage errors to stderr with code 2.
            let _ = e.print();
            if e.exit_code() != 0 && json_requested(std::env::args().skip(1)) {
                // Scripts asked for one JSON document on stdout: they get one for this too.
                let text = e.to_string();
                let message = text
                    .lines()
                    .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim_start_matches("error: ")
                    .to_owned();
                let mut err = exit::CliError::usage(message);
                err.code = e.exit_code();
                output::print_json(&err.to_json());
            }
            return e.exit_code();
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::code::OTHER;
        }
    };
    let global = cli.global.clone();
    let result = runtime.block_on(commands::run(cli));
    // A thread still blocked on input nobody waits for any more (a FIFO read when Ctrl-C came)
    // must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => exit::code::OK,
        Err(e) => {
            report(&e, global.verbose, global.output);
            e.code
        }
    }
}

/// Whether a command line that did not parse asked for `--output json`.
fn json_requested(args: impl Iterator<Item = String>) -> bool {
    let mut previous_was_output = false;
    for a in args {
        if a == "--output=json" || (previous_was_output && a == "json") {
            return true;
        }
        previous_was_output = a == "--output";
    }
    false
}

/// Print an error: one line on stderr (plus causes under `-v`), and under `--output json` a
/// JSON document on stdout; never a form of the API key nor a control character (see
/// [`exit::printable`]).
pub fn report(e: &CliError, verbose: u8, output: OutputMode) {
    let e = &e.printable();
    eprintln!("{}", e.line());
    if verbose > 0 {
        for d in &e.details {
            eprintln!("  caused by: {d}");
        }
    }
    if output == OutputMode::Json && !e.result_printed {
        output::print_json(&e.to_json());
    }
}

/// `-v` logs labelmux at debug level, `-vv` at trace, to stderr; `RUST_LOG` overrides both.
/// Without `-v` only retries are shown (once per kind of failure, see [`RetryNotes`]); `-q`
/// shows nothing. Secrets never reach logs: the transport redacts URLs.
fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    if verbose == 0 {
        if !quiet {
            let filter = tracing_subscriber::filter::Targets::new()
                .with_target("labelmux_core::transport", tracing::Level::DEBUG);
            let subscriber = tracing_subscriber::registry().with(
                tracing_subscriber::Layer::with_filter(RetryNotes::default(), filter),
            );
            let _ = tracing::subscriber::set_global_default(subscriber);
        }
        return;
    }
    let level = if verbose == 1 { "debug" } else { "trace" };
    let default = format!(
        "warn,labelmux={level},labelmux_core={level},labelmux_sama={level},labelmux_scale={level},labelmux_cli={level}"
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Prints a transport retry on stderr the first time each vendor fails that way (so a refused
/// connection is not 20 seconds of silence), and stays quiet about later retries of that kind.
#[derive(Default)]
pub struct RetryNotes {
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

#[derive(Default)]
struct RetryFields {
    message: String,
    vendor: String,
    operation: String,
    kind: String,
    error: String,
    attempt: u64,
    delay_ms: u64,
}

impl tracing::field::Visit for RetryFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "vendor" => self.vendor = value.to_owned(),
            "operation" => self.operation = value.to_owned(),
            "kind" => self.kind = value.to_owned(),
            "message" => self.message = value.to_owned(),
            _ => {}
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match field.name() {
            "attempt" => self.attempt = value,
            "delay_ms" => self.delay_ms = value,
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.record_u64(field, u64::try_from(value).unwrap_or(0));
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "error" => self.error = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RetryNotes {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = RetryFields::default();
        event.record(&mut f);
        if f.message != "retrying" {
            return;
        }
        let first = self
            .seen
            .lock()
            .map(|mut seen| seen.insert(format!("{}/{}", f.vendor, f.kind)))
            .unwrap_or(false);
        if first {
            eprintln!(
                "note: {}: {} failed (attempt {}): {}; retrying in {:.1}s (later retries after this kind of failure are not shown)",
                f.vendor,
                f.operation,
                f.attempt,
                f.error,
                f.delay_ms as f64 / 1000.0
            );
        }
    }
}
