//! Samples.

use super::{dataset_path, nonempty, op_err, SegmentsClient, DEFAULT_PAGE_SIZE, MAX_BULK_DELETE};
use crate::wire::{
    CreateSampleRequest, DeleteSamplesResponse, LabelStatus, Sample, UpdateSampleRequest,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use futures::FutureExt;
use labelmux_core::paginate::{guarded, key_of, paginate, Page};
use labelmux_core::transport::{path, Method, RequestBuilder, RetryMode};
use labelmux_core::{Error, ErrorKind, Result};
use serde_json::json;

/// Sort key of sample lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SampleSort {
    /// By name (the SDK's default).
    #[default]
    Name,
    /// By creation time.
    CreatedAt,
    /// By priority.
    Priority,
    /// By the ground-truth label's update time.
    GtLabelUpdatedAt,
    /// By update time (offered by the SDK's resource API).
    UpdatedAt,
    /// Any other key, sent as given.
    Other(String),
}

impl SampleSort {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            SampleSort::Name => "name",
            SampleSort::CreatedAt => "created_at",
            SampleSort::Priority => "priority",
            SampleSort::GtLabelUpdatedAt => "gt_label__updated_at",
            SampleSort::UpdatedAt => "updated_at",
            SampleSort::Other(s) => s,
        }
    }
}

/// Filters, sort and paging of `GET /datasets/{owner}/{name}/samples/` — every parameter the
/// SDK sends. Unset filters are not sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplesQuery {
    /// Attach each sample's label in this labelset (a summary unless `include_full_label`).
    pub labelset: Option<String>,
    /// Attach full labels (requires `labelset`).
    pub include_full_label: bool,
    /// Only names containing this (`name__contains`).
    pub name_contains: Option<String>,
    /// Only samples whose label status is one of these (comma-joined `label_status`).
    pub label_status: Vec<LabelStatus>,
    /// Only samples whose metadata has these values (`filters=key:value,...`).
    pub metadata: Vec<(String, String)>,
    /// Sort key.
    pub sort: SampleSort,
    /// Descending order (a `-` before the sort key).
    pub descending: bool,
    /// Page size (default [`DEFAULT_PAGE_SIZE`]).
    pub per_page: u32,
    /// First page, from 1.
    pub page: u32,
}

impl Default for SamplesQuery {
    fn default() -> Self {
        SamplesQuery {
            labelset: None,
            include_full_label: false,
            name_contains: None,
            label_status: Vec::new(),
            metadata: Vec::new(),
            sort: SampleSort::Name,
            descending: false,
            per_page: DEFAULT_PAGE_SIZE,
            page: 1,
        }
    }
}

impl SamplesQuery {
    /// Every sample, with the full label of `labelset`.
    pub fn with_full_labels(labelset: impl Into<String>) -> Self {
        SamplesQuery {
            labelset: Some(labelset.into()),
            include_full_label: true,
            ..SamplesQuery::default()
        }
    }

    fn validate(&self, op: &str) -> Result<()> {
        let bad = |m: String| Err(op_err(Error::validation(m), op));
        if self.per_page == 0 || self.page == 0 {
            return bad("per_page and page must be at least 1".into());
        }
        if self.include_full_label && self.labelset.is_none() {
            return bad("include_full_label needs a labelset (as in the SDK)".into());
        }
        for (k, v) in &self.metadata {
            // The filter syntax has no escaping: such a pair would mean another filter.
            if k.is_empty() || k.contains([':', ',']) || v.contains(',') {
                return bad(format!(
                    "metadata filter {k:?}:{v:?} cannot be expressed: keys may not be empty or hold ':' or ',', values may not hold ','"
                ));
            }
        }
        for s in &self.label_status {
            if s.as_str().is_empty() || s.as_str().contains(',') {
                return bad(format!(
                    "label status {:?} cannot be filtered on",
                    s.as_str()
                ));
            }
        }
        Ok(())
    }

