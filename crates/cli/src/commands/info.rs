//! `project info`, `project stats`, `schema`, `capabilities`.

use super::Ctx;
use crate::args::StatsArgs;
use crate::exit::CliError;
use crate::output::{self, opt};
use labelmux::Provider;
use serde_json::json;

pub(crate) async fn project_info(ctx: &Ctx) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let p = provider.project(&project).await?;
    if ctx.json() {
        output::print_json(&p);
    } else {
        let t = output::fields(&[
            ("project", p.id.to_string()),
            ("name", opt(p.name.as_deref())),
            ("state", opt(p.state.as_deref())),
            ("type", opt(p.kind.as_deref())),
            ("description", opt(p.description.as_deref())),
            ("provider", provider.vendor().to_string()),
        ]);
        output::print_table(&t);
    }
    Ok(())
}

pub(crate) async fn project_stats(ctx: &Ctx, a: StatsArgs) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let s = provider
        .project_stats(&project, labelmux::StatsOptions::window(a.from, a.to))
        .await?;
    if ctx.json() {
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        v["total"] = json!(s.total());
        output::print_json(&v);
    } else {
        let mut t = output::table(&["state", "tasks"]);
        for (state, n) in &s.tasks_by_state {
            t.add_row(vec![state.clone(), n.to_string()]);
        }
        t.add_row(vec!["total".to_owned(), s.total().to_string()]);
        println!("Project {project} ({}):", provider.vendor());
        output::print_table(&t);
    }
    Ok(())
}

pub(crate) async fn schema(ctx: &Ctx) -> Result<(), CliError> {
    let (provider, cfg) = ctx.provider()?;
    let project = ctx.project(&cfg)?;
    let schema = provider.task_schema(&project).await?;
    // The schema is JSON either way; humans get it pretty-printed too.
    output::print_json(&schema);
    Ok(())
}

pub(crate) async fn capabilities(ctx: &Ctx) -> Result<(), CliError> {
    // From the adapter's static table: no key, no provider, no network.
    let vendor = ctx.config()?.provider;
    let Some(caps) = labelmux::capabilities_of(vendor) else {
        let names: Vec<&str> = labelmux::available_vendors()
            .into_iter()
            .map(labelmux::Vendor::name)
            .collect();
        let mut e = CliError::from(
            labelmux::Error::new(
                labelmux::ErrorKind::Unsupported,
                format!(
                    "the {vendor} adapter is not part of this release; available providers: {}",
                    names.join(", ")
                ),
            )
            .with_vendor(vendor),
        );
        e.advice = Some(format!("use --provider {}", names.join(" or --provider ")));
        return Err(e);
    };
    if ctx.json() {
        let named: serde_json::Map<String, serde_json::Value> = caps
            .entries()
            .into_iter()
            .map(|(name, on)| (name.to_owned(), json!(on)))
            .collect();
        output::print_json(&json!({
            "provider": vendor.name(),
            "capabilities": named,
            "delivers_at": caps.delivers_at,
        }));
    } else {
        println!("Provider: {vendor}");
        output::print_table(&output::capabilities_table(&caps));
    }
    Ok(())
}

/// The config file `Config::load` reads: `--config`, else `$LABELMUX_CONFIG`, else
/// `./labelmux.toml` if present.
fn config_file(ctx: &Ctx) -> Option<std::path::PathBuf> {
    ctx.global
        .config
        .clone()
        .or_else(|| std::env::var_os("LABELMUX_CONFIG").map(Into::into))
        .or_else(|| {
            let p = std::path::PathBuf::from(labelmux::DEFAULT_CONFIG_FILE);
            p.exists().then_some(p)
        })
}

