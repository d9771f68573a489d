//! `emulate <vendor>`: a vendor emulator in the foreground.

use super::Ctx;
use crate::args::EmulateArgs;
use crate::exit::{code, CliError};
use crate::output;
use labelmux_emulator::cli::shutdown_signal;
use labelmux_emulator::{emulated_vendors, start};
use serde_json::json;
use std::io::Write;

/// An emulator that failed to start: unsupported vendor or address in use.
pub(crate) fn start_error(vendor: labelmux::Vendor, e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::Unsupported {
        let mut err = CliError::usage(format!("there is no {vendor} emulator in this build: {e}"));
        err.code = code::UNSUPPORTED;
        err.kind = "unsupported".into();
        let names: Vec<&str> = emulated_vendors().into_iter().map(|v| v.name()).collect();
        err.advice = Some(format!("emulated vendors: {}", names.join(", ")));
        err
    } else {
        CliError::io(format!("cannot start the {vendor} emulator"), e)
    }
}

pub(crate) async fn run(ctx: &Ctx, a: EmulateArgs) -> Result<(), CliError> {
    let a = a.emulator;
    let config = a.config(ctx.global.project.clone());
    let emu = start(config).await.map_err(|e| start_error(a.vendor, e))?;
    if ctx.json() {
        output::print_json(&json!({
            "vendor": a.vendor.name(),
            "base_url": emu.base_url(),
            "api_key": emu.api_key(),
            "projects": emu.projects(),
        }));
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
    shutdown_signal().await;
    emu.shutdown().await;
    ctx.note("Emulator stopped.");
    Ok(())
}
