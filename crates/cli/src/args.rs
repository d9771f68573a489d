//! The command line (clap derive).

use crate::sink::DeliveryFormat;
use crate::taskfile::TaskFileFormat;
use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use labelmux::{TaskState, Vendor};
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

/// Global options that a subcommand's `--help` leaves to `labelmux --help` (they still work
/// everywhere): listing them under every subcommand buried its own options.
const GLOBALS_LEFT_TO_TOP_HELP: [&str; 5] = ["config", "provider", "base_url", "verbose", "quiet"];

/// The command line: [`Cli`] with lean subcommand help.
pub fn command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    // A subcommand that already has a global option's id does not get the propagated copy:
    // give it a hidden copy, which parses and propagates exactly like the original.
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| GLOBALS_LEFT_TO_TOP_HELP.contains(&a.get_id().as_str()))
        .map(|a| a.clone().hide(true))
        .collect();
    lean_help(cmd, &hidden, true)
}

fn lean_help(mut cmd: clap::Command, hidden: &[clap::Arg], top: bool) -> clap::Command {
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subcommands {
        cmd = cmd.mut_subcommand(name, |s| lean_help(s, hidden, false));
    }
    if top {
        return cmd;
    }
    cmd = cmd.args(hidden.iter().cloned());
    if cmd.get_after_help().is_none() {
        cmd = cmd.after_help(
            "Also accepted: --config, --provider, --base-url, -v/--verbose, -q/--quiet (see `labelmux --help`).",
        );
    }
    cmd
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
    /// Drive a running emulator (the one --base-url points at): move tasks on, reject, faults.
    Emulator(EmulatorArgs),
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
    /// The configuration in force.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the configuration, the API key and that the vendor answers.
    Doctor,
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

/// `labelmux emulate`: the options of the standalone `labelmux-emulator`. Its projects to seed
/// are the (repeatable) global `--project`; default per vendor.
#[derive(Args, Debug)]
pub struct EmulateArgs {
    /// Vendor, address, key, lifecycle, faults and rate limits.
    #[command(flatten)]
    pub emulator: labelmux_emulator::cli::EmulatorArgs,
}

/// `labelmux emulator ACTION`: the emulator's `/_emulator/` control API from the shell.
#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// What to do.
    #[arg(value_enum)]
    pub action: EmulatorAction,
    /// `reject`: only this task (default: every answered task not yet delivered).
    #[arg(long, value_name = "T")]
    pub task: Option<String>,
    /// `reject`: why (repeatable).
    #[arg(long = "reason", value_name = "R")]
    pub reasons: Vec<String>,
    /// `faults`: fraction (0..1) of vendor-API requests that fail, half 503, half 429.
    #[arg(long, value_name = "F")]
    pub fault_rate: Option<f64>,
    /// `faults`: milliseconds added to every vendor-API request.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
}

/// An action of `labelmux emulator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmulatorAction {
    /// Move every open task of the project one lifecycle step.
    Advance,
    /// Complete every open task of the project.
    Complete,
    /// Deliver every completed task of the project.
    Deliver,
    /// Complete and deliver every task of the project.
    Finish,
    /// Send tasks back for rework (--task, --reason).
    Reject,
    /// Set the injected faults (--fault-rate, --latency-ms; none given: no faults).
    Faults,
    /// Print request count, faults and task counts per project and state.
    State,
    /// Forget every task, batch and consumer.
    Reset,
}

/// `labelmux config ...`.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Every setting in force and where it came from (default, file, environment, flag); keys
    /// are never shown.
    Show,
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
    /// Send only what an earlier, interrupted run of this file (same project and endpoint) did
    /// not: from the local journal of created batches, and by external key where the vendor
    /// can look tasks up.
    #[arg(long)]
    pub resume: bool,
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
    /// Only tasks created at or after this instant: RFC 3339 (2024-05-01T00:00:00Z), a date
    /// (2024-05-01) or an age (24h, 7d).
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
    /// The project's batches: from the vendor where it can list them, else the ones
    /// `tasks create` opened from this machine (its local journal).
    List,
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
    /// Deliveries at or after this instant: RFC 3339 (2024-05-01T00:00:00Z), a date
    /// (2024-05-01) or an age (24h, 7d).
    #[arg(long, value_name = "T", value_parser = parse_time)]
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
    /// jsonl lines carry the vendor-neutral annotations; coco writes a COCO file, yolo a YOLO
    /// directory at --out.
    #[arg(long, value_enum)]
    pub format: Option<DeliveryFormat>,
    /// Append to this Delta Lake table (a directory, created if missing; or an object-store
    /// URL) in one commit; with --consumer, exactly once (docs/tables.md).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "format"])]
    pub delta: Option<String>,
    /// JSONL: also write each delivery's raw vendor record as `raw` (it repeats the answers;
    /// Parquet and Delta tables always have a raw column).
    #[arg(long)]
    pub raw: bool,
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

