//! # labelmux-labelbox
//!
//! The Labelbox (GraphQL API) adapter of labelmux.
#![deny(missing_docs)]

pub mod errors;
pub mod ops;
pub mod wire;
