//! Releases (and their files), workunits and assets.

use super::{dataset_path, nonempty, op_err, SegmentsClient, DEFAULT_PAGE_SIZE};
use crate::wire::{Asset, Release, Workunit};
use bytes::Bytes;
use chrono::NaiveDateTime;
use futures::stream::BoxStream;
use labelmux_core::paginate::{guarded, key_of, paginate, Page};
use labelmux_core::transport::{Method, Multipart, RetryMode};
use labelmux_core::{Error, ErrorKind, Result};
use serde_json::json;
use std::path::Path;

/// Sort, window and paging of `GET /datasets/{owner}/{name}/workunits/` — every parameter the
/// SDK sends.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkunitsQuery {
    /// Newest first (the SDK's default) or oldest first. The only sort key is `created_at`.
    pub descending: bool,
    /// Only workunits created at or after (sent as `YYYY-MM-DDTHH:MM:SS`, no time zone).
    pub start: Option<NaiveDateTime>,
    /// Only workunits created before.
    pub end: Option<NaiveDateTime>,
    /// Add `session_time_metrics` to each workunit.
    pub include_session_time_metrics: bool,
    /// Page size (default [`DEFAULT_PAGE_SIZE`]).
    pub per_page: u32,
    /// First page, from 1.
    pub page: u32,
}

impl Default for WorkunitsQuery {
    fn default() -> Self {
        WorkunitsQuery {
            descending: true,
            start: None,
            end: None,
            include_session_time_metrics: false,
            per_page: DEFAULT_PAGE_SIZE,
            page: 1,
        }
    }
}

