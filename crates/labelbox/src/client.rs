//! The vendor-native Labelbox client: every call of the official Python SDK that an annotation
//! pipeline needs (spec `labelbox.md`), typed, on the shared [`Transport`].
//!
//! Wire behaviour follows the SDK: `Authorization: Bearer <key>`, GraphQL documents checked
//! against the schema at compile time ([`crate::ops`]), the operations the SDK sends to the
//! experimental endpoint sent to `/_gql`, ORM lists paged with `skip`/`first` literals, Tasks
//! read through the user who created them. Unlike the SDK, queries are resent on temporary
//! failures and mutations only when resending cannot do anything twice (the SDK retries every
//! mutation after a time-out, so a batch could be created twice).
//!
//! Operations are grouped per resource in `client/…`; the data-row upload is in
//! [`crate::upload`], exports and the label-versions feed in [`crate::export`].

mod batches;
mod data_rows;
mod projects;
mod queues;
mod webhooks;

pub use batches::{
    batch_parts, BatchRows, CreateBatchOptions, BATCH_PAGE, MAX_BATCH_ROWS, MAX_SYNC_BATCH_ROWS,
};
pub use data_rows::{
    DataRowFilter, DATASET_ROWS_PAGE, GLOBAL_KEY_LOOKUP_CHUNK, PROCESSING_CHECK_CHUNK,
};
pub use projects::{NewProject, ProjectUpdate, QualityMode};
pub use queues::{DataRowIdentifiers, OverviewScope};
pub use webhooks::{WebhookScope, WebhookUpdate};

use crate::errors::{classify, success_check};
use crate::wire::{self, decode, LbTask, Organization, User};
use graphql_client::GraphQLQuery;
use labelmux_core::poll::{self, PollOptions, PollStatus};
use labelmux_core::transport::{
    Auth, ExposeSecret, RetryMode, SecretString, Transport, TransportConfig,
};
use labelmux_core::{Error, Result, Vendor};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Labelbox's production API root (GraphQL at `/graphql` and `/_gql`, REST at `/api/v1`).
pub const DEFAULT_ROOT: &str = "https://api.labelbox.com";

/// Page size of the ORM lists (projects, datasets, webhooks, labels), as the SDK pages them.
pub const ORM_PAGE_SIZE: usize = 100;

pub(crate) const VENDOR: Vendor = Vendor::Labelbox;

pub(crate) fn op_err(e: Error, op: &str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

/// The two GraphQL endpoints under the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/graphql`, the main endpoint.
    Main,
    /// `/_gql`, where the SDK sends batch, queue and overview operations.
    Experimental,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Main => "graphql",
            Endpoint::Experimental => "_gql",
        }
    }
}

/// Labelbox plans and their API rate limits per organization (spec §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// 1,500 requests per minute.
    Free,
    /// 5,000 requests per minute.
    Starter,
    /// 5,000 requests per minute.
    Education,
    /// 20,000 requests per minute.
    Enterprise,
}

impl Plan {
    /// Requests per minute the plan allows.
    pub fn requests_per_minute(self) -> u32 {
        match self {
            Plan::Free => 1_500,
            Plan::Starter | Plan::Education => 5_000,
            Plan::Enterprise => 20_000,
        }
    }

    /// `config` with its client-side rate limit set to the plan's (rounded down to whole
    /// requests per second, so a minute never holds more than the plan allows). A stricter
    /// limit already configured is kept.
    pub fn transport_config(self, config: TransportConfig) -> TransportConfig {
        let per_second = (self.requests_per_minute() / 60).max(1);
        TransportConfig {
            rate_limit_per_second: Some(
                config
                    .rate_limit_per_second
                    .map_or(per_second, |r| r.min(per_second)),
            ),
            ..config
        }
    }
}

/// Polling of asynchronous server jobs (the SDK polls every 2 s; 300 s for ordinary Tasks,
/// 7,200 s for exports; 60 s for global-key look-ups; processing checks every 30 s up to an
/// hour).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollSettings {
    /// Ordinary Tasks (upserts, batch adds, queue moves).
    pub task: PollOptions,
    /// Export Tasks.
    pub export: PollOptions,
    /// Global-key look-up jobs.
    pub lookup: PollOptions,
    /// Waiting until uploaded data rows are processed, before a batch is created.
    pub processing: PollOptions,
}

impl Default for PollSettings {
    fn default() -> Self {
        let base = PollOptions::default()
            .with_interval(Duration::from_secs(2))
            .with_max_interval(Duration::from_secs(10));
        PollSettings {
            task: base.with_timeout(Duration::from_secs(300)),
            export: base
                .with_max_interval(Duration::from_secs(30))
                .with_timeout(Duration::from_secs(7200)),
            lookup: base.with_timeout(Duration::from_secs(60)),
            // The SDK sleeps a fixed 30 s per "not yet"; starting at 2 s loses nothing.
            processing: base
                .with_max_interval(Duration::from_secs(30))
                .with_timeout(Duration::from_secs(3600)),
        }
    }
}