pub(crate) async fn config_show(ctx: &Ctx) -> Result<(), CliError> {
    use labelmux::Config;
    // The same configuration in stages; a value's source is the last stage that changed it.
    let file = config_file(ctx);
    let from_file = match &file {
        Some(p) => Config::from_file(p)?,
        None => Config::for_vendor(labelmux::Vendor::Sama),
    };
    let mut from_env = from_file.clone();
    from_env.apply_env(|k| std::env::var(k).ok())?;
    from_env.apply_env_options(std::env::vars());
    let effective = ctx.config()?;
    let vendor = effective.provider;
    let file_label = file
        .as_ref()
        .map(|p| format!("file {}", p.display()))
        .unwrap_or_else(|| "default".to_owned());
    let rows_of = |cfg: &Config| -> Vec<(String, String)> {
        let mut rows = vec![
            ("provider".to_owned(), cfg.provider.name().to_owned()),
            ("project".to_owned(), opt(cfg.project.as_deref())),
            (
                "state_dir".to_owned(),
                cfg.cursor_store().dir().display().to_string(),
            ),
            (format!("{vendor}.base_url"), cfg.base_url_shown(vendor)),
            (
                format!("{vendor}.inputs"),
                serde_json::to_string(&cfg.settings(vendor).inputs).unwrap_or_default(),
            ),
        ];
        for (k, v) in &cfg.settings(vendor).options {
            rows.push((format!("{vendor}.{k}"), v.to_string()));
        }
        if let Ok(serde_json::Value::Object(t)) = cfg
            .transport_for(vendor)
            .map(|t| serde_json::to_value(t).unwrap_or_default())
        {
            for (k, v) in t {
                rows.push((format!("transport.{k}"), v.to_string()));
            }
        }
        rows
    };
    let defaults = rows_of(&labelmux::Config::for_vendor(vendor));
    let stages = [
        (rows_of(&from_file), file_label.clone()),
        (rows_of(&from_env), "environment".to_owned()),
        (rows_of(&effective), "flag".to_owned()),
    ];
    let mut shown = Vec::new();
    for (key, value) in rows_of(&effective) {
        let mut source = "default".to_owned();
        let mut previous = defaults
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone());
        for (rows, label) in &stages {
            let here = rows.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
            if here != previous {
                source = label.clone();
            }
            previous = here;
        }
        shown.push((key, value, source));
    }
    // The key: only whether there is one and where it comes from.
    let settings = effective.settings(vendor);
    let env_name = settings
        .api_key_env
        .clone()
        .unwrap_or_else(|| vendor.api_key_env().to_owned());
    let key_state = if settings.api_key.is_some() {
        ("set (REDACTED)".to_owned(), file_label)
    } else if effective.api_key(vendor).is_ok() {
        (
            "set (REDACTED)".to_owned(),
            format!("environment {env_name}"),
        )
    } else {
        (format!("missing: set {env_name}"), "-".to_owned())
    };
    shown.push((format!("{vendor}.api_key"), key_state.0, key_state.1));
    if ctx.json() {
        let doc: serde_json::Map<String, serde_json::Value> = shown
            .iter()
            .map(|(k, v, s)| (k.clone(), json!({"value": v, "source": s})))
            .collect();
        output::print_json(&doc);
    } else {
        let mut t = output::table(&["setting", "value", "from"]);
        for (k, v, s) in shown {
            t.add_row(vec![k, v, s]);
        }
        output::print_table(&t);
    }
    Ok(())
}

pub(crate) async fn doctor(ctx: &Ctx) -> Result<(), CliError> {
    let mut checks: Vec<(String, bool, String)> = Vec::new();
    let mut first_error: Option<CliError> = None;
    let mut record = |what: &str, result: Result<String, CliError>| match result {
        Ok(detail) => checks.push((what.to_owned(), true, detail)),
        Err(e) => {
            checks.push((
                what.to_owned(),
                false,
                e.line().trim_start_matches("error: ").to_owned(),
            ));
            first_error.get_or_insert(e);
        }
    };
    let cfg = ctx.config();
    record(
        "configuration",
        cfg.as_ref()
            .map(|c| format!("provider {}", c.provider))
            .map_err(Clone::clone),
    );
    if let Ok(cfg) = cfg {
        let vendor = cfg.provider;
        record(
            "adapter",
            labelmux::capabilities_of(vendor)
                .map(|_| format!("{vendor} is in this build"))
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "the {vendor} adapter is not part of this build; available: {}",
                        labelmux::available_vendors()
                            .into_iter()
                            .map(labelmux::Vendor::name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }),
        );
        record(
            "API key",
            cfg.api_key(vendor)
                .map(|_| "present (not shown)".to_owned())
                .map_err(CliError::from),
        );
        let project = ctx.project(&cfg);
        record(
            "project",
            project
                .as_ref()
                .map(|p| p.to_string())
                .map_err(Clone::clone),
        );
        if let (Ok(project), Ok(provider)) = (project, labelmux::AnyProvider::from_config(&cfg)) {
            let answer = provider
                .project(&project)
                .await
                .map(|p| {
                    format!(
                        "{} answered at {} (project {})",
                        vendor,
                        cfg.base_url_shown(vendor),
                        p.name.unwrap_or_else(|| p.id.to_string())
                    )
                })
                .map_err(CliError::from);
            record("reachable, key accepted", answer);
        }
    }
    if ctx.json() {
        let doc: Vec<serde_json::Value> = checks
            .iter()
            .map(|(w, ok, d)| json!({"check": w, "ok": ok, "detail": d}))
            .collect();
        output::print_json(&json!({ "checks": doc }));
    } else {
        let mut t = output::table(&["check", "", "detail"]);
        for (w, ok, d) in &checks {
            t.add_row(vec![
                w.clone(),
                if *ok { "ok" } else { "FAILED" }.to_owned(),
                d.clone(),
            ]);
        }
        output::print_table(&t);
    }
    match first_error {
        Some(mut e) => {
            e.result_printed = true;
            Err(e)
        }
        None => Ok(()),
    }
}
