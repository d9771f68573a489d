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
pub mod output;
pub mod progress;
pub mod sink;
mod tablefile;
pub mod taskfile;

use args::{Cli, OutputMode};
use clap::Parser;
use exit::CliError;

/// The sample task file `labelmux demo` sends: 200 tasks with the Sama emulator's default
/// project inputs (`url`, `name`, `external_id`), every fourth with an `output_label`
/// pre-annotation.
pub const SAMPLE_TASKS: &str = include_str!("../assets/sample_tasks.jsonl");

/// Parse the command line, run the command, print any error; returns the process exit code.
pub fn main_entry() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with code 0; usage errors to stderr with code 2.
            let _ = e.print();
            return e.exit_code();
        }
    };
    init_tracing(cli.global.verbose);
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
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => exit::code::OK,
        Err(e) => {
            report(&e, global.verbose, global.output);
            e.code
        }
    }
}

/// Print an error: one line on stderr (plus causes under `-v`), and under `--output json` a
/// JSON document on stdout.
pub fn report(e: &CliError, verbose: u8, output: OutputMode) {
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
/// Without `-v` nothing is logged. Secrets never reach logs: the transport redacts URLs.
fn init_tracing(verbose: u8) {
    if verbose == 0 {
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
