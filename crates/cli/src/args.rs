//! The command line (clap derive).

use crate::sink::DeliveryFormat;
use crate::taskfile::TaskFileFormat;
use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use labelmux::{TaskState, Vendor};
use std::net::SocketAddr;
use std::path::PathBuf;

/// One command line over the data-annotation vendors Sama, Scale AI, Labelbox and Segments.ai.
///
/// Start with `labelmux demo` (no account needed). API keys come from the config file or the
/// vendor's environment variable (SAMA_API_KEY, SCALE_API_KEY, ...), never from a flag.
#[derive(Parser, Debug)]
#[command(
    name = "labelmux",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file (default: $LABELMUX_CONFIG, else ./labelmux.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Provider to use: sama, scale, labelbox, segments (overrides the config's `provider`).
    #[arg(long, global = true, value_name = "NAME")]
    pub provider: Option<Vendor>,
    /// API base URL of the provider (e.g. an emulator's), overriding the config.
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// Project id (default: the config's `project`, or $LABELMUX_PROJECT). `emulate` takes it
    /// several times (the projects to seed); other commands take it once.
    #[arg(long = "project", global = true, value_name = "ID", action = clap::ArgAction::Append)]
    pub project: Vec<String>,
    /// More detail: -v shows error causes and logs, -vv traces HTTP calls (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// No progress bars or notes; results and errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How results are printed: tables for humans, or one JSON document for scripts.
    #[arg(long, global = true, value_enum, value_name = "MODE", default_value_t = OutputMode::Human)]
    pub output: OutputMode,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// Tables and sentences.
    Human,
    /// One JSON document per command on stdout.
    Json,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Try labelmux end to end with no account, config or network: an in-process emulator,
    /// 200 sample tasks, labels pulled into ./labelmux-demo/deliveries.jsonl.
    Demo(DemoArgs),
    /// Run a vendor emulator in the foreground until interrupted (prints its base URL and key).
    Emulate(EmulateArgs),
    /// Create and manage tasks.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Follow batches.
    #[command(subcommand)]
    Batches(BatchesCommand),
    /// Pull finished labels.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Project information and statistics.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// The JSON Schema tasks of the project must match.
    Schema,
    /// What the configured provider supports (needs no API key).
    Capabilities,
}

/// `labelmux demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Directory the deliveries file is written to.
    #[arg(long, default_value = "labelmux-demo", value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Milliseconds per step of the emulated workforce (new → in progress → completed →
    /// delivered).
    #[arg(long, default_value_t = 150, value_name = "MS")]
    pub step_ms: u64,
}

/// `labelmux emulate`. Its projects to seed are the (repeatable) global `--project`; default
/// per vendor (Sama: 1001, Scale: demo).
#[derive(Args, Debug)]
pub struct EmulateArgs {
    /// Vendor API to emulate (sama, scale).
    pub vendor: Vendor,
    /// Address to bind (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// The API key the emulator accepts (a test key, not a real one).
    #[arg(long, default_value = "emulator-key", value_name = "KEY")]
    pub api_key: String,
    /// Move every open task one lifecycle step every N milliseconds (default: tasks stay put).
    #[arg(long, value_name = "N")]
    pub lifecycle_ms: Option<u64>,
    /// Fraction (0..1) of vendor-API requests that fail: half 503, half 429 with Retry-After.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub fault_rate: f64,
}

/// `labelmux tasks ...`.
#[derive(Subcommand, Debug)]
pub enum TasksCommand {
    /// Create one batch of tasks from a JSONL or CSV file. Every row is checked before anything
    /// is sent: a bad row stops the command with its line number and nothing is submitted.
    /// Columns are inputs; `output_<name>` columns are pre-annotations (JSON text); `external_id`
    /// and `priority` are the external key and priority. Empty CSV cells are left out.
    Create(CreateArgs),
    /// List tasks, optionally filtered.
    List(ListArgs),
    /// Show one task, with its answers.
    Get(GetArgs),
    /// Send a task back for rework.
    Reject(RejectArgs),
    /// Set the priority of tasks (lower is worked first).
    Priority(PriorityArgs),
    /// Delete tasks (vendors delete only tasks not yet worked on; the others are reported).
    Delete(DeleteArgs),
}