fn format_naive(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

impl SegmentsClient {
    // -----------------------------------------------------------------------------------------
    // Releases
    // -----------------------------------------------------------------------------------------

    /// `GET /datasets/{owner}/{name}/releases/` (not paged).
    pub async fn get_releases(&self, dataset: &str) -> Result<Vec<Release>> {
        const OP: &str = "get_releases";
        let p = dataset_path(dataset, &["releases"], OP)?;
        Self::send_list(self.request(Method::GET, OP, &p), OP, "release").await
    }

    /// `GET /datasets/{owner}/{name}/releases/{release}/`.
    pub async fn get_release(&self, dataset: &str, name: &str) -> Result<Release> {
        const OP: &str = "get_release";
        let p = dataset_path(
            dataset,
            &["releases", nonempty(name, "release name", OP)?],
            OP,
        )?;
        Self::send_as(self.request(Method::GET, OP, &p), OP, "release").await
    }

    /// `POST /datasets/{owner}/{name}/releases/` `{"name", "description"}`: the release, status
    /// `PENDING` (see [`Self::wait_for_release`]). Names are unique per dataset: "already
    /// exists" after a retry is resolved by reading the release back.
    pub async fn add_release(
        &self,
        dataset: &str,
        name: &str,
        description: &str,
    ) -> Result<Release> {
        const OP: &str = "add_release";
        nonempty(name, "release name", OP)?;
        let p = dataset_path(dataset, &["releases"], OP)?;
        let rb = self
            .request(Method::POST, OP, &p)
            .json(&json!({ "name": name, "description": description }))
            .retry(RetryMode::Idempotent);
        match Self::send_as::<Release>(rb, OP, "release").await {
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                self.get_release(dataset, name).await.map_err(|_| e)
            }
            other => other,
        }
    }

    /// `DELETE /datasets/{owner}/{name}/releases/{release}/`.
    pub async fn delete_release(&self, dataset: &str, name: &str) -> Result<()> {
        const OP: &str = "delete_release";
        let p = dataset_path(
            dataset,
            &["releases", nonempty(name, "release name", OP)?],
            OP,
        )?;
        Self::send_delete(self.request(Method::DELETE, OP, &p), OP).await
    }

    // -----------------------------------------------------------------------------------------
    // Workunits
    // -----------------------------------------------------------------------------------------

    /// `GET /datasets/{owner}/{name}/workunits/`: the page `query.page`.
    pub async fn get_workunits_page(
        &self,
        dataset: &str,
        query: &WorkunitsQuery,
    ) -> Result<Vec<Workunit>> {
        self.workunits_page(dataset, query, query.page).await
    }

    async fn workunits_page(
        &self,
        dataset: &str,
        query: &WorkunitsQuery,
        page: u32,
    ) -> Result<Vec<Workunit>> {
        const OP: &str = "get_workunits";
        if query.per_page == 0 || page == 0 {
            return Err(op_err(
                Error::validation("per_page and page must be at least 1"),
                OP,
            ));
        }
        let p = dataset_path(dataset, &["workunits"], OP)?;
        let dir = if query.descending { "-" } else { "" };
        let mut rb = self
            .request(Method::GET, OP, &p)
            .query("per_page", query.per_page)
            .query("page", page)
            .query("sort", format!("{dir}created_at"))
            .query_opt("start", query.start.as_ref().map(format_naive))
            .query_opt("end", query.end.as_ref().map(format_naive));
        if query.include_session_time_metrics {
            rb = rb.query("include_session_time_metrics", "true");
        }
        Self::send_list(rb, OP, "workunit").await
    }

    /// Every workunit matching `query`, page after page (ends like [`Self::get_samples`]).
    pub fn get_workunits(
        &self,
        dataset: &str,
        query: WorkunitsQuery,
    ) -> BoxStream<'static, Result<Workunit>> {
        let client = self.clone();
        let dataset = dataset.to_owned();
        // A workunit without a uuid is told apart by everything it holds.
        let id = |w: &Workunit| match &w.uuid {
            Some(uuid) => key_of(uuid),
            None => key_of(&format!("{w:?}")),
        };
        paginate(
            query.page,
            guarded(super::VENDOR, "get_workunits", id, move |page| {
                let client = client.clone();
                let dataset = dataset.clone();
                let query = query.clone();
                async move {
                    let items = match client.workunits_page(&dataset, &query, page).await {
                        Err(e) if Self::is_invalid_page(&e) => Vec::new(),
                        other => other?,
                    };
                    let next = (items.len() as u32 >= query.per_page).then(|| page + 1);
                    Ok(Page { items, next })
                }
            }),
        )
    }

    // -----------------------------------------------------------------------------------------
    // Assets
    // -----------------------------------------------------------------------------------------

    /// Upload `data` as an asset named `filename`: `POST /assets/` `{"filename"}`, then the
    /// presigned POST to storage (the form fields in the order received, then the `file` part;
    /// no credentials). Returns the asset once stored; use its `url` in sample or label
    /// attributes.
    pub async fn upload_asset(&self, filename: &str, data: Bytes) -> Result<Asset> {
        let asset = self.create_asset(filename).await?;
        let form =
            Self::presigned_form(&asset).bytes("file", filename, "application/octet-stream", data);
        self.post_to_storage(&asset, form).await?;
        Ok(asset)
    }

    /// Like [`Self::upload_asset`], streaming the file at `path` (re-read on a retry).
    pub async fn upload_asset_file(&self, path: &Path, filename: Option<&str>) -> Result<Asset> {
        let name = filename
            .map(str::to_owned)
            .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "file".to_owned());
        let asset = self.create_asset(&name).await?;
        let form = Self::presigned_form(&asset).file(
            "file",
            name.as_str(),
            "application/octet-stream",
            path.to_path_buf(),
        );
        self.post_to_storage(&asset, form).await?;
        Ok(asset)
    }

    async fn create_asset(&self, filename: &str) -> Result<Asset> {
        const OP: &str = "upload_asset";
        nonempty(filename, "file name", OP)?;
        // Each call makes a new asset record: resent only when Segments surely did not act.
        let rb = self
            .request(Method::POST, OP, "assets/")
            .json(&json!({ "filename": filename }))
            .retry(RetryMode::OnlyIfNotProcessed);
        let resp = Self::send(rb, OP).await?;
        let asset = Asset::from_slice(&resp.body).map_err(|e| op_err(e, OP))?;
        if asset.presigned_post.url.as_deref().unwrap_or("").is_empty() {
            return Err(op_err(
                Error::decode("Segments.ai answered the asset without a presigned upload URL"),
                OP,
            ));
        }
        Ok(asset)
    }

    fn presigned_form(asset: &Asset) -> Multipart {
        asset
            .presigned_post
            .fields
            .iter()
            .fold(Multipart::new(), |form, (k, v)| {
                form.text(k.as_str(), v.as_str())
            })
    }

    async fn post_to_storage(&self, asset: &Asset, form: Multipart) -> Result<()> {
        const OP: &str = "upload_asset";
        let url = asset.presigned_post.url.as_deref().unwrap_or("");
        // Storing the same key again overwrites it with the same bytes.
        let rb = self
            .transport()
            .request_absolute(Method::POST, OP, url)
            .multipart(form)
            .retry(RetryMode::Idempotent);
        Self::send(rb, OP).await.map(|_| ())
    }
}