    /// Query parameters in the SDK's order.
    fn apply(&self, mut rb: RequestBuilder, page: u32) -> RequestBuilder {
        rb = rb.query("per_page", self.per_page).query("page", page);
        if let Some(ls) = &self.labelset {
            rb = rb.query("labelset", ls);
            if self.include_full_label {
                rb = rb.query("include_full_label", 1);
            }
        }
        rb = rb.query_opt("name__contains", self.name_contains.as_deref());
        if !self.metadata.is_empty() {
            let filters: Vec<String> = self
                .metadata
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            rb = rb.query("filters", filters.join(","));
        }
        if !self.label_status.is_empty() {
            let statuses: Vec<&str> = self.label_status.iter().map(|s| s.as_str()).collect();
            rb = rb.query("label_status", statuses.join(","));
        }
        let dir = if self.descending { "-" } else { "" };
        rb.query("sort", format!("{dir}{}", self.sort.as_str()))
    }
}

impl SegmentsClient {
    /// `GET /datasets/{owner}/{name}/samples/`: the page `query.page` (the SDK's
    /// `get_samples`). A page past the end is a `NotFound` error with vendor code
    /// `InvalidPage`.
    pub async fn get_samples_page(
        &self,
        dataset: &str,
        query: &SamplesQuery,
    ) -> Result<Vec<Sample>> {
        const OP: &str = "get_samples";
        query.validate(OP)?;
        self.samples_page(dataset, query, query.page, OP).await
    }

    async fn samples_page(
        &self,
        dataset: &str,
        query: &SamplesQuery,
        page: u32,
        op: &'static str,
    ) -> Result<Vec<Sample>> {
        let p = dataset_path(dataset, &["samples"], op)?;
        let rb = query.apply(self.request(Method::GET, op, &p), page);
        Self::send_list(rb, op, "sample").await
    }