impl PollSettings {
    /// Fast polling for tests against the emulator.
    pub fn fast_for_tests() -> Self {
        let fast = PollOptions::default()
            .with_interval(Duration::from_millis(20))
            .with_max_interval(Duration::from_millis(100))
            .with_timeout(Duration::from_secs(60));
        PollSettings {
            task: fast,
            export: fast,
            lookup: fast,
            processing: fast,
        }
    }
}

/// The Labelbox API client. Cheap to clone (the transport and the user id are shared).
#[derive(Clone, Debug)]
pub struct LabelboxClient {
    transport: Transport,
    pub(crate) poll: PollSettings,
    /// The key's user id: Tasks are read through it (fetched once).
    user_id: Arc<OnceCell<String>>,
}

/// The API root from a configured base URL: `https://api.labelbox.com`, also accepted with a
/// trailing `/graphql` or `/_gql` (the form `Vendor::default_base_url` gives).
fn api_root(base_url: &str) -> String {
    let trimmed = base_url.trim().trim_end_matches('/');
    for suffix in ["/graphql", "/_gql"] {
        if let Some(root) = trimmed.strip_suffix(suffix) {
            return root.to_owned();
        }
    }
    trimmed.to_owned()
}

impl LabelboxClient {
    /// A client of the API under `root` ([`DEFAULT_ROOT`] for Labelbox's production API; a
    /// trailing `/graphql` is accepted). An empty key is refused before any call, as the SDK
    /// does.
    pub fn new(root: &str, api_key: SecretString, transport: TransportConfig) -> Result<Self> {
        if api_key.expose_secret().trim().is_empty() {
            return Err(Error::config(format!(
                "Labelbox API key not provided; set {} or the api_key of [labelbox] in the config",
                VENDOR.api_key_env()
            ))
            .with_vendor(VENDOR));
        }
        let transport = Transport::new(
            VENDOR,
            &api_root(root),
            Auth::Bearer(api_key),
            transport,
            classify,
        )?
        .with_success_check(success_check);
        Ok(LabelboxClient {
            transport,
            poll: PollSettings::default(),
            user_id: Arc::new(OnceCell::new()),
        })
    }

    /// Replace the polling settings.
    pub fn with_poll_settings(mut self, poll: PollSettings) -> Self {
        self.poll = poll;
        self
    }

    /// The polling settings in force.
    pub fn poll_settings(&self) -> &PollSettings {
        &self.poll
    }

    /// The transport (root URL, settings).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    // -----------------------------------------------------------------------------------------
    // GraphQL plumbing
    // -----------------------------------------------------------------------------------------

    /// Run a generated operation; returns `data`.
    pub(crate) async fn run<Q: GraphQLQuery>(
        &self,
        endpoint: Endpoint,
        op: &'static str,
        variables: Q::Variables,
        retry: RetryMode,
    ) -> Result<Value> {
        let body = Q::build_query(variables);
        let variables = serde_json::to_value(&body.variables).map_err(|e| {
            op_err(
                Error::validation(format!("cannot encode variables: {e}")),
                op,
            )
        })?;
        self.run_text(endpoint, op, body.query, variables, retry)
            .await
    }

    /// Run a document given as text (ORM pages, webhook documents with enum literals).
    pub(crate) async fn run_text(
        &self,
        endpoint: Endpoint,
        op: &'static str,
        query: &str,
        variables: Value,
        retry: RetryMode,
    ) -> Result<Value> {
        labelmux_core::transport::graphql::execute_raw(
            &self.transport,
            endpoint.path(),
            op,
            query,
            variables,
            retry,
        )
        .await
        .map_err(|e| op_err(e, op))
    }

    /// A query (resent on temporary failures).
    pub(crate) async fn query<Q: GraphQLQuery>(
        &self,
        endpoint: Endpoint,
        op: &'static str,
        variables: Q::Variables,
    ) -> Result<Value> {
        self.run::<Q>(endpoint, op, variables, RetryMode::Idempotent)
            .await
    }

    /// One page of an ORM list: the document's `skip: 0` literal replaced by `skip: <skip>`,
    /// as the SDK renders each page (spec §4.1, §16 Q1).
    pub(crate) async fn orm_page<Q: GraphQLQuery>(
        &self,
        op: &'static str,
        variables: Q::Variables,
        skip: usize,
    ) -> Result<Value> {
        let body = Q::build_query(variables);
        let query = with_skip(body.query, skip).map_err(|e| op_err(e, op))?;
        let variables = serde_json::to_value(&body.variables).map_err(|e| {
            op_err(
                Error::validation(format!("cannot encode variables: {e}")),
                op,
            )
        })?;
        self.run_text(Endpoint::Main, op, &query, variables, RetryMode::Idempotent)
            .await
    }

