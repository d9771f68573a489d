//! `labelmux-emulator <sama|scale> [--addr 127.0.0.1:PORT] [--api-key KEY] [--project ID]...
//! [--lifecycle-ms N] [--fault-rate F]`: serve a vendor emulator until SIGINT/SIGTERM, after
//! printing one line `base_url=<url> api_key=<key>` to stdout.

use clap::Parser;
use labelmux_emulator::{start, EmulatorConfig, FaultConfig, Lifecycle, Vendor};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// Local emulator of an annotation-vendor API (for tests and demos of labelmux).
#[derive(Parser, Debug)]
#[command(name = "labelmux-emulator", version)]
struct Args {
    /// Vendor API to emulate (sama, scale).
    vendor: Vendor,
    /// Address to bind (loopback only is recommended).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The API key the emulator accepts.
    #[arg(long, default_value = "emulator-key")]
    api_key: String,
    /// Seeded project id (repeatable); default per vendor (Sama: 1001, Scale: demo).
    #[arg(long = "project")]
    projects: Vec<String>,
    /// Advance every open task one lifecycle step every N milliseconds (default: manual).
    #[arg(long)]
    lifecycle_ms: Option<u64>,
    /// Fraction of vendor-API requests that fail: half 503, half 429 with Retry-After: 1.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Seed of the fault sequence (reproducible faults).
    #[arg(long)]
    fault_seed: Option<u64>,
    /// Enforce documented rate limits (Sama multi-task status: 1 call/s).
    #[arg(long)]
    enforce_rate_limits: bool,
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
    if !(0.0..=1.0).contains(&args.fault_rate) {
        eprintln!("error: --fault-rate must be between 0 and 1");
        std::process::exit(2);
    }
    let mut config = EmulatorConfig::new(args.vendor);
    config.addr = args.addr;
    config.api_key = args.api_key;
    if !args.projects.is_empty() {
        config.projects = args.projects;
    }
    if let Some(ms) = args.lifecycle_ms {
        config.lifecycle = Lifecycle::Auto {
            step: Duration::from_millis(ms.max(1)),
        };
    }
    config.faults = FaultConfig {
        unavailable_rate: args.fault_rate / 2.0,
        throttle_rate: args.fault_rate / 2.0,
        retry_after_secs: 1.0,
        seed: args.fault_seed,
        ..FaultConfig::default()
    };
    config.enforce_rate_limits = args.enforce_rate_limits;
    let emu = match start(config).await {
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
    wait_for_signal().await;
    emu.shutdown().await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
