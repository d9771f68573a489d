//! `demo`: the whole loop against an in-process emulator, with no account, config or network.

use super::batches::wait_for_batch;
use super::deliveries::pull_into;
use super::emulate::start_error;
use super::tasks::send_file;
use super::Ctx;
use crate::args::DemoArgs;
use crate::exit::CliError;
use crate::output;
use crate::sink::{DeliveryFormat, DeliveryWriter};
use crate::taskfile::{TaskFile, TaskFileFormat};
use crate::SAMPLE_TASKS;
use futures::TryStreamExt;
use labelmux::transport::SecretString;
use labelmux::{
    AnyProvider, BatchSpec, Config, DeliveryQuery, Error, ErrorKind, ProjectId, Provider,
    TaskFilter, TaskSpec, TaskState, Vendor,
};
use labelmux_emulator::{start, EmulatorConfig, Lifecycle};
use serde_json::json;
use std::time::{Duration, Instant};

/// The demo gives up if the emulated workforce has not delivered everything by then.
const DEMO_TIMEOUT: Duration = Duration::from_secs(120);

/// Tasks whose labels can be pulled: in the state the vendor delivers at
/// (`Capabilities::delivers_at`: Sama delivered, Scale completed, Labelbox and Segments
/// approved), or later.
fn is_pullable(delivers_at: &TaskState, state: &TaskState) -> bool {
    state == delivers_at
        || matches!(state, TaskState::Delivered | TaskState::Acknowledged)
        || (*delivers_at == TaskState::Completed && *state == TaskState::Approved)
}

async fn pullable_count(provider: &AnyProvider, project: &ProjectId) -> Result<u64, Error> {
    let delivers_at = provider.capabilities().delivers_at;
    match provider
        .project_stats(project, labelmux::StatsOptions::default())
        .await
    {
        Ok(s) => Ok(s
            .tasks_by_state
            .iter()
            .filter(|(k, _)| is_pullable(&delivers_at, &TaskState::parse(k)))
            .map(|(_, n)| n)
            .sum()),
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            provider
                .list_tasks(project, TaskFilter::default())
                .try_fold(0u64, |n, t| {
                    let pullable = is_pullable(&delivers_at, &t.state);
                    async move { Ok(n + u64::from(pullable)) }
                })
                .await
        }
        Err(e) => Err(e),
    }
}

/// A sample task as a Scale image task: `url` becomes the `attachment`, `name` metadata.
fn sample_for_scale(mut t: TaskSpec) -> TaskSpec {
    if let Some(url) = t.inputs.remove("url") {
        t.inputs.insert("attachment".into(), url);
        t.inputs.insert("attachment_type".into(), json!("image"));
    }
    if let Some(name) = t.inputs.remove("name") {
        t.metadata.insert("name".into(), name);
    }
    t
}

/// A sample task as a Labelbox data row: `url` is the `row_data`, `name` metadata. The
/// sample's pre-annotations are Sama answers, which Labelbox does not take on import.
fn sample_for_labelbox(mut t: TaskSpec) -> TaskSpec {
    if let Some(url) = t.inputs.remove("url") {
        t.inputs.insert("row_data".into(), url);
    }
    if let Some(name) = t.inputs.remove("name") {
        t.metadata.insert("name".into(), name);
    }
    t.pre_annotations.clear();
    t
}

/// A sample task as a Segments.ai image sample: `{"image": {"url": …}}`, `name` metadata. The
/// sample's pre-annotations are Sama answers, not Segments label attributes.
fn sample_for_segments(mut t: TaskSpec) -> TaskSpec {
    if let Some(url) = t.inputs.remove("url") {
        t.inputs.insert("image".into(), json!({ "url": url }));
    }
    if let Some(name) = t.inputs.remove("name") {
        t.metadata.insert("name".into(), name);
    }
    t.pre_annotations.clear();
    t
}