    /// Stream an ORM list: pages of [`ORM_PAGE_SIZE`] until a short page. `extract` takes the
    /// list out of `data`; `id` hashes an item's id (`paginate::key_of`), so that a server
    /// sending the same page again ends the stream with a decode error.
    pub(crate) fn orm_stream<Q, T>(
        &self,
        op: &'static str,
        variables: Q::Variables,
        extract: fn(Value) -> Result<Vec<T>>,
        id: fn(&T) -> u64,
    ) -> futures::stream::BoxStream<'static, Result<T>>
    where
        Q: GraphQLQuery + 'static,
        Q::Variables: Clone + Send + Sync + 'static,
        T: Send + 'static,
    {
        let client = self.clone();
        use labelmux_core::paginate::{guarded, paginate, Page};
        paginate(
            0usize,
            guarded(VENDOR, op, id, move |skip| {
                let client = client.clone();
                let variables = variables.clone();
                async move {
                    let data = client.orm_page::<Q>(op, variables, skip).await?;
                    let items = extract(data).map_err(|e| op_err(e, op))?;
                    let next = (items.len() >= ORM_PAGE_SIZE).then_some(skip + items.len());
                    Ok(Page { items, next })
                }
            }),
        )
    }

    // -----------------------------------------------------------------------------------------
    // Identity
    // -----------------------------------------------------------------------------------------

    /// The user the API key belongs to.
    pub async fn current_user(&self) -> Result<User> {
        const OP: &str = "get_user";
        let data = self
            .query::<crate::ops::GetUser>(Endpoint::Main, OP, crate::ops::get_user::Variables)
            .await?;
        decode(required(data, &["user"], OP)?, "user").map_err(|e| op_err(e, OP))
    }

    /// The organization of the API key.
    pub async fn organization(&self) -> Result<Organization> {
        const OP: &str = "get_organization";
        let data = self
            .query::<crate::ops::GetOrganization>(
                Endpoint::Main,
                OP,
                crate::ops::get_organization::Variables,
            )
            .await?;
        decode(required(data, &["organization"], OP)?, "organization").map_err(|e| op_err(e, OP))
    }

    /// The key's user id, fetched once.
    pub async fn user_id(&self) -> Result<String> {
        self.user_id
            .get_or_try_init(|| async { self.current_user().await.map(|u| u.id) })
            .await
            .cloned()
    }

    // -----------------------------------------------------------------------------------------
    // Asynchronous server jobs
    // -----------------------------------------------------------------------------------------

    /// Read a Task (through the user who created it, the only one who sees it).
    pub async fn get_task(&self, task_id: &str) -> Result<LbTask> {
        const OP: &str = "get_task";
        let user_id = self.user_id().await?;
        let data = self
            .query::<crate::ops::GetCreatedTask>(
                Endpoint::Main,
                OP,
                crate::ops::get_created_task::Variables {
                    user_id,
                    task_id: task_id.to_owned(),
                },
            )
            .await?;
        let list = required(data, &["user", "createdTasks"], OP)?;
        wire::decode_list::<LbTask>(list, "task")
            .map_err(|e| op_err(e, OP))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                op_err(
                    Error::new(
                        labelmux_core::ErrorKind::NotFound,
                        format!("no Task {task_id} created by this API key's user"),
                    ),
                    OP,
                )
            })
    }

    /// Poll a Task until it is no longer `IN_PROGRESS`; returns it in whatever final state
    /// (callers decide what `FAILED` means for them).
    pub async fn wait_for_task(
        &self,
        task_id: &str,
        op: &'static str,
        options: PollOptions,
    ) -> Result<LbTask> {
        poll::poll_until(VENDOR, op, options, || async {
            let task = self.get_task(task_id).await?;
            if task.status.is_finished() {
                Ok(PollStatus::Done(task))
            } else {
                let pct = task
                    .completion_percentage
                    .map(|p| format!(", {:.0}% done", p * 100.0))
                    .unwrap_or_default();
                Ok(PollStatus::Pending(Some(format!(
                    "Task {task_id} ({}) in progress{pct}",
                    task.task_type.as_deref().unwrap_or("?")
                ))))
            }
        })
        .await
    }

    /// Wait for a Task and insist that it completed; a failed one is an error carrying the
    /// Task's own description (the inline JSON of batch and queue jobs).
    pub async fn wait_for_task_success(
        &self,
        task_id: &str,
        op: &'static str,
        options: PollOptions,
    ) -> Result<LbTask> {
        let task = self.wait_for_task(task_id, op, options).await?;
        if task.status == wire::TaskStatus::Complete {
            Ok(task)
        } else {
            Err(op_err(
                Error::new(
                    labelmux_core::ErrorKind::InvalidRequest,
                    format!(
                        "Labelbox Task {task_id} ended {}: {}",
                        task.status,
                        task.failure_text()
                    ),
                )
                .with_vendor_code(format!("Task {}", task.status)),
                op,
            ))
        }
    }

    /// Ask Labelbox to cancel a Task (only some types, only while in progress). Returns
    /// Labelbox's `success`.
    pub async fn cancel_task(&self, task_id: &str) -> Result<bool> {
        const OP: &str = "cancel_task";
        let data = self
            .run::<crate::ops::CancelTask>(
                Endpoint::Main,
                OP,
                crate::ops::cancel_task::Variables {
                    id: task_id.to_owned(),
                },
                RetryMode::Idempotent,
            )
            .await?;
        Ok(data
            .pointer("/cancelBulkOperationJob/success")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }
}

