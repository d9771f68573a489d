//! `labelmux-emulator <vendor> [--addr 127.0.0.1:PORT] [--api-key KEY] [--project ID]...
//! [--lifecycle-ms N] [--fault-rate F] [--fault-seed SEED] [--enforce-rate-limits]`: serve a
//! vendor emulator until SIGINT/SIGTERM, after printing one line
//! `base_url=<url> api_key=<key>` to stdout.

use clap::Parser;
use labelmux_emulator::cli::{shutdown_signal, EmulatorArgs};
use labelmux_emulator::start;
use std::io::Write;

/// Local emulator of an annotation-vendor API (for tests and demos of labelmux).
#[derive(Parser, Debug)]
#[command(name = "labelmux-emulator", version)]
struct Args {
    #[command(flatten)]
    emulator: EmulatorArgs,
    /// Seeded project id (repeatable); default per vendor (Sama: 1001, Scale: demo, Labelbox:
    /// clemudemoproject000000001, Segments: labelmux/demo).
    #[arg(long = "project", value_name = "ID")]
    projects: Vec<String>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let emu = match start(args.emulator.config(args.projects)).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: could not start the emulator: {e}");
            std::process::exit(1);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "base_url={} api_key={}", emu.base_url(), emu.api_key());
        let _ = out.flush();
    }
    shutdown_signal().await;
    emu.shutdown().await;
}
