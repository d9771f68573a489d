//! Workspace-level code shared by `examples/` and `tests/`: one labeling pipeline, written once
//! against [`labelmux::Provider`], that runs unchanged whichever vendor the configuration picks.
#![deny(missing_docs)]

use futures::{stream, StreamExt, TryStreamExt};
use labelmux::{
    AnyProvider, BatchSpec, BatchStatus, Config, DeliveryQuery, Error, ErrorKind, ProjectId,
    Provider, Result, TaskSpec, TaskState, Vendor, WaitOptions,
};
use labelmux_cli::taskfile::TaskFile;
use std::path::Path;
use std::time::Duration;

/// What one pipeline run observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineOutcome {
    /// Tasks read from the file and sent.
    pub submitted: u64,
    /// Tasks the vendor created.
    pub created: u64,
    /// Deliveries pulled.
    pub delivered: u64,
    /// External keys of the delivered tasks, sorted.
    pub delivered_keys: Vec<String>,
    /// External key of the task that was rejected.
    pub rejected_key: Option<String>,
    /// State of that task read back after the rejection (`Rejected` when the vendor took it).
    pub rejected_state: Option<TaskState>,
}

/// Read a task file (JSONL or CSV, by extension) with the CLI's parser: `output_` columns are
/// pre-annotations, `external_id` is the external key. A bad row is an error naming its line
/// (and column); nothing is returned until the whole file parses.
pub fn read_task_file(path: &Path) -> Result<Vec<TaskSpec>> {
    let file = TaskFile::open(path, None).map_err(|e| Error::validation(e.message.clone()))?;
    let rows = file
        .rows()
        .map_err(|e| Error::validation(e.message.clone()))?;
    rows.map(|row| {
        row.map(|r| r.spec)
            .map_err(|e| Error::validation(format!("{}: {e}", path.display())))
    })
    .collect()
}

/// The pipeline: create a batch from `tasks`, wait until its creation completes, let `advance`
/// drive the vendor's workforce (an emulator control in tests; a no-op in production), pull every
/// delivery since `consumer`'s last call, and reject one delivered task.
pub async fn run_pipeline<F, Fut>(
    provider: &AnyProvider,
    project: &ProjectId,
    tasks: Vec<TaskSpec>,
    consumer: &str,
    advance: F,
) -> Result<PipelineOutcome>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let spec = BatchSpec::default().with_name(format!("pipeline-{consumer}"));
    let receipt = provider
        .create_batch(
            project,
            spec,
            stream::iter(tasks.into_iter().map(Ok)).boxed(),
            None,
        )
        .await?;

    let waiting = WaitOptions::default()
        .with_interval(Duration::from_millis(50), Duration::from_millis(200))
        .with_timeout(Duration::from_secs(30));
    let batch = provider
        .wait_batch(project, &receipt.batch_id, waiting)
        .await?;
    if batch.status != BatchStatus::Created {
        return Err(Error::new(
            ErrorKind::Internal,
            format!("batch ended {}", batch.status),
        ));
    }

    advance().await;

    let mut delivered_keys = Vec::new();
    let mut last_checkpoint = None;
    let mut deliveries = provider.deliveries(project, DeliveryQuery::since_last_call(consumer));
    let mut first = None;
    while let Some(d) = deliveries.try_next().await? {
        delivered_keys.push(d.external_key.clone().unwrap_or_default());
        if first.is_none() {
            first = Some(d.task_id.clone());
        }
        last_checkpoint = d.checkpoint.clone().or(last_checkpoint);
    }
    drop(deliveries);
    if let Some(cp) = last_checkpoint {
        provider.commit_consumer(project, consumer, &cp).await?;
    }
    delivered_keys.sort();

    let mut rejected_key = None;
    let mut rejected_state = None;
    if let Some(task) = first {
        provider
            .reject_task(project, &task, &["box too loose".to_owned()])
            .await?;
        let after = provider.get_task(project, &task).await?;
        rejected_key = after.external_key;
        rejected_state = Some(after.state);
    }
    Ok(PipelineOutcome {
        submitted: receipt.submitted,
        created: batch.counts.created,
        delivered: delivered_keys.len() as u64,
        delivered_keys,
        rejected_key,
        rejected_state,
    })
}

/// The input mapping that lets one neutral task file (columns `url`, `name`, `external_id`, as
/// the Sama emulator's default project has them) feed `vendor`: Scale takes the image as
/// `attachment`.
pub fn neutral_inputs(vendor: Vendor) -> labelmux::InputMapping {
    let mut mapping = labelmux::InputMapping::default();
    match vendor {
        Vendor::Scale => {
            mapping.rename.insert("url".into(), "attachment".into());
            mapping
                .defaults
                .insert("attachment_type".into(), "image".into());
        }
        Vendor::Labelbox => {
            mapping.rename.insert("url".into(), "row_data".into());
        }
        Vendor::Segments => {
            mapping.rename.insert("url".into(), "image.url".into());
        }
        _ => {}
    }
    mapping
}

/// Start the built-in emulator of `vendor` and a configuration pointing at it: what the examples
/// and the switching test use instead of real credentials.
pub async fn emulated_config(
    vendor: Vendor,
) -> Result<(labelmux_emulator::RunningEmulator, Config)> {
    let emu = labelmux_emulator::start(labelmux_emulator::EmulatorConfig::new(vendor))
        .await
        .map_err(|e| Error::config(format!("cannot start the {vendor} emulator: {e}")))?;
    let mut config = Config::for_vendor(vendor);
    config.project = emu.projects().first().cloned();
    let settings = config.settings_mut(vendor);
    settings.base_url = Some(emu.base_url());
    settings.api_key = Some(emu.api_key().into());
    settings.inputs = neutral_inputs(vendor);
    config.state_dir =
        Some(std::env::temp_dir().join(format!("labelmux-state-{}", std::process::id())));
    Ok((emu, config))
}
