//! # labelmux
//!
//! One API over the data-annotation vendors Sama, Scale AI, Labelbox and Segments.ai. Write a
//! labeling pipeline once against [`Provider`] — send data out, follow batches, pull finished
//! labels back — and switch vendor by changing [`Config`], not code:
//!
//! ```no_run
//! use labelmux::{AnyProvider, Config, DeliveryQuery, Provider, ProjectId};
//! use futures::TryStreamExt;
//!
//! # async fn run() -> labelmux::Result<()> {
//! let config = Config::load(None)?; // labelmux.toml and/or LABELMUX_PROVIDER, SAMA_API_KEY, ...
//! let provider = AnyProvider::from_config(&config)?;
//! let project = ProjectId::new("1001");
//! let mut deliveries = provider.deliveries(&project, DeliveryQuery::since_last_call("etl"));
//! let mut last = None;
//! while let Some(d) = deliveries.try_next().await? {
//!     println!("{} {}", d.task_id, d.answers);
//!     last = d.checkpoint.clone().or(last);
//! }
//! drop(deliveries);
//! // Store the labels first; then move the consumer's cursor (kept locally for every vendor:
//! // without this call the next pull delivers the same labels again).
//! if let Some(checkpoint) = last {
//!     provider.commit_consumer(&project, "etl", &checkpoint).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! Each vendor's complete native client stays reachable through its module: [`sama`],
//! [`scale`], [`labelbox`] and [`segments`].
#![deny(missing_docs)]

mod config;
pub mod io;

pub use config::{Config, VendorSettings, DEFAULT_CONFIG_FILE};
pub use labelmux_core::*;
pub use labelmux_labelbox as labelbox;
pub use labelmux_sama as sama;
pub use labelmux_scale as scale;
pub use labelmux_segments as segments;

use async_trait::async_trait;
use futures::stream::BoxStream;
use labelmux_labelbox::{LabelboxClient, LabelboxProvider, LabelboxSettings};
use labelmux_sama::{SamaClient, SamaOptions, SamaProvider};
use labelmux_scale::{ScaleClient, ScaleOptions, ScaleProvider};
use labelmux_segments::{SegmentsClient, SegmentsOptions, SegmentsProvider};
use serde_json::Value;

/// One of the vendor adapters. Calls dispatch by `match` (no boxing); see
/// `docs/decisions/0001-enum-dispatch.md` for why this is a macro rather than `enum_dispatch`.
pub enum Adapter {
    /// Sama.
    Sama(SamaProvider),
    /// Scale AI.
    Scale(ScaleProvider),
    /// Labelbox.
    Labelbox(LabelboxProvider),
    /// Segments.ai.
    Segments(SegmentsProvider),
}

impl From<SamaProvider> for Adapter {
    fn from(p: SamaProvider) -> Self {
        Adapter::Sama(p)
    }
}

impl From<ScaleProvider> for Adapter {
    fn from(p: ScaleProvider) -> Self {
        Adapter::Scale(p)
    }
}

impl From<LabelboxProvider> for Adapter {
    fn from(p: LabelboxProvider) -> Self {
        Adapter::Labelbox(p)
    }
}

impl From<SegmentsProvider> for Adapter {
    fn from(p: SegmentsProvider) -> Self {
        Adapter::Segments(p)
    }
}

/// What `vendor`'s adapter supports, without credentials or a provider (for `labelmux
/// capabilities` before a key is configured). `None` for a vendor this release has no adapter
/// for.
pub fn capabilities_of(vendor: Vendor) -> Option<Capabilities> {
    match vendor {
        Vendor::Sama => Some(labelmux_sama::capabilities()),
        Vendor::Scale => Some(labelmux_scale::capabilities()),
        Vendor::Labelbox => Some(labelmux_labelbox::capabilities()),
        Vendor::Segments => Some(labelmux_segments::capabilities()),
        _ => None,
    }
}

/// The error for a vendor this release has no adapter for; it lists the available ones.
fn unavailable(vendor: Vendor) -> Error {
    let names: Vec<&str> = available_vendors().into_iter().map(Vendor::name).collect();
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "the {vendor} adapter is not part of this release; available providers: {}",
            names.join(", ")
        ),
    )
    .with_vendor(vendor)
    .with_operation("from_config")
}