/// `labelmux tasks create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The task file.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// File format (default: from the extension: .jsonl/.ndjson/.json or .csv).
    #[arg(long, value_enum)]
    pub format: Option<TaskFileFormat>,
    /// Batch name (Sama: client batch id; Scale: batch name).
    #[arg(long, value_name = "N")]
    pub batch_name: Option<String>,
    /// Priority of every task that has no `priority` column value.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Submit tasks with their pre-annotations right away (Sama).
    #[arg(long)]
    pub submit: bool,
    /// Wait until the vendor has created every task, then report failures by line.
    #[arg(long)]
    pub wait: bool,
}

/// `labelmux tasks list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only tasks of this batch.
    #[arg(long, value_name = "B")]
    pub batch: Option<String>,
    /// Only tasks in this state (new, in_progress, completed, approved, delivered,
    /// acknowledged, rejected, canceled, failed).
    #[arg(long, value_name = "S", value_parser = parse_state)]
    pub state: Option<TaskState>,
    /// Only tasks created at or after this instant (RFC 3339, e.g. 2024-05-01T00:00:00Z).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Include answers.
    #[arg(long)]
    pub answers: bool,
}

/// `labelmux tasks get`.
#[derive(Args, Debug)]
pub struct GetArgs {
    /// The task id.
    #[arg(long, value_name = "T")]
    pub task: String,
}

/// `labelmux tasks reject`.
#[derive(Args, Debug)]
pub struct RejectArgs {
    /// The task id.
    #[arg(long, value_name = "T")]
    pub task: String,
    /// Why (repeatable; at least one).
    #[arg(long = "reason", value_name = "R", required = true)]
    pub reasons: Vec<String>,
}

/// `labelmux tasks priority`.
#[derive(Args, Debug)]
pub struct PriorityArgs {
    /// The new priority.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub priority: i32,
    /// Task ids.
    #[arg(value_name = "TASK", required = true)]
    pub tasks: Vec<String>,
}

/// `labelmux tasks delete`.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Task ids.
    #[arg(value_name = "TASK", required = true)]
    pub tasks: Vec<String>,
}

/// `labelmux batches ...`.
#[derive(Subcommand, Debug)]
pub enum BatchesCommand {
    /// Show the state of a batch and of the creation of its tasks.
    Status(StatusArgs),
    /// Cancel the creation of a batch.
    Cancel(BatchArg),
}

/// `labelmux batches status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The batch id.
    #[arg(long, value_name = "B")]
    pub batch: String,
    /// Wait until creation has finished (completed, canceled or failed).
    #[arg(long)]
    pub wait: bool,
    /// Seconds between polls with --wait.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub interval: f64,
    /// Give up waiting after this many seconds (default: wait as long as it takes).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

/// A batch id.
#[derive(Args, Debug)]
pub struct BatchArg {
    /// The batch id.
    #[arg(long, value_name = "B")]
    pub batch: String,
}

/// `labelmux deliveries ...`.
#[derive(Subcommand, Debug)]
pub enum DeliveriesCommand {
    /// Pull delivered labels into a file, streaming (memory does not grow with the count).
    ///
    /// With --since or --all, FILE is overwritten. With --consumer, FILE is appended to and the
    /// consumer's cursor moves on only after the file is durably written (fsync), so an
    /// interrupted pull loses nothing and the next run resumes where this one stopped. (Sama
    /// keeps the cursor itself and moves it when a page is read; labelmux fsyncs each page as
    /// it is written.)
    #[command(group(ArgGroup::new("from").required(true).args(["since", "consumer", "all"])))]
    Pull(PullArgs),
}

