//! `emulate <vendor>`: a vendor emulator in the foreground.

use super::Ctx;
use crate::args::EmulateArgs;
use crate::exit::{code, CliError};
use labelmux_emulator::{start, EmulatorConfig, FaultConfig, Lifecycle};
use serde_json::json;
use std::io::Write;
use std::time::Duration;

/// An emulator that failed to start: unsupported vendor or address in use.
pub(crate) fn start_error(vendor: labelmux::Vendor, e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::Unsupported {
        let mut err = CliError::usage(format!("there is no {vendor} emulator in this build: {e}"));
        err.code = code::UNSUPPORTED;
        err.kind = "unsupported".into();
        err.advice = Some("use --provider sama".into());
        err
    } else if e.kind() == std::io::ErrorKind::AddrInUse {
        let mut err = CliError::io(format!("cannot start the {vendor} emulator"), e);
        err.code = code::USAGE;
        err.advice = Some(
            "another program listens on that address: pick another port with --addr 127.0.0.1:PORT (port 0 picks a free one)"
                .into(),
        );
        err
    } else {
        CliError::io(format!("cannot start the {vendor} emulator"), e)
    }
}

pub(crate) async fn run(ctx: &Ctx, a: EmulateArgs) -> Result<(), CliError> {
    if !(0.0..=1.0).contains(&a.fault_rate) {
        return Err(CliError::usage("--fault-rate must be between 0 and 1"));
    }
    let mut config = EmulatorConfig::new(a.vendor);
    config.addr = a.addr;
    config.api_key = a.api_key;
    if !ctx.global.project.is_empty() {
        config.projects = ctx.global.project.clone();
    }
    if let Some(ms) = a.lifecycle_ms {
        config.lifecycle = Lifecycle::Auto {
            step: Duration::from_millis(ms.max(1)),
        };
    }
    config.faults = FaultConfig {
        unavailable_rate: a.fault_rate / 2.0,
        throttle_rate: a.fault_rate / 2.0,
        retry_after_secs: 1.0,
        ..FaultConfig::default()
    };
    let emu = start(config).await.map_err(|e| start_error(a.vendor, e))?;
    if ctx.json() {
        // One line, so a script can read the first line and go on.
        let doc = json!({
            "vendor": a.vendor.name(),
            "base_url": emu.base_url(),
            "api_key": emu.api_key(),
            "projects": emu.projects(),
        });
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{doc}");
        let _ = out.flush();
    } else {
        // The first line is machine-readable, like the standalone `labelmux-emulator`.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "base_url={} api_key={}", emu.base_url(), emu.api_key());
        let _ = out.flush();
        drop(out);
        ctx.note(format!(
            "{} emulator serving projects {} (this is a test key, not a secret). Try:\n  export {}={}\n  labelmux --provider {} --base-url {} --project {} project info\nPress Ctrl-C to stop.",
            a.vendor,
            emu.projects().join(", "),
            a.vendor.api_key_env(),
            emu.api_key(),
            a.vendor,
            emu.base_url(),
            emu.projects().first().map(String::as_str).unwrap_or("ID"),
        ));
    }
    wait_for_signal().await;
    emu.shutdown().await;
    ctx.note("Emulator stopped.");
    Ok(())
}

async fn wait_for_signal() {
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
