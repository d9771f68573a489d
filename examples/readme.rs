use futures::{stream, StreamExt, TryStreamExt};
use labelmux::{
    AnyProvider, BatchSpec, Config, DeliveryQuery, JsonMap, ProjectId, Provider, TaskSpec,
};

#[tokio::main]
async fn main() -> labelmux::Result<()> {
    // labelmux.toml and/or LABELMUX_PROVIDER, LABELMUX_PROJECT, SAMA_API_KEY / SCALE_API_KEY, …
    let config = Config::load(None)?;
    let provider = AnyProvider::from_config(&config)?;
    let project = ProjectId::new(config.project.clone().unwrap_or_default());

    // Send work out: a stream, so a million tasks never sit in memory.
    let tasks = (0..1_000).map(|i| {
        let mut inputs = JsonMap::new();
        inputs.insert("url".into(), format!("https://cdn.example/{i}.jpg").into());
        Ok(TaskSpec::new(inputs).with_external_key(format!("img-{i}")))
    });
    let receipt = provider
        .create_batch(
            &project,
            BatchSpec::default(),
            stream::iter(tasks).boxed(),
            None,
        )
        .await?;
    if receipt.refused_all() {
        let why = receipt.failures.iter().flat_map(|f| &f.errors).next();
        return Err(labelmux::Error::validation(format!(
            "the vendor refused every task: {}",
            why.map_or("no reason given", |w| w.as_str())
        )));
    }
    println!(
        "batch {} ({} tasks sent, {} refused)",
        receipt.batch_id,
        receipt.submitted,
        receipt.failures.len()
    );

    // Pull finished labels since this consumer's last call.
    let mut deliveries = provider.deliveries(&project, DeliveryQuery::since_last_call("etl"));
    let mut last = None;
    while let Some(d) = deliveries.try_next().await? {
        println!("{} {}", d.task_id, d.answers);
        last = d.checkpoint.clone().or(last);
    }
    drop(deliveries);
    if let Some(checkpoint) = last {
        // The consumer's cursor moves only once you have stored the labels (every vendor).
        provider
            .commit_consumer(&project, "etl", &checkpoint)
            .await?;
    }
    Ok(())
}
