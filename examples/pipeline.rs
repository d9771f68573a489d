//! A labeling pipeline written once and run against whichever vendor the configuration picks.
//!
//! ```sh
//! cargo run --example pipeline                          # Sama emulator
//! LABELMUX_PROVIDER=scale cargo run --example pipeline  # Scale emulator, same code
//! ```
//! It starts the chosen vendor's built-in emulator, so it needs no credentials or network.

use labelmux::{AnyProvider, ProjectId, Vendor};
use labelmux_suite::{emulated_config, run_pipeline};

#[tokio::main]
async fn main() -> labelmux::Result<()> {
    let vendor: Vendor = std::env::var("LABELMUX_PROVIDER")
        .unwrap_or_else(|_| "sama".into())
        .parse()
        .map_err(|e| labelmux::Error::config(format!("LABELMUX_PROVIDER: {e}")))?;
    let (emulator, config) = emulated_config(vendor).await?;
    // From here on nothing depends on the vendor: this is what production code looks like.
    let provider = AnyProvider::from_config(&config)?;
    let project = ProjectId::new(config.project.clone().unwrap_or_default());
    let tasks = (0..20)
        .map(|i| {
            let mut inputs = serde_json::Map::new();
            inputs.insert(
                "url".into(),
                format!("https://example.com/img/{i}.jpg").into(),
            );
            labelmux::TaskSpec::new(inputs).with_external_key(format!("img-{i}"))
        })
        .collect();
    let control = emulator.control();
    let project_name = project.to_string();
    let outcome = run_pipeline(&provider, &project, tasks, "example", || {
        let control = control.clone();
        let project_name = project_name.clone();
        async move {
            control.finish_all(&project_name);
        }
    })
    .await?;
    println!(
        "{vendor}: submitted {}, created {}, delivered {}, rejected {:?}",
        outcome.submitted, outcome.created, outcome.delivered, outcome.rejected_key
    );
    Ok(())
}
