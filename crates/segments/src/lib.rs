//! # labelmux-segments
//!
//! The Segments.ai (REST API) adapter of labelmux.
//!
//! - [`SegmentsClient`] is the complete vendor-native client: every call of Segments' official
//!   Python SDK (`segments-ai` 1.33.0) in the spec's endpoint table — user, datasets,
//!   collaborators, labelsets, samples (single and bulk), labels, issues, releases, workunits,
//!   assets — typed, with every filter, paged reads as `'static` streams, and raw JSON kept on
//!   every answer.
//! - [`ReleaseReader`] reads a release file one sample at a time, in flat memory.
//! - [`SegmentsProvider`] implements [`labelmux_core::Provider`] on top of the client: a project
//!   is a dataset (`owner/name`), a task is a sample (id = UUID, external key = name), a batch is
//!   recorded in each sample's metadata, and deliveries are labels of the configured labelset at
//!   the configured status ([`SegmentsOptions`]), once per revision, with a client-side cursor.
//!
//! ```no_run
//! use labelmux_core::transport::{SecretString, TransportConfig};
//! use labelmux_segments::{SamplesQuery, SegmentsClient, DEFAULT_BASE_URL};
//! use futures::TryStreamExt;
//!
//! # async fn run() -> labelmux_core::Result<()> {
//! let key = SecretString::from(std::env::var("SEGMENTS_API_KEY").unwrap_or_default());
//! let client = SegmentsClient::new(DEFAULT_BASE_URL, key, TransportConfig::default())?;
//! let mut samples = client.get_samples("jane/flowers", SamplesQuery::with_full_labels("ground-truth"));
//! while let Some(s) = samples.try_next().await? {
//!     println!("{} {}", s.name, s.label_status());
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod annotations;
pub mod client;
pub mod errors;
pub mod mapping;
pub mod provider;
pub mod release;
pub mod wire;

pub use annotations::SegmentsAnnotations;
pub use client::{
    split_dataset, ApiStatus, SampleSort, SamplesQuery, SegmentsClient, WorkunitsQuery,
    DEFAULT_BASE_URL, DEFAULT_PAGE_SIZE, MAX_BULK_DELETE, SDK_VERSION,
};
pub use mapping::BATCH_METADATA_KEY;
pub use provider::{
    capabilities, capabilities_with, SegmentsOptions, SegmentsProvider, BATCHES_METADATA_KEY,
    DEFAULT_CHUNK_SIZE, GROUND_TRUTH,
};
pub use release::{ReleaseHeader, ReleaseLabel, ReleaseReader, ReleaseSample};
pub use wire::{
    Annotation, Asset, CloneDatasetRequest, Collaborator, CreateDatasetRequest, CreateIssueRequest,
    CreateSampleRequest, Dataset, DeleteSamplesResponse, Issue, IssueStatus, Label,
    LabelAttributes, LabelStats, LabelStatus, Labelset, PutLabelRequest, Release, ReleaseStatus,
    Role, Sample, SampleAttributes, SampleLabel, TaskType, UpdateDatasetRequest,
    UpdateIssueRequest, UpdateLabelRequest, UpdateSampleRequest, User, Workunit,
};
