//! # labelmux-scale
//!
//! The Scale AI (REST API v1) adapter of labelmux.
//!
//! - [`ScaleClient`] is the complete vendor-native client: every v1 call of Scale's official
//!   Python SDK (`scaleapi`) — tasks of any type, quality tasks, batches, projects, files,
//!   teammates, Studio — typed, with every filter, paginated reads as streams, raw JSON kept on
//!   every answer, and the SDK's `unique_id` 409 recovery without its crash bugs.
//! - [`ScaleProvider`] implements [`labelmux_core::Provider`] on top of it: a labelmux batch is
//!   a Scale batch, a project id is a Scale project *name*, an external key is a `unique_id`,
//!   and "deliveries since last call" is a client-side cursor in a
//!   [`labelmux_core::cursor::FileCursorStore`].
//!
//! ```no_run
//! use labelmux_core::cursor::FileCursorStore;
//! use labelmux_core::transport::{SecretString, TransportConfig};
//! use labelmux_core::{DeliveryQuery, ProjectId, Provider};
//! use labelmux_scale::{ScaleClient, ScaleProvider, DEFAULT_BASE_URL};
//! use futures::TryStreamExt;
//!
//! # async fn run() -> labelmux_core::Result<()> {
//! let key = SecretString::from(std::env::var("SCALE_API_KEY").unwrap_or_default());
//! let client = ScaleClient::new(DEFAULT_BASE_URL, key, TransportConfig::default())?;
//! let scale = ScaleProvider::new(client, FileCursorStore::default_location());
//! let project = ProjectId::new("kitten_labeling");
//! let mut labels = scale.deliveries(&project, DeliveryQuery::since_last_call("etl"));
//! while let Some(d) = labels.try_next().await? {
//!     println!("{} {}", d.task_id, d.answers);
//!     // ... store the label, then move the consumer past it:
//!     if let Some(cp) = &d.checkpoint {
//!         scale.commit_consumer(&project, "etl", cp).await?;
//!     }
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod annotations;
pub mod client;
pub mod errors;
pub mod mapping;
pub mod provider;
pub mod wire;

pub use annotations::ScaleAnnotations;
pub use client::{
    encode_segment, BatchesQuery, CreatedTask, ScaleClient, TasksQuery, DEFAULT_BASE_URL,
    MAX_PAGE_SIZE, TASK_TYPES,
};
pub use provider::{capabilities, PreAnnotationTarget, ScaleOptions, ScaleProvider, METADATA_KEY};
pub use wire::{
    Batchlist, CreateBatchRequest, CreateProjectRequest, ProjectGroup, QualityTask, ScaleBatch,
    ScaleBatchStatus, ScaleFile, ScaleProject, ScaleTask, StudioAssignments, StudioBatch,
    StudioWorker, TaskTemplate, Tasklist, Teammate, TeammateRole,
};
