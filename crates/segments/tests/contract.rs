//! The labelmux behaviour contract (crates/contract), run against the Segments.ai emulator.

use labelmux_contract::{EmulatorFixture, InvalidTask};
use labelmux_core::cursor::FileCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::TaskSpec;
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use labelmux_segments::{SegmentsClient, SegmentsProvider};
use serde_json::json;

const WRONG_KEY: &str = "contract-wrong-key";

fn provider(emu: &RunningEmulator, key: String, cursors: &std::path::Path) -> SegmentsProvider {
    // Enough attempts to ride out the contract's injected faults (10% 503, 429 bursts, drops).
    let transport = TransportConfig {
        max_attempts: 12,
        ..TransportConfig::fast_for_tests()
    };
    let client = SegmentsClient::new(&emu.base_url(), SecretString::from(key), transport)
        .expect("Segments client over the emulator");
    SegmentsProvider::new(client, FileCursorStore::new(cursors))
}

/// An image sample for the emulator's default (`vector`) dataset.
fn valid_task(i: usize) -> TaskSpec {
    TaskSpec::new(
        json!({"image": {"url": format!("https://assets.example/contract/{i}.jpg")}})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

/// A sample without an image: Segments refuses its attributes.
fn invalid_task() -> InvalidTask {
    InvalidTask {
        spec: TaskSpec::new(
            json!({"text": "no image here"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
        message_contains: "Invalid sample attributes".to_owned(),
    }
}

async fn fixture() -> EmulatorFixture {
    let emu = start(EmulatorConfig::new(Vendor::Segments))
        .await
        .expect("start the Segments emulator");
    let cursors = tempfile::tempdir().expect("a directory for consumer cursors");
    let good = provider(&emu, emu.api_key(), cursors.path());
    let bad = provider(&emu, WRONG_KEY.to_owned(), cursors.path());
    EmulatorFixture::new(emu, good, bad, valid_task, invalid_task)
        .with_secret(WRONG_KEY)
        .with_guard(cursors)
}

labelmux_contract::contract_tests!(fixture);
labelmux_contract::contract_self_tests!(fixture);
