//! The command-line arguments of an emulator, shared by the standalone `labelmux-emulator`
//! binary and `labelmux emulate`, so both accept the same options and build the same
//! [`EmulatorConfig`].

use crate::{emulated_vendors, EmulatorConfig, FaultConfig, Lifecycle, Vendor};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use std::net::SocketAddr;
use std::time::Duration;

/// How to run one vendor emulator. The projects to seed are not here: `labelmux emulate` takes
/// them from its global `--project`, the standalone binary from its own; see
/// [`EmulatorArgs::config`].
#[derive(clap::Args, Clone, Debug)]
pub struct EmulatorArgs {
    /// Vendor API to emulate.
    #[arg(value_parser = vendor_parser(), ignore_case = true)]
    pub vendor: Vendor,
    /// Address to bind (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// The API key the emulator accepts (a test key, not a real one).
    #[arg(long, default_value = "emulator-key", value_name = "KEY")]
    pub api_key: String,
    /// Move every open task one lifecycle step every N milliseconds (default: tasks move only
    /// through the `/_emulator/` control API).
    #[arg(long, value_name = "N")]
    pub lifecycle_ms: Option<u64>,
    /// Fraction (0..1) of vendor-API requests that fail: half 503, half 429 with
    /// Retry-After: 1.
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_rate)]
    pub fault_rate: f64,
    /// Seed of the fault sequence, for reproducible faults (default: random).
    #[arg(long, value_name = "SEED")]
    pub fault_seed: Option<u64>,
    /// Enforce the vendor's documented rate limits (e.g. Sama multi-task status: 1 call/s).
    #[arg(long)]
    pub enforce_rate_limits: bool,
}

impl EmulatorArgs {
    /// The configuration these arguments describe, seeding `projects` (empty: the vendor's
    /// default project).
    pub fn config(&self, projects: Vec<String>) -> EmulatorConfig {
        let mut config = EmulatorConfig::new(self.vendor);
        config.addr = self.addr;
        config.api_key = self.api_key.clone();
        if !projects.is_empty() {
            config.projects = projects;
        }
        if let Some(ms) = self.lifecycle_ms {
            config.lifecycle = Lifecycle::Auto {
                step: Duration::from_millis(ms.max(1)),
            };
        }
        config.faults = FaultConfig {
            unavailable_rate: self.fault_rate / 2.0,
            throttle_rate: self.fault_rate / 2.0,
            retry_after_secs: 1.0,
            seed: self.fault_seed,
            ..FaultConfig::default()
        };
        config.enforce_rate_limits = self.enforce_rate_limits;
        config
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: when a foreground emulator should shut down.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The names of the vendors this build emulates (shown by `--help`), parsed into a [`Vendor`].
fn vendor_parser() -> impl TypedValueParser<Value = Vendor> {
    PossibleValuesParser::new(emulated_vendors().into_iter().map(Vendor::name))
        .try_map(|name| name.parse::<Vendor>())
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("{s:?} is not a fraction between 0 and 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        emulator: EmulatorArgs,
    }

    fn parse(args: &[&str]) -> Result<EmulatorArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("emu").chain(args.iter().copied())).map(|c| c.emulator)
    }

    #[test]
    fn every_option_reaches_the_config() {
        let a = parse(&[
            "segments",
            "--addr",
            "127.0.0.1:8800",
            "--api-key",
            "k",
            "--lifecycle-ms",
            "0",
            "--fault-rate",
            "0.5",
            "--fault-seed",
            "7",
            "--enforce-rate-limits",
        ])
        .unwrap();
        let c = a.config(vec!["me/set".to_owned()]);
        assert_eq!(c.vendor, Vendor::Segments);
        assert_eq!(c.addr, SocketAddr::from(([127, 0, 0, 1], 8800)));
        assert_eq!(c.api_key, "k");
        assert_eq!(c.projects, ["me/set"]);
        assert_eq!(
            c.lifecycle,
            Lifecycle::Auto {
                step: Duration::from_millis(1)
            }
        );
        assert_eq!(c.faults.unavailable_rate, 0.25);
        assert_eq!(c.faults.throttle_rate, 0.25);
        assert_eq!(c.faults.seed, Some(7));
        assert!(c.enforce_rate_limits);
    }

    #[test]
    fn defaults_give_the_vendor_defaults() {
        let c = parse(&["labelbox"]).unwrap().config(Vec::new());
        let d = EmulatorConfig::new(Vendor::Labelbox);
        assert_eq!(
            (c.addr, &c.api_key, &c.projects),
            (d.addr, &d.api_key, &d.projects)
        );
        assert_eq!(c.lifecycle, Lifecycle::Manual);
        assert_eq!(c.faults.unavailable_rate + c.faults.throttle_rate, 0.0);
        assert!(!c.enforce_rate_limits);
    }

    #[test]
    fn unknown_vendors_and_bad_rates_are_usage_errors_listing_the_choices() {
        let e = parse(&["acme"]).unwrap_err().to_string();
        for v in emulated_vendors() {
            assert!(e.contains(v.name()), "{e}");
        }
        for rate in ["1.5", "-0.1", "NaN", "x"] {
            let e = parse(&["sama", &format!("--fault-rate={rate}")]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{rate}");
        }
    }
}
