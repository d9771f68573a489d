//! The same pipeline, switched between vendors by configuration only, gives the same observable
//! outcome.

use labelmux::{AnyProvider, Config, ProjectId, Vendor};
use labelmux_suite::{emulated_config, read_task_file, run_pipeline, PipelineOutcome};
use std::io::Write;

fn task_file() -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    for i in 0..40 {
        writeln!(
            f,
            r#"{{"url": "https://example.com/{i}.jpg", "external_id": "key-{i:02}"}}"#
        )
        .unwrap();
    }
    f.flush().unwrap();
    f
}

async fn run_with(vendor: Vendor) -> PipelineOutcome {
    let (emulator, emulated) = emulated_config(vendor).await.unwrap();
    // Round-trip through TOML: the pipeline sees only a configuration, as in production.
    let toml = format!(
        "provider = \"{vendor}\"\nproject = \"{}\"\nstate_dir = \"{}\"\n[transport]\nmax_attempts = 6\ninitial_backoff_ms = 10\n[{vendor}]\nbase_url = \"{}\"\n{}",
        emulated.project.clone().unwrap(),
        emulated.state_dir.clone().unwrap().join(vendor.name()).display(),
        emulated.settings(vendor).base_url.clone().unwrap(),
        // The one difference between the runs: where each vendor wants the image URL.
        match vendor {
            Vendor::Scale => "[scale.inputs]\nrename = { url = \"attachment\" }\ndefaults = { attachment_type = \"image\" }\n",
            Vendor::Labelbox => "[labelbox.inputs]\nrename = { url = \"row_data\" }\n",
            Vendor::Segments => "[segments.inputs]\nrename = { url = \"image.url\" }\n",
            _ => "",
        },
    );
    let mut config = Config::from_toml_str(&toml).unwrap();
    config.settings_mut(vendor).api_key = Some(emulator.api_key().into());
    let provider = AnyProvider::from_config(&config).unwrap();
    assert_eq!(labelmux::Provider::vendor(&provider), vendor);

    let file = task_file();
    let tasks = read_task_file(file.path()).unwrap();
    let project = ProjectId::new(config.project.clone().unwrap());
    let control = emulator.control();
    let name = project.to_string();
    run_pipeline(&provider, &project, tasks, "switching-test", || {
        let control = control.clone();
        let name = name.clone();
        async move {
            control.finish_all(&name);
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_same_pipeline_runs_on_every_vendor_with_the_same_outcome() {
    let sama = run_with(Vendor::Sama).await;
    let scale = run_with(Vendor::Scale).await;
    let labelbox = run_with(Vendor::Labelbox).await;
    let segments = run_with(Vendor::Segments).await;
    let expected_keys: Vec<String> = (0..40).map(|i| format!("key-{i:02}")).collect();
    for outcome in [&sama, &scale, &labelbox, &segments] {
        assert_eq!(outcome.submitted, 40);
        assert_eq!(outcome.created, 40);
        assert_eq!(outcome.delivered, 40);
        assert_eq!(outcome.delivered_keys, expected_keys);
        assert!(outcome.rejected_key.is_some());
        assert_eq!(outcome.rejected_state, Some(labelmux::TaskState::Rejected));
    }
    // Which task is delivered first may differ by vendor; everything else must match.
    let comparable = |o: &PipelineOutcome| PipelineOutcome {
        rejected_key: None,
        ..o.clone()
    };
    for other in [&scale, &labelbox, &segments] {
        assert_eq!(comparable(&sama), comparable(other));
    }
}

#[test]
fn a_bad_task_file_line_is_reported_by_number() {
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    writeln!(f, r#"{{"url": "a"}}"#).unwrap();
    writeln!(f, r#"{{"url": "b", "output_label": "{{not json"}}"#).unwrap();
    let err = read_task_file(f.path()).unwrap_err();
    assert_eq!(err.kind(), labelmux::ErrorKind::Validation);
    assert!(
        err.to_string().contains("line 2") && err.to_string().contains("output_label"),
        "{err}"
    );
}