/// `labelmux deliveries pull`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Deliveries at or after this instant (RFC 3339).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Deliveries since this named consumer's last pull (appends to FILE or the Delta table).
    #[arg(long, value_name = "NAME")]
    pub consumer: Option<String>,
    /// Every delivery the vendor still lists.
    #[arg(long)]
    pub all: bool,
    /// Only this batch.
    #[arg(long, value_name = "B")]
    pub batch: Option<String>,
    /// The file to write.
    #[arg(long, value_name = "FILE", required_unless_present = "delta")]
    pub out: Option<PathBuf>,
    /// File format (default: csv for a .csv file, parquet for a .parquet file, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<DeliveryFormat>,
    /// Append to this Delta Lake table (a directory, created if missing; or an object-store
    /// URL) in one commit; with --consumer, exactly once (docs/tables.md).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "format"])]
    pub delta: Option<String>,
}

/// `labelmux project ...`.
#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Name, state and type of the project.
    Info,
    /// Task counts by state.
    Stats(StatsArgs),
}

/// `labelmux project stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Count tasks from this instant (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Count tasks up to this instant (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
}

/// Parse an RFC 3339 instant.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}; expected RFC 3339, e.g. 2024-05-01T00:00:00Z"))
}

/// Parse a task state, refusing names labelmux does not know.
pub fn parse_state(s: &str) -> Result<TaskState, String> {
    match TaskState::parse(s) {
        TaskState::Other(_) => Err(format!(
            "unknown state; known states: {}",
            TaskState::KNOWN
                .iter()
                .map(|k| k.as_str().replace(' ', "_"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        known => Ok(known),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("labelmux").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let cli = parse(&[
            "tasks",
            "create",
            "--from",
            "t.csv",
            "--project",
            "1001",
            "--provider",
            "Scale",
            "--output",
            "json",
            "-vv",
            "--priority",
            "-3",
        ])
        .unwrap();
        assert_eq!(cli.global.project, ["1001"]);
        assert_eq!(cli.global.provider, Some(Vendor::Scale));
        assert_eq!(cli.global.output, OutputMode::Json);
        assert_eq!(cli.global.verbose, 2);
        match cli.command {
            Command::Tasks(TasksCommand::Create(c)) => assert_eq!(c.priority, Some(-3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_providers_list_the_known_ones() {
        let err = parse(&["--provider", "samma", "capabilities"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(text.contains("sama, scale, labelbox, segments"), "{text}");
    }

    #[test]
    fn deliveries_pull_needs_exactly_one_starting_point() {
        assert!(parse(&["deliveries", "pull", "--out", "x"]).is_err());
        assert!(parse(&[
            "deliveries",
            "pull",
            "--out",
            "x",
            "--consumer",
            "c",
            "--since",
            "2024-01-01T00:00:00Z"
        ])
        .is_err());
        let cli = parse(&[
            "deliveries",
            "pull",
            "--out",
            "x",
            "--since",
            "2024-01-01T00:00:00+02:00",
        ])
        .unwrap();
        match cli.command {
            Command::Deliveries(DeliveriesCommand::Pull(p)) => {
                assert_eq!(p.since.unwrap().to_rfc3339(), "2023-12-31T22:00:00+00:00")
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&["deliveries", "pull", "--out", "x", "--since", "yesterday"]).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"));
    }

    #[test]
    fn states_are_checked() {
        assert_eq!(parse_state("in_progress"), Ok(TaskState::InProgress));
        let err = parse_state("done").unwrap_err();
        assert!(
            err.contains("in_progress") && err.contains("delivered"),
            "{err}"
        );
    }

    #[test]
    fn reject_needs_a_reason_and_priority_needs_tasks() {
        assert!(parse(&["tasks", "reject", "--task", "t1"]).is_err());
        assert!(parse(&["tasks", "priority", "--priority", "1"]).is_err());
        let cli = parse(&[
            "tasks", "reject", "--task", "t1", "--reason", "a", "--reason", "b",
        ])
        .unwrap();
        match cli.command {
            Command::Tasks(TasksCommand::Reject(r)) => assert_eq!(r.reasons, ["a", "b"]),
            other => panic!("{other:?}"),
        }
    }
}