/// Parse an instant: RFC 3339 (`2024-05-01T00:00:00Z`, also without seconds), a date
/// (`2024-05-01`, midnight UTC), a time without a zone (UTC), or an age before now (`90s`,
/// `30m`, `24h`, `7d`, `2w`).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    parse_time_at(s, Utc::now())
}

fn parse_time_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    let s = s.trim();
    let expected = "expected RFC 3339 (2024-05-01T00:00:00Z), a date (2024-05-01) or an age before now (24h, 7d)";
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    // Without seconds: `2024-05-01T10:30Z`, `2024-05-01T10:30+02:00`.
    let zoned = s.strip_suffix(['Z', 'z']).map(|x| format!("{x}+00:00"));
    let zoned = zoned.as_deref().unwrap_or(s);
    if let Ok(t) = DateTime::parse_from_str(zoned, "%Y-%m-%dT%H:%M%:z") {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)));
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if let (Ok(n), false) = (number.parse::<i64>(), number.is_empty()) {
        let unit_secs = match unit.trim() {
            "s" => Some(1),
            "m" | "min" => Some(60),
            "h" => Some(3600),
            "d" => Some(86_400),
            "w" => Some(7 * 86_400),
            _ => None,
        };
        if let Some(age) = unit_secs
            .and_then(|u| n.checked_mul(u))
            .and_then(chrono::TimeDelta::try_seconds)
        {
            return now
                .checked_sub_signed(age)
                .ok_or_else(|| format!("{s} reaches before the year 0; {expected}"));
        }
    }
    Err(format!("cannot read `{s}` as a time; {expected}"))
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
    fn emulate_takes_the_emulator_options_and_the_global_projects() {
        let cli = parse(&[
            "emulate",
            "segments",
            "--fault-seed",
            "7",
            "--enforce-rate-limits",
            "--project",
            "me/a",
            "--project",
            "me/b",
        ])
        .unwrap();
        let Command::Emulate(e) = cli.command else {
            panic!("{:?}", cli.command);
        };
        let config = e.emulator.config(cli.global.project);
        assert_eq!(config.vendor, Vendor::Segments);
        assert_eq!(config.faults.seed, Some(7));
        assert!(config.enforce_rate_limits);
        assert_eq!(config.projects, ["me/a", "me/b"]);
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
    fn times_accept_dates_short_forms_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| parse_time_at(s, now).map(|t| t.to_rfc3339());
        assert_eq!(at("2026-11-01").unwrap(), "2026-11-01T00:00:00+00:00");
        assert_eq!(
            at("2026-11-01T10:30Z").unwrap(),
            "2026-11-01T10:30:00+00:00"
        );
        assert_eq!(
            at("2026-11-01T10:30+02:00").unwrap(),
            "2026-11-01T08:30:00+00:00"
        );
        assert_eq!(at("2026-11-01T10:30").unwrap(), "2026-11-01T10:30:00+00:00");
        assert_eq!(at("24h").unwrap(), "2026-12-03T12:00:00+00:00");
        assert_eq!(at("7d").unwrap(), "2026-11-27T12:00:00+00:00");
        assert_eq!(at("90s").unwrap(), "2026-12-04T11:58:30+00:00");
        let err = at("yesterday").unwrap_err();
        assert!(
            err.contains("2024-05-01T00:00:00Z") && err.contains("7d"),
            "{err}"
        );
        assert!(at("7y").is_err());
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
