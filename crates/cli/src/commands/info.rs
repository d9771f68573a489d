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
        println!("{t}");
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
        println!("{t}");
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
        println!("{}", output::capabilities_table(&caps));
    }
    Ok(())
}
