//! `emulate <vendor>`: a vendor emulator in the foreground.

use super::Ctx;
use crate::args::{EmulateArgs, EmulatorAction, EmulatorArgs};
use crate::exit::{code, CliError};
use labelmux_emulator::cli::shutdown_signal;
use labelmux_emulator::{emulated_vendors, start, FaultConfig};
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
    let a = a.emulator;
    let config = a.config(ctx.global.project.clone());
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
    shutdown_signal().await;
    emu.shutdown().await;
    ctx.note("Emulator stopped.");
    Ok(())
}

/// `labelmux emulator ACTION`: one call of the `/_emulator/` control API of the emulator the
/// configuration points at (`--base-url`, `LABELMUX_BASE_URL`, ...), printed as JSON.
pub(crate) async fn control(ctx: &Ctx, a: EmulatorArgs) -> Result<(), CliError> {
    let cfg = ctx.config()?;
    let vendor = cfg.provider;
    let Some(base) = cfg.settings(vendor).base_url.clone() else {
        return Err(CliError::usage(format!(
            "no emulator to control: pass the emulator's --base-url (as `labelmux emulate {vendor}` printed it)"
        )));
    };
    // The control API lives at the root, beside the vendor path (`/v2`, `/v1`).
    let mut root = reqwest::Url::parse(&base).map_err(|e| {
        let shown = labelmux::transport::redact::redact_url_str(&base);
        CliError::usage(format!("--base-url {shown}: {e}"))
    })?;
    root.set_path("/_emulator/");
    root.set_query(None);
    let url = |path: &str| root.join(path).map_err(|e| CliError::usage(e.to_string()));
    let project = || ctx.project(&cfg).map(|p| p.to_string());
    let client = reqwest::Client::new();
    let request = match a.action {
        EmulatorAction::State => client.get(url("state")?),
        EmulatorAction::Reset => client.post(url("reset")?),
        EmulatorAction::Faults => {
            let rate = a.fault_rate.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&rate) {
                return Err(CliError::usage("--fault-rate must be between 0 and 1"));
            }
            let faults = FaultConfig {
                unavailable_rate: rate / 2.0,
                throttle_rate: rate / 2.0,
                retry_after_secs: 1.0,
                latency_ms: a.latency_ms.unwrap_or(0),
                ..FaultConfig::default()
            };
            client.put(url("faults")?).json(&faults)
        }
        EmulatorAction::Reject => {
            let mut query = vec![("project", project()?)];
            if let Some(t) = &a.task {
                query.push(("task", t.clone()));
            }
            client
                .post(url("reject")?)
                .query(&query)
                .json(&json!({ "reasons": a.reasons }))
        }
        step => {
            let name = match step {
                EmulatorAction::Advance => "advance",
                EmulatorAction::Complete => "complete",
                EmulatorAction::Deliver => "deliver",
                _ => "finish",
            };
            client.post(url(name)?).query(&[("project", project()?)])
        }
    };
    let unreachable = |e: reqwest::Error| {
        let mut err = CliError::other(
            format!("cannot reach the emulator at {root}: {e}"),
            "start it with `labelmux emulate <vendor>` and pass the base URL it printed",
        );
        err.code = code::VENDOR;
        err
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let mut err = CliError::other(
            format!(
                "the emulator refused `{:?}` (HTTP {status}): {body}",
                a.action
            )
            .to_lowercase(),
            "check the project and task ids",
        );
        err.code = if status.as_u16() == 404 {
            code::NOT_FOUND
        } else {
            code::USAGE
        };
        return Err(err);
    }
    if ctx.json() {
        crate::output::print_json(&body);
    } else {
        match body.get("moved") {
            Some(n) => println!(
                "{}: {} of project {} moved.",
                body.get("operation")
                    .and_then(|o| o.as_str())
                    .unwrap_or("done"),
                crate::output::count(n.as_u64().unwrap_or(0), "task", "tasks"),
                body.get("project").and_then(|p| p.as_str()).unwrap_or("?")
            ),
            None => crate::output::print_json(&body),
        }
    }
    Ok(())
}