/// The vendors this release has an adapter for.
pub fn available_vendors() -> Vec<Vendor> {
    Vendor::ALL
        .into_iter()
        .filter(|v| capabilities_of(*v).is_some())
        .collect()
}

/// Whichever adapter the configuration chose, wrapped in the configured input mapping (a
/// [`MapInputs`] layer). This is the type pipelines hold: it implements [`Provider`], so code
/// written against it runs unchanged on every vendor.
pub struct AnyProvider {
    inner: MapInputs<Adapter>,
}

impl std::fmt::Debug for AnyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnyProvider({})", Provider::vendor(self))
    }
}

impl AnyProvider {
    /// Wrap an adapter, with no input mapping.
    pub fn new(adapter: impl Into<Adapter>) -> AnyProvider {
        AnyProvider {
            inner: MapInputs::new(adapter.into(), InputMapping::default()),
        }
    }

    /// Apply `inputs` to every task before it reaches the adapter.
    pub fn with_input_mapping(self, inputs: InputMapping) -> AnyProvider {
        let adapter = self.inner.into_inner();
        AnyProvider {
            inner: MapInputs::new(adapter, inputs),
        }
    }

    /// The adapter inside, for its vendor-native client.
    pub fn adapter(&self) -> &Adapter {
        self.inner.get_ref()
    }

    /// Build the adapter `config.provider` names, with its base URL, key, transport settings
    /// and input mapping.
    pub fn from_config(config: &Config) -> Result<AnyProvider> {
        let vendor = config.provider;
        if config
            .project
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            // Every call would otherwise send an empty id and get a puzzling 404.
            return Err(Error::config(
                "the project id is empty: set `project` in labelmux.toml or LABELMUX_PROJECT to the vendor's project id, or leave it out",
            ));
        }
        let base_url = config.base_url(vendor);
        let transport = config.transport_for(vendor)?;
        let adapter = match vendor {
            Vendor::Sama => {
                let options: SamaOptions = config.adapter_options(vendor)?;
                let client = SamaClient::new(&base_url, config.api_key(vendor)?, transport)?;
                Adapter::Sama(SamaProvider::with_options(
                    client,
                    config.cursor_store(),
                    options,
                ))
            }
            Vendor::Scale => {
                let options: ScaleOptions = config.adapter_options(vendor)?;
                options.validate()?;
                let client = ScaleClient::new(&base_url, config.api_key(vendor)?, transport)?;
                Adapter::Scale(ScaleProvider::with_options(
                    client,
                    config.cursor_store(),
                    options,
                ))
            }
            Vendor::Labelbox => {
                let settings: LabelboxSettings = config.adapter_options(vendor)?;
                let client = LabelboxClient::new(
                    &base_url,
                    config.api_key(vendor)?,
                    settings.transport(transport),
                )?;
                Adapter::Labelbox(LabelboxProvider::with_options(
                    client,
                    config.cursor_store(),
                    settings.options()?,
                ))
            }
            Vendor::Segments => {
                let options: SegmentsOptions = config.adapter_options(vendor)?;
                options.validate()?;
                let client = SegmentsClient::new(&base_url, config.api_key(vendor)?, transport)?;
                Adapter::Segments(SegmentsProvider::with_options(
                    client,
                    config.cursor_store(),
                    options,
                ))
            }
            other => return Err(unavailable(other)),
        };
        Ok(AnyProvider::new(adapter).with_input_mapping(config.settings(vendor).inputs.clone()))
    }
}

impl From<SamaProvider> for AnyProvider {
    fn from(p: SamaProvider) -> Self {
        AnyProvider::new(p)
    }
}

impl From<ScaleProvider> for AnyProvider {
    fn from(p: ScaleProvider) -> Self {
        AnyProvider::new(p)
    }
}

impl ProviderLayer for AnyProvider {
    fn inner(&self) -> &dyn Provider {
        &self.inner
    }
}

/// Forward a call to whichever adapter is inside.
macro_rules! dispatch {
    ($self:ident, $p:ident => $call:expr) => {
        match $self {
            Adapter::Sama($p) => $call,
            Adapter::Scale($p) => $call,
            Adapter::Labelbox($p) => $call,
            Adapter::Segments($p) => $call,
        }
    };
}

