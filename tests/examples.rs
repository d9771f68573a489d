//! The examples are run, not only compiled: `examples/pipeline.rs` on every emulated vendor.

#[allow(dead_code)]
#[path = "../examples/pipeline.rs"]
mod pipeline;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_example_runs_unchanged_on_every_vendor() {
    for vendor in labelmux_emulator::emulated_vendors() {
        let seen = pipeline::pipeline(vendor)
            .await
            .unwrap_or_else(|e| panic!("{vendor}: {e}"));
        assert_eq!(seen.created, 20, "{vendor}: {seen:?}");
        assert_eq!(seen.pulled, 20, "{vendor}: {seen:?}");
        assert_eq!(
            seen.reworked_state,
            Some(labelmux::TaskState::Rejected),
            "{vendor}: {seen:?}"
        );
    }
}
