//! A labeling pipeline written once and run against whichever vendor the configuration picks:
//! send tasks out, wait for the vendor to create them, pull the finished labels, send one back.
//!
//! ```sh
//! cargo run --example pipeline                             # Sama emulator
//! LABELMUX_PROVIDER=scale cargo run --example pipeline     # Scale emulator, same code
//! LABELMUX_PROVIDER=labelbox cargo run --example pipeline  # Labelbox emulator
//! LABELMUX_PROVIDER=segments cargo run --example pipeline  # Segments.ai emulator
//! ```
//! It starts the chosen vendor's built-in emulator (so it needs no credentials or network) and
//! writes the configuration a production `labelmux.toml` would hold; only `emulator` lines would
//! differ in production.

use futures::{stream, StreamExt, TryStreamExt};
use labelmux::{
    AnyProvider, BatchSpec, Config, DeliveryQuery, ProjectId, Provider, TaskSpec, Vendor,
    WaitOptions,
};
use labelmux_emulator::{EmulatorConfig, RunningEmulator};
use std::process::ExitCode;
use std::time::Duration;

#[tokio::main]
async fn main() -> ExitCode {
    // A `labelmux::Error` displays as a message that names the vendor, the operation and what to
    // do; print that rather than returning it (which would print its `Debug` form).
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> labelmux::Result<()> {
    let vendor: Vendor = std::env::var("LABELMUX_PROVIDER")
        .unwrap_or_else(|_| "sama".into())
        .parse()
        .map_err(|e| labelmux::Error::config(format!("LABELMUX_PROVIDER: {e}")))?;
    pipeline(vendor).await.map(|_| ())
}

/// What one run saw: tasks created, deliveries pulled, the state of the task sent back.
#[derive(Debug)]
pub struct Seen {
    /// Tasks the vendor created.
    pub created: u64,
    /// Deliveries pulled.
    pub pulled: usize,
    /// The state of the reworked task, read back.
    pub reworked_state: Option<labelmux::TaskState>,
}

/// The pipeline on `vendor`'s emulator.
pub async fn pipeline(vendor: Vendor) -> labelmux::Result<Seen> {
    let emulator = start_emulator(vendor).await?;
    let config = Config::from_toml_str(&config_toml(vendor, &emulator))?;

    // From here on nothing depends on the vendor: this is what production code looks like.
    let provider = AnyProvider::from_config(&config)?;
    let project = ProjectId::new(config.project.clone().unwrap_or_default());

    // 1. Send work out, as a stream (a million tasks never sit in memory).
    let tasks = (0..20).map(|i| {
        Ok(TaskSpec::default()
            .with_input("url", format!("https://example.com/img/{i}.jpg").into())
            .with_external_key(format!("img-{i}")))
    });
    let receipt = provider
        .create_batch(
            &project,
            BatchSpec::default().with_name("pipeline-example"),
            stream::iter(tasks).boxed(),
            None,
        )
        .await?;
    println!(
        "{vendor}: batch {} sent with {} tasks",
        receipt.batch_id, receipt.submitted
    );

    // 2. Wait until the vendor has created every task (a poller that backs off).
    let batch = provider
        .wait_batch(
            &project,
            &receipt.batch_id,
            WaitOptions::default()
                .with_interval(Duration::from_millis(50), Duration::from_millis(500))
                .with_timeout(Duration::from_secs(60)),
        )
        .await?;
    println!(
        "batch {}: {} created, {} refused",
        batch.status, batch.counts.created, batch.counts.failed
    );

    // (The emulated workforce labels everything now; in production, people do, over days.)
    emulator.control().finish_all(project.as_str());

    // 3. Pull the labels delivered since this consumer's last call. Store them first, then
    //    commit the cursor: a crash in between re-delivers instead of losing labels.
    let consumer = "example-etl";
    let mut deliveries = provider.deliveries(&project, DeliveryQuery::since_last_call(consumer));
    let mut stored = Vec::new();
    let mut checkpoint = None;
    while let Some(d) = deliveries.try_next().await? {
        stored.push(d.task_id.clone());
        checkpoint = d.checkpoint.clone().or(checkpoint);
    }
    drop(deliveries);
    if let Some(cp) = checkpoint {
        provider.commit_consumer(&project, consumer, &cp).await?;
    }
    println!("pulled {} deliveries", stored.len());

    // 4. Send one label back for rework, with the reason the labelers will see.
    let mut reworked_state = None;
    if let Some(task) = stored.first() {
        provider
            .reject_task(&project, task, &["box too loose".to_owned()])
            .await?;
        let after = provider.get_task(&project, task).await?;
        println!("task {task} is now {}", after.state);
        reworked_state = Some(after.state);
    }
    emulator.shutdown().await;
    Ok(Seen {
        created: batch.counts.created,
        pulled: stored.len(),
        reworked_state,
    })
}

async fn start_emulator(vendor: Vendor) -> labelmux::Result<RunningEmulator> {
    labelmux_emulator::start(EmulatorConfig::new(vendor))
        .await
        .map_err(|e| labelmux::Error::config(format!("cannot start the {vendor} emulator: {e}")))
}

/// The configuration file a team would keep, pointed at the emulator. The `inputs` tables let
/// one task shape (`url`) feed every vendor: renaming is configuration, not code.
fn config_toml(vendor: Vendor, emulator: &RunningEmulator) -> String {
    let inputs = match vendor {
        Vendor::Scale => {
            "[scale.inputs]\nrename = { url = \"attachment\" }\ndefaults = { attachment_type = \"image\" }\n"
        }
        Vendor::Labelbox => "[labelbox.inputs]\nrename = { url = \"row_data\" }\n",
        Vendor::Segments => "[segments.inputs]\nrename = { url = \"image.url\" }\n",
        _ => "",
    };
    let project = emulator.projects().first().cloned().unwrap_or_default();
    let state_dir = std::env::temp_dir().join(format!("labelmux-example-{}", std::process::id()));
    format!(
        "provider = \"{vendor}\"\nproject = \"{project}\"\nstate_dir = {state_dir:?}\n\n[{vendor}]\nbase_url = \"{}\"\n# production: api_key_env = \"…_API_KEY\" (a key in a file is discouraged)\napi_key = \"{}\"\n{inputs}",
        emulator.base_url(),
        emulator.api_key(),
    )
}
