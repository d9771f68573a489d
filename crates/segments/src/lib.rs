//! # labelmux-segments
//!
//! The Segments.ai (REST API) adapter of labelmux.
#![deny(missing_docs)]

pub mod errors;
pub mod release;
pub mod wire;
