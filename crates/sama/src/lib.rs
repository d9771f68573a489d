//! # labelmux-sama
//!
//! The Sama (SamaHub REST API v2) adapter of labelmux, the reference backend.
//!
//! - [`SamaClient`] is the complete vendor-native client: every call of Sama's official Python
//!   SDK, typed, with every filter, paginated reads as streams, raw JSON kept on every answer.
//! - [`SamaProvider`] implements [`labelmux_core::Provider`] on top of it.
//!
//! ```no_run
//! use labelmux_core::cursor::FileCursorStore;
//! use labelmux_core::transport::{SecretString, TransportConfig};
//! use labelmux_core::{DeliveryQuery, ProjectId, Provider};
//! use labelmux_sama::{SamaClient, SamaProvider, DEFAULT_BASE_URL};
//! use futures::TryStreamExt;
//!
//! # async fn run() -> labelmux_core::Result<()> {
//! let key = SecretString::from(std::env::var("SAMA_API_KEY").unwrap_or_default());
//! let client = SamaClient::new(DEFAULT_BASE_URL, key, TransportConfig::default())?;
//! // Consumer cursors are kept locally (see `SamaProvider`): Sama's server-side cursor moves
//! // when a page is read, so an answer lost on the way would lose that page.
//! let sama = SamaProvider::new(client, FileCursorStore::default_location());
//! let project = ProjectId::new("13470");
//! let mut labels = sama.deliveries(&project, DeliveryQuery::since_last_call("etl"));
//! let mut last = None;
//! while let Some(d) = labels.try_next().await? {
//!     println!("{} {}", d.task_id, d.answers);
//!     last = d.checkpoint.clone().or(last);
//! }
//! // Once the labels are stored: move the consumer on.
//! if let Some(checkpoint) = last {
//!     sama.commit_consumer(&project, "etl", &checkpoint).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Task inputs that carry labelmux's external key and batch name are configurable
//! ([`SamaOptions`]); they must exist as inputs of the Sama project.
#![deny(missing_docs)]

pub mod annotations;
pub mod client;
mod deliveries;
pub mod errors;
pub mod mapping;
pub mod provider;
pub mod wire;

pub use annotations::SamaAnnotations;
pub use client::{
    CreateBatchOptions, CreatedBatch, DateType, DeliveredTasksQuery, MatchType,
    MultiTaskStatusQuery, SamaClient, SinceLastCallQuery, DEFAULT_BASE_URL,
    DEFAULT_READ_AHEAD_BYTES, DEFAULT_READ_AHEAD_PAGES, DEFAULT_TASKS_FILE_NAME,
    MULTI_TASK_STATUS_MAX_PAGE_SIZE, PAGE_SIZE,
};
pub use provider::{capabilities, SamaOptions, SamaProvider};
pub use wire::{
    BatchJob, BatchStarted, BatchTaskEntry, SamaProject, SamaStats, SamaTask, TaskRecord,
    WaitingBatch,
};