pub(crate) async fn run(ctx: &Ctx, a: DemoArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let vendor = ctx.global.provider.unwrap_or(Vendor::Sama);
    let mut emu_config = EmulatorConfig::new(vendor);
    emu_config.lifecycle = Lifecycle::Auto {
        step: Duration::from_millis(a.step_ms.max(1)),
    };
    let emu = start(emu_config)
        .await
        .map_err(|e| start_error(vendor, e))?;
    let project = ProjectId::new(
        emu.projects()
            .into_iter()
            .next()
            .ok_or_else(|| CliError::other("the emulator has no project", "report this bug"))?,
    );

    // Configuration is built here, not loaded: the demo ignores labelmux.toml and the
    // environment, and its key is the emulator's test key.
    let mut cfg = Config::for_vendor(vendor);
    cfg.settings_mut(vendor).base_url = Some(emu.base_url());
    cfg.settings_mut(vendor).api_key = Some(SecretString::from(emu.api_key()));
    cfg.state_dir = Some(a.out_dir.join(".state"));
    let provider = AnyProvider::from_config(&cfg)?;
    ctx.note(format!(
        "Started the {vendor} emulator at {} (project {project}); tasks move one step every {} ms.",
        emu.base_url(),
        a.step_ms
    ));

    // 1. Send the sample file as one batch.
    let file = TaskFile::embedded("sample_tasks.jsonl", SAMPLE_TASKS, TaskFileFormat::Jsonl);
    let summary = file.validate()?;
    let spec = BatchSpec::default().with_name("labelmux-demo");
    // The sample matches the Sama project's inputs; Scale wants its own task parameters.
    let adapt: fn(TaskSpec) -> TaskSpec = match vendor {
        Vendor::Scale => sample_for_scale,
        Vendor::Labelbox => sample_for_labelbox,
        Vendor::Segments => sample_for_segments,
        _ => |t| t,
    };
    let receipt = send_file(&provider, &project, &file, &summary, spec, ctx.bars, adapt).await?;
    ctx.note(format!(
        "Sent {} tasks as batch {}.",
        receipt.submitted, receipt.batch_id
    ));

    // 2. Wait for the vendor to create them.
    let batch = wait_for_batch(
        &provider,
        &project,
        &receipt.batch_id,
        ctx.bars,
        Duration::from_millis(100),
        Some(DEMO_TIMEOUT),
    )
    .await?;
    let created = batch.counts.created.max(receipt.created);
    let failed = batch.counts.failed.max(receipt.failures.len() as u64);
    ctx.note(format!(
        "Batch {}: {created} created, {failed} failed.",
        batch.status
    ));

    // 3. Let the emulated workforce label and deliver them.
    let bar = ctx.bars.waiting(created, "labelling");
    let labelled_at = Instant::now();
    loop {
        let done = pullable_count(&provider, &project).await?;
        bar.set_position(done.min(created));
        if done >= created {
            break;
        }
        if labelled_at.elapsed() > DEMO_TIMEOUT {
            bar.finish_and_clear();
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("only {done} of {created} tasks were delivered in {DEMO_TIMEOUT:?}"),
            )
            .with_vendor(vendor)
            .with_operation("demo")
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.finish_and_clear();

    // 4. Pull the deliveries into the file.
    let path = a.out_dir.join("deliveries.jsonl");
    let mut writer = DeliveryWriter::open(&path, DeliveryFormat::Jsonl, false)
        .map_err(|e| CliError::io(format!("cannot create {}", path.display()), e))?
        .with_annotations(provider.vendor());
    let bar = ctx.bars.items("deliveries", "pulling");
    let query = DeliveryQuery::all().batch(receipt.batch_id.clone());
    let outcome = pull_into(
        &provider,
        &project,
        query,
        &mut writer,
        &bar,
        std::future::pending(),
        None,
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    emu.shutdown().await;
    let elapsed = started.elapsed();

    if ctx.json() {
        output::print_json(&json!({
            "provider": vendor.name(),
            "project_id": project,
            "batch_id": receipt.batch_id,
            "tasks_sent": receipt.submitted,
            "tasks_created": created,
            "tasks_failed": failed,
            "delivered": outcome.written,
            "file": path.display().to_string(),
            "elapsed_secs": elapsed.as_secs_f64(),
        }));
    } else {
        println!("labelmux demo ({vendor} emulator)");
        println!(
            "{}",
            output::fields(&[
                ("tasks sent", receipt.submitted.to_string()),
                ("tasks created", created.to_string()),
                ("tasks failed", failed.to_string()),
                ("delivered", outcome.written.to_string()),
                ("time taken", format!("{:.1}s", elapsed.as_secs_f64())),
                ("deliveries file", path.display().to_string()),
            ])
        );
        // The demo renames inputs for Scale in code; a real run needs the same mapping, which
        // the environment can carry, so the hint works as printed.
        let inputs = if vendor == Vendor::Scale {
            "\n  export LABELMUX_SCALE_INPUTS='{\"rename\": {\"url\": \"attachment\"}, \"defaults\": {\"attachment_type\": \"image\"}}'"
        } else {
            ""
        };
        println!(
            "Next: look at the file, then point labelmux at a real project (see docs/cli.md):\n  export {}=...{inputs}\n  labelmux --provider {vendor} --project <ID> tasks create --from tasks.jsonl",
            vendor.api_key_env(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pullable_follows_each_vendors_delivery_state() {
        let at = |v| labelmux::capabilities_of(v).unwrap().delivers_at;
        assert!(is_pullable(&at(Vendor::Sama), &TaskState::Delivered));
        assert!(!is_pullable(&at(Vendor::Sama), &TaskState::Completed));
        assert!(is_pullable(&at(Vendor::Scale), &TaskState::Completed));
        assert!(!is_pullable(&at(Vendor::Scale), &TaskState::New));
        // Segments delivers reviewed labels: labeled is not enough.
        assert!(!is_pullable(&at(Vendor::Segments), &TaskState::Completed));
        assert!(is_pullable(&at(Vendor::Segments), &TaskState::Approved));
        assert!(is_pullable(&at(Vendor::Labelbox), &TaskState::Approved));
    }
}
