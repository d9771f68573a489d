//! # labelmux-labelbox
//!
//! The Labelbox (GraphQL API) adapter of labelmux.
//!
//! - [`LabelboxClient`] is the complete vendor-native client: identity, projects, ontologies
//!   (connected by the SDK's sequence), datasets, data rows (bulk create/upsert through file
//!   upload and an asynchronous Task with per-row failures, global-key look-ups, reads),
//!   batches (below and above 1,000 rows, split above 100,000), task queues and moves, the
//!   project overview, exports streamed as NDJSON, the label-versions feed, and webhooks.
//!   Operations are typed GraphQL documents checked against the schema at compile time
//!   ([`ops`]); answers decode into the lenient types of [`wire`]; Labelbox's error signals,
//!   including those inside HTTP 200 answers, map onto the core taxonomy in [`errors`].
//!
//! ```no_run
//! use labelmux_core::transport::{SecretString, TransportConfig};
//! use labelmux_labelbox::{ExportFilters, ExportParams, LabelboxClient, DEFAULT_ROOT};
//! use futures::TryStreamExt;
//!
//! # async fn run() -> labelmux_core::Result<()> {
//! let key = SecretString::from(std::env::var("LABELBOX_API_KEY").unwrap_or_default());
//! let client = LabelboxClient::new(DEFAULT_ROOT, key, TransportConfig::default())?;
//! let mut rows = client.export_project("clproject", ExportFilters::default(), ExportParams::default());
//! while let Some(line) = rows.try_next().await? {
//!     println!("{:?} has labels in {} projects", line.data_row.global_key, line.projects.len());
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod annotations;
pub mod client;
pub mod errors;
pub mod export;
pub mod mapping;
pub mod ops;
pub mod provider;
pub mod upload;
pub mod wire;

pub use annotations::LabelboxAnnotations;
pub use client::{
    BatchRows, CreateBatchOptions, DataRowFilter, DataRowIdentifiers, LabelboxClient, NewProject,
    OverviewScope, Plan, PollSettings, ProjectUpdate, QualityMode, WebhookScope, WebhookUpdate,
    DEFAULT_ROOT,
};
pub use export::{
    ExportFilters, ExportParams, ExportStream, ExportWorkflowStatus, LabelVersionsQuery, TimeRange,
};
pub use labelmux_core::poll::{PollOptions, PollStatus};
pub use provider::{capabilities, LabelboxOptions, LabelboxProvider, LabelboxSettings};
pub use upload::{DataRowSpec, SpecKey, UploadLimits, UploadReport};
pub use wire::{
    Batch, ConsensusSettings, CreatedBatch, DataRow, Dataset, ExportLine, LabelVersion, LbTask,
    MediaType, Ontology, Project, QueueType, TaskQueue, TaskStatus, Webhook, WebhookStatus,
    WebhookTopic,
};
