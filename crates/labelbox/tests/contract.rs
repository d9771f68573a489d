//! The labelmux behaviour contract (crates/contract), run against the Labelbox emulator.

use labelmux_contract::{EmulatorFixture, InvalidTask};
use labelmux_core::cursor::FileCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::TaskSpec;
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use labelmux_labelbox::{LabelboxClient, LabelboxProvider, PollSettings};
use serde_json::json;

const WRONG_KEY: &str = "contract-wrong-key";

fn provider(emu: &RunningEmulator, key: String, cursors: &std::path::Path) -> LabelboxProvider {
    // Enough attempts to ride out the contract's injected faults (10% 503, 429 bursts, drops).
    let transport = TransportConfig {
        max_attempts: 12,
        ..TransportConfig::fast_for_tests()
    };
    let client = LabelboxClient::new(&emu.root_url(), SecretString::from(key), transport)
        .expect("Labelbox client over the emulator")
        .with_poll_settings(PollSettings::fast_for_tests());
    LabelboxProvider::new(client, FileCursorStore::new(cursors))
}

/// An image data row.
fn valid_task(i: usize) -> TaskSpec {
    TaskSpec::new(
        json!({"row_data": format!("https://assets.example/contract/{i}.jpg")})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

/// A task without an asset: refused before anything is sent.
fn invalid_task() -> InvalidTask {
    InvalidTask {
        spec: TaskSpec::new(
            json!({"external_id": "no asset"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
        message_contains: "has no row_data".to_owned(),
    }
}

async fn fixture() -> EmulatorFixture {
    let emu = start(EmulatorConfig::new(Vendor::Labelbox))
        .await
        .expect("start the Labelbox emulator");
    let cursors = tempfile::tempdir().expect("a directory for consumer cursors");
    let good = provider(&emu, emu.api_key(), cursors.path());
    let bad = provider(&emu, WRONG_KEY.to_owned(), cursors.path());
    EmulatorFixture::new(emu, good, bad, valid_task, invalid_task)
        .with_secret(WRONG_KEY)
        .with_guard(cursors)
}

labelmux_contract::contract_tests!(fixture);
labelmux_contract::contract_self_tests!(fixture);