/// Replace the one `skip: 0` literal of an ORM document.
fn with_skip(query: &str, skip: usize) -> Result<String> {
    const LITERAL: &str = "skip: 0 ";
    if query.matches(LITERAL).count() != 1 {
        return Err(Error::validation(
            "internal: an ORM document must hold exactly one `skip: 0` literal",
        ));
    }
    Ok(query.replacen(LITERAL, &format!("skip: {skip} "), 1))
}

/// The value at `path` inside `data`; a missing or `null` step is `NotFound` (Labelbox answers
/// an unknown id with `null`), naming the step.
pub(crate) fn required(mut data: Value, path: &[&str], op: &str) -> Result<Value> {
    for (i, step) in path.iter().enumerate() {
        data = match data.get_mut(*step).map(Value::take) {
            Some(Value::Null) | None => {
                let what = path[..=i].join(".");
                return Err(op_err(
                    Error::new(
                        labelmux_core::ErrorKind::NotFound,
                        format!("Labelbox answered no {what} (the id does not exist or is not visible to this key)"),
                    ),
                    op,
                ));
            }
            Some(v) => v,
        };
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_rate_limits_become_a_transport_limit_that_never_exceeds_the_plan() {
        let free = Plan::Free.transport_config(TransportConfig::default());
        assert_eq!(free.rate_limit_per_second, Some(25));
        assert_eq!(
            Plan::Enterprise
                .transport_config(TransportConfig::default())
                .rate_limit_per_second,
            Some(333)
        );
        let strict = TransportConfig {
            rate_limit_per_second: Some(5),
            ..TransportConfig::default()
        };
        assert_eq!(
            Plan::Starter.transport_config(strict).rate_limit_per_second,
            Some(5)
        );
    }

    #[test]
    fn the_root_is_derived_from_any_configured_form() {
        for given in [
            "https://api.labelbox.com",
            "https://api.labelbox.com/",
            "https://api.labelbox.com/graphql",
            "https://api.labelbox.com/_gql/",
        ] {
            assert_eq!(api_root(given), "https://api.labelbox.com", "{given}");
        }
        assert_eq!(
            api_root("http://127.0.0.1:9/prefix"),
            "http://127.0.0.1:9/prefix"
        );
    }

    #[test]
    fn orm_documents_get_their_skip_literal_replaced() {
        let q = crate::ops::ListProjects::build_query(crate::ops::list_projects::Variables {
            deleted: false,
        })
        .query;
        let page3 = with_skip(q, 200).unwrap();
        assert!(page3.contains("skip: 200 first: 100"), "{page3}");
        assert!(!page3.contains("skip: 0 "));
        assert!(with_skip("query { a }", 1).is_err());
    }

    #[test]
    fn required_names_the_missing_step() {
        let e = required(
            serde_json::json!({"project": null}),
            &["project"],
            "get_project",
        )
        .unwrap_err();
        assert_eq!(e.kind(), labelmux_core::ErrorKind::NotFound);
        assert!(e.to_string().contains("project"), "{e}");
        let v = required(serde_json::json!({"a": {"b": [1]}}), &["a", "b"], "x").unwrap();
        assert_eq!(v, serde_json::json!([1]));
    }

    #[test]
    fn an_empty_key_is_refused_before_any_call() {
        let e = LabelboxClient::new(
            DEFAULT_ROOT,
            SecretString::from("  "),
            TransportConfig::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), labelmux_core::ErrorKind::Config);
        assert!(e.to_string().contains("LABELBOX_API_KEY"), "{e}");
    }
}
