//! The labelmux behaviour contract (crates/contract), run against the Sama emulator.

use labelmux_contract::{EmulatorFixture, InvalidTask};
use labelmux_core::cursor::MemoryCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::TaskSpec;
use labelmux_emulator::{start, EmulatorConfig, RunningEmulator, Vendor};
use labelmux_sama::{SamaClient, SamaProvider};
use serde_json::json;

const WRONG_KEY: &str = "contract-wrong-key";

fn provider(emu: &RunningEmulator, key: String) -> SamaProvider {
    // Enough attempts to ride out the contract's injected faults (10% 503, 429 bursts, drops).
    let transport = TransportConfig {
        max_attempts: 12,
        ..TransportConfig::fast_for_tests()
    };
    let client = SamaClient::new(&emu.base_url(), SecretString::from(key), transport)
        .expect("Sama client over the emulator");
    SamaProvider::new(client, MemoryCursorStore::new())
}

/// A task of the emulator's default project (inputs `url`, `name`).
fn valid_task(i: usize) -> TaskSpec {
    TaskSpec::new(
        json!({"url": format!("https://assets.example/contract/{i}.jpg"), "name": format!("item {i}")})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

/// A pre-annotation for an output the project lacks: Sama refuses it with
/// `InvalidInputSchema: Invalid seeded output name(s): ...`.
fn invalid_task() -> InvalidTask {
    InvalidTask {
        spec: valid_task(999).with_pre_annotation("no_such_output", json!("x")),
        message_contains: "Invalid seeded output name(s): no_such_output".to_owned(),
    }
}

async fn fixture() -> EmulatorFixture {
    let emu = start(EmulatorConfig::new(Vendor::Sama))
        .await
        .expect("start the Sama emulator");
    let good = provider(&emu, emu.api_key());
    let bad = provider(&emu, WRONG_KEY.to_owned());
    EmulatorFixture::new(emu, good, bad, valid_task, invalid_task).with_secret(WRONG_KEY)
}

labelmux_contract::contract_tests!(fixture);
labelmux_contract::contract_self_tests!(fixture);