#[async_trait]
impl Provider for Adapter {
    fn vendor(&self) -> Vendor {
        dispatch!(self, p => p.vendor())
    }
    fn capabilities(&self) -> Capabilities {
        dispatch!(self, p => p.capabilities())
    }
    async fn create_batch(
        &self,
        project: &ProjectId,
        spec: BatchSpec,
        tasks: TaskSpecStream<'_>,
        progress: Progress,
    ) -> Result<BatchReceipt> {
        dispatch!(self, p => p.create_batch(project, spec, tasks, progress).await)
    }
    async fn batch_status(&self, project: &ProjectId, batch: &BatchId) -> Result<Batch> {
        dispatch!(self, p => p.batch_status(project, batch).await)
    }
    fn list_batches(&self, project: &ProjectId) -> BoxStream<'static, Result<Batch>> {
        dispatch!(self, p => p.list_batches(project))
    }
    async fn wait_batch(
        &self,
        project: &ProjectId,
        batch: &BatchId,
        options: WaitOptions,
    ) -> Result<Batch> {
        dispatch!(self, p => p.wait_batch(project, batch, options).await)
    }
    async fn cancel_batch(&self, project: &ProjectId, batch: &BatchId) -> Result<()> {
        dispatch!(self, p => p.cancel_batch(project, batch).await)
    }
    async fn get_task(&self, project: &ProjectId, task: &TaskId) -> Result<Task> {
        dispatch!(self, p => p.get_task(project, task).await)
    }
    async fn find_task(&self, project: &ProjectId, external_key: &str) -> Result<Option<Task>> {
        dispatch!(self, p => p.find_task(project, external_key).await)
    }
    fn list_tasks(
        &self,
        project: &ProjectId,
        filter: TaskFilter,
    ) -> BoxStream<'static, Result<Task>> {
        dispatch!(self, p => p.list_tasks(project, filter))
    }
    fn deliveries(
        &self,
        project: &ProjectId,
        query: DeliveryQuery,
    ) -> BoxStream<'static, Result<Delivery>> {
        dispatch!(self, p => p.deliveries(project, query))
    }
    async fn commit_consumer(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        dispatch!(self, p => p.commit_consumer(project, consumer, checkpoint).await)
    }
    async fn commit_consumer_output(
        &self,
        project: &ProjectId,
        consumer: &str,
        checkpoint: &Checkpoint,
        output: &cursor::OutputMark,
    ) -> Result<()> {
        dispatch!(self, p => p.commit_consumer_output(project, consumer, checkpoint, output).await)
    }
    async fn consumer_output(
        &self,
        project: &ProjectId,
        query: &DeliveryQuery,
    ) -> Result<Option<cursor::OutputMark>> {
        dispatch!(self, p => p.consumer_output(project, query).await)
    }
    async fn reject_tasks(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        rework: Rework,
    ) -> Result<BulkReport> {
        dispatch!(self, p => p.reject_tasks(project, tasks, rework).await)
    }
    async fn reject_task(
        &self,
        project: &ProjectId,
        task: &TaskId,
        reasons: &[String],
    ) -> Result<()> {
        dispatch!(self, p => p.reject_task(project, task, reasons).await)
    }
    async fn set_priority(
        &self,
        project: &ProjectId,
        tasks: &[TaskId],
        priority: i32,
    ) -> Result<()> {
        dispatch!(self, p => p.set_priority(project, tasks, priority).await)
    }
    async fn delete_tasks(&self, project: &ProjectId, tasks: &[TaskId]) -> Result<DeleteReport> {
        dispatch!(self, p => p.delete_tasks(project, tasks).await)
    }
    async fn project(&self, project: &ProjectId) -> Result<Project> {
        dispatch!(self, p => p.project(project).await)
    }
    async fn project_stats(
        &self,
        project: &ProjectId,
        options: StatsOptions,
    ) -> Result<ProjectStats> {
        dispatch!(self, p => p.project_stats(project, options).await)
    }
    async fn task_schema(&self, project: &ProjectId) -> Result<Value> {
        dispatch!(self, p => p.task_schema(project).await)
    }
}