    /// Every sample matching `query`, from page `query.page` on, fetching the next page while
    /// this one is consumed. The stream ends at a short or empty page, or at Segments'
    /// "Invalid page." answer.
    pub fn get_samples(
        &self,
        dataset: &str,
        query: SamplesQuery,
    ) -> BoxStream<'static, Result<Sample>> {
        const OP: &str = "get_samples";
        if let Err(e) = query.validate(OP) {
            return Self::failed_stream(e);
        }
        let client = self.clone();
        let dataset = dataset.to_owned();
        let first = query.page;
        let id = |s: &Sample| key_of(&s.uuid);
        paginate(
            first,
            guarded(super::VENDOR, OP, id, move |page| {
                let client = client.clone();
                let dataset = dataset.clone();
                let query = query.clone();
                async move {
                    let items = match client.samples_page(&dataset, &query, page, OP).await {
                        Err(e) if Self::is_invalid_page(&e) => Vec::new(),
                        other => other?,
                    };
                    let next = (items.len() as u32 >= query.per_page).then(|| page + 1);
                    Ok(Page { items, next })
                }
            }),
        )
    }

    /// The sample named exactly `name` in `dataset`, if any (a `name__contains` list filtered
    /// to the exact name).
    pub async fn find_sample_by_name(&self, dataset: &str, name: &str) -> Result<Option<Sample>> {
        let query = SamplesQuery {
            name_contains: Some(name.to_owned()),
            ..SamplesQuery::default()
        };
        let mut found = self
            .get_samples(dataset, query)
            .try_filter(|s| futures::future::ready(s.name == name));
        found.try_next().await
    }

    /// `GET /samples/{uuid}/[?labelset=…][&include_signed_urls=1]`: the sample, with its full
    /// label of `labelset` and pre-signed asset URLs when asked.
    pub async fn get_sample(
        &self,
        uuid: &str,
        labelset: Option<&str>,
        include_signed_urls: bool,
    ) -> Result<Sample> {
        const OP: &str = "get_sample";
        let p = format!(
            "{}/",
            path(&["samples", nonempty(uuid, "sample uuid", OP)?])
        );
        let mut rb = self
            .request(Method::GET, OP, &p)
            .query_opt("labelset", labelset);
        if include_signed_urls {
            rb = rb.query("include_signed_urls", 1);
        }
        Self::send_as(rb, OP, "sample").await
    }

    /// `POST /datasets/{owner}/{name}/samples/` (gzip-compressed body). Names are unique per
    /// dataset: "already exists" met only after a retry (the first attempt created it) is
    /// resolved by looking the sample up by name; on a first attempt it is a
    /// [`ErrorKind::Duplicate`] error.
    pub async fn add_sample(&self, dataset: &str, sample: &CreateSampleRequest) -> Result<Sample> {
        const OP: &str = "add_sample";
        nonempty(&sample.name, "sample name", OP)?;
        let p = dataset_path(dataset, &["samples"], OP)?;
        let rb = self
            .request(Method::POST, OP, &p)
            .json(sample)
            .gzip()
            .retry(RetryMode::Idempotent);
        match Self::send_as::<Sample>(rb, OP, "sample").await {
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                match self.find_sample_by_name(dataset, &sample.name).await? {
                    Some(s) => Ok(s),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    /// `POST /datasets/{owner}/{name}/samples_bulk/` (gzip-compressed JSON array): the samples
    /// as Segments returns them. A name that exists already comes back as the existing sample,
    /// unchanged — so a resend cannot duplicate, and this call is retried like a read.
    ///
    /// The SDK's docstring also allows the server to refuse the whole request with "already
    /// exists"; then each sample is created on its own ([`Self::add_sample_idempotent`]), so
    /// either way every name ends up as one sample, returned in input order.
    pub async fn add_samples(
        &self,
        dataset: &str,
        samples: &[CreateSampleRequest],
    ) -> Result<Vec<Sample>> {
        const OP: &str = "add_samples";
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        for s in samples {
            nonempty(&s.name, "sample name", OP)?;
        }
        let p = dataset_path(dataset, &["samples_bulk"], OP)?;
        let rb = self
            .request(Method::POST, OP, &p)
            .json(samples)
            .gzip()
            .retry(RetryMode::Idempotent);
        match Self::send_list::<Sample>(rb, OP, "sample").await {
            Err(e) if e.kind() == ErrorKind::Duplicate => {
                tracing::debug!(
                    vendor = "segments",
                    "bulk create refused existing names; creating one by one"
                );
                let concurrency = self.transport().config().concurrency.max(1);
                // Boxed up front: a lazily mapped borrowing closure is not `Send` for every
                // lifetime, which callers inside `async_trait` futures need.
                let creations: Vec<_> = samples
                    .iter()
                    .map(|s| self.add_sample_idempotent(dataset, s).boxed())
                    .collect();
                stream::iter(creations)
                    .buffered(concurrency)
                    .map_ok(|(sample, _)| sample)
                    .try_collect()
                    .await
            }
            other => other,
        }
    }

    /// `POST /datasets/{owner}/{name}/samples/` that never fails on a name that exists: the
    /// existing sample is returned instead (unchanged), with `true`.
    pub async fn add_sample_idempotent(
        &self,
        dataset: &str,
        sample: &CreateSampleRequest,
    ) -> Result<(Sample, bool)> {
        match self.add_sample(dataset, sample).await {
            Ok(s) => Ok((s, false)),
            Err(e) if e.kind() == ErrorKind::Duplicate => {
                match self.find_sample_by_name(dataset, &sample.name).await? {
                    Some(s) => Ok((s, true)),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `PATCH /samples/{uuid}/` (gzip-compressed): only the members set are sent.
    pub async fn update_sample(&self, uuid: &str, update: &UpdateSampleRequest) -> Result<Sample> {
        const OP: &str = "update_sample";
        let p = format!(
            "{}/",
            path(&["samples", nonempty(uuid, "sample uuid", OP)?])
        );
        // Setting fields to given values twice gives the same sample.
        let rb = self
            .request(Method::PATCH, OP, &p)
            .json(update)
            .gzip()
            .retry(RetryMode::Idempotent);
        Self::send_as(rb, OP, "sample").await
    }

    /// `DELETE /samples/{uuid}/`.
    pub async fn delete_sample(&self, uuid: &str) -> Result<()> {
        const OP: &str = "delete_sample";
        let p = format!(
            "{}/",
            path(&["samples", nonempty(uuid, "sample uuid", OP)?])
        );
        Self::send_delete(self.request(Method::DELETE, OP, &p), OP).await
    }

    /// `DELETE /datasets/{owner}/{name}/samples_bulk/` `{"uuids": [...]}`: 1 to
    /// [`MAX_BULK_DELETE`] UUIDs (checked before sending, as the SDK). Unknown UUIDs are
    /// skipped by Segments; the deletion is all-or-nothing.
    pub async fn delete_samples(
        &self,
        dataset: &str,
        uuids: &[String],
    ) -> Result<DeleteSamplesResponse> {
        const OP: &str = "delete_samples";
        if uuids.is_empty() || uuids.len() > MAX_BULK_DELETE {
            return Err(op_err(
                Error::validation(format!(
                    "a bulk deletion takes 1 to {MAX_BULK_DELETE} sample uuids, got {}",
                    uuids.len()
                )),
                OP,
            ));
        }
        let p = dataset_path(dataset, &["samples_bulk"], OP)?;
        // Deleting the same UUIDs again deletes nothing more.
        let rb = self
            .request(Method::DELETE, OP, &p)
            .json(&json!({ "uuids": uuids }))
            .retry(RetryMode::Idempotent);
        let v = Self::send_value(rb, OP).await?;
        if v.is_null() {
            // An empty 2xx: Segments did not say how many.
            return Ok(DeleteSamplesResponse {
                deleted_count: 0,
                raw: v,
            });
        }
        crate::wire::decode(v, "bulk deletion answer").map_err(|e| op_err(e, OP))
    }

    /// Delete any number of samples, [`MAX_BULK_DELETE`] per request; returns how many
    /// Segments deleted. Chunks already deleted stay deleted if a later one fails (the error
    /// says how many were).
    pub async fn delete_samples_in_chunks(&self, dataset: &str, uuids: &[String]) -> Result<u64> {
        let mut deleted = 0;
        for chunk in uuids.chunks(MAX_BULK_DELETE) {
            match self.delete_samples(dataset, chunk).await {
                Ok(r) => deleted += r.deleted_count,
                Err(e) => {
                    let msg = format!(
                        "{} ({deleted} samples of earlier chunks were deleted)",
                        e.message()
                    );
                    return Err(Error::new(e.kind(), msg)
                        .with_vendor(crate::client::VENDOR)
                        .with_operation("delete_samples")
                        .with_source(e));
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked_before_sending() {
        let table = [
            (
                SamplesQuery {
                    include_full_label: true,
                    ..SamplesQuery::default()
                },
                "needs a labelset",
            ),
            (
                SamplesQuery {
                    per_page: 0,
                    ..SamplesQuery::default()
                },
                "at least 1",
            ),
            (
                SamplesQuery {
                    metadata: vec![("a:b".into(), "c".into())],
                    ..SamplesQuery::default()
                },
                "cannot be expressed",
            ),
            (
                SamplesQuery {
                    metadata: vec![("a".into(), "c,d".into())],
                    ..SamplesQuery::default()
                },
                "cannot be expressed",
            ),
        ];
        for (q, want) in table {
            let e = q.validate("get_samples").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Validation);
            assert!(e.to_string().contains(want), "{e}");
        }
        SamplesQuery {
            metadata: vec![("weather".into(), "sunny:ish".into())],
            label_status: vec![LabelStatus::Labeled, LabelStatus::Reviewed],
            ..SamplesQuery::with_full_labels("ground-truth")
        }
        .validate("get_samples")
        .unwrap();
    }

    #[test]
    fn sort_keys_are_the_sdks() {
        assert_eq!(
            SampleSort::GtLabelUpdatedAt.as_str(),
            "gt_label__updated_at"
        );
        assert_eq!(SampleSort::default().as_str(), "name");
        assert_eq!(SampleSort::Other("created".into()).as_str(), "created");
    }
}
