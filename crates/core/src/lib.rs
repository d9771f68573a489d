//! # labelmux-core
//!
//! The vendor-neutral heart of labelmux: the model ([`Task`], [`Batch`], [`Delivery`],
//! [`Project`]), the [`Provider`] trait every vendor adapter implements, one [`Error`] type with
//! an [`ErrorKind`] taxonomy, and the shared HTTP [`transport`] (retries, rate limits, timeouts,
//! redaction, multipart and gzip bodies, resumable streamed downloads, GraphQL), [`paginate`],
//! [`poll`] (waiting for server-side jobs), [`spool`] (uploads spooled to disk) and lenient
//! [`lenient`] decoding helpers adapters are built on.
//!
//! Most users depend on the `labelmux` facade crate instead, which re-exports all of this.
#![deny(missing_docs)]

pub mod cursor;
mod error;
mod ids;
pub mod lenient;
pub mod lock;
pub mod model;
pub mod paginate;
pub mod poll;
mod provider;
pub mod spool;
pub mod transport;
mod vendor;
/// The former name of [`lenient`], kept so existing imports compile.
#[doc(hidden)]
pub use lenient as wire;

pub use error::{Error, ErrorKind, Result, Retryability};
pub use ids::{opt_string_or_number, string_or_number, BatchId, DeliveryId, ProjectId, TaskId};
pub use model::*;
pub use provider::{
    error_stream, report, unsupported, MapInputs, Progress, ProgressEvent, ProgressObserver,
    Provider, ProviderLayer, TaskSpecStream,
};
pub use vendor::{UnknownVendor, Vendor};

/// Re-exports adapters need, so they depend on one version of each.
pub mod reexports {
    pub use async_trait::async_trait;
    pub use chrono;
    pub use futures;
    pub use serde_json;
}
