//! The README's library snippet is `examples/readme.rs`: the two must be the same text, the
//! README's `Cargo.toml` must name every crate the snippet uses, and the snippet must run.

use labelmux_emulator::{start, EmulatorConfig, Vendor};

mod readme {
    include!("../examples/readme.rs");
    pub(crate) fn run() -> labelmux::Result<()> {
        main()
    }
}

const README: &str = include_str!("../README.md");
const EXAMPLE: &str = include_str!("../examples/readme.rs");

fn fenced(lang: &str) -> Vec<&'static str> {
    let open = format!("```{lang}\n");
    README
        .split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once("```\n").map(|(body, _)| body))
        .collect()
}

#[test]
fn the_readme_snippet_is_the_example_and_its_dependencies_are_listed() {
    assert!(
        fenced("rust").contains(&EXAMPLE),
        "README.md's rust block differs from examples/readme.rs: copy the example into the README"
    );
    let manifest = fenced("toml")
        .into_iter()
        .find(|b| b.contains("[dependencies]"))
        .expect("README has a Cargo.toml block");
    for line in EXAMPLE.lines().filter(|l| l.starts_with("use ")) {
        let krate = line["use ".len()..].split("::").next().unwrap_or_default();
        if krate != "std" {
            assert!(
                manifest.contains(&format!("{krate} =")),
                "README's Cargo.toml lacks `{krate}`"
            );
        }
    }
    assert!(EXAMPLE.contains("#[tokio::main]") && manifest.contains("tokio ="));
}

#[test]
fn the_readme_snippet_runs_against_the_emulator() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt
        .block_on(start(EmulatorConfig::new(Vendor::Sama)))
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    // The only test in this binary that touches the environment.
    let empty = state.path().join("labelmux.toml");
    std::fs::write(&empty, "").unwrap();
    std::env::set_var("LABELMUX_CONFIG", &empty);
    std::env::set_var("LABELMUX_PROVIDER", "sama");
    std::env::set_var("LABELMUX_PROJECT", "1001");
    std::env::set_var("LABELMUX_BASE_URL", emu.base_url());
    std::env::set_var("LABELMUX_STATE_DIR", state.path());
    std::env::set_var("SAMA_API_KEY", emu.api_key());
    readme::run().unwrap();
    // Sama creates the tasks after the call returns: wait (bounded) for the emulator.
    for _ in 0..200 {
        if emu.control().task_count("1001") == 1000 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(emu.control().task_count("1001"), 1000);
}
