//! The `labelmux` binary; everything lives in the `labelmux_cli` library.

fn main() {
    std::process::exit(labelmux_cli::main_entry());
}
