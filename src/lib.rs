//! Workspace-level tests and examples of labelmux live in `tests/` and `examples/`.
