//! Labels, labelsets and issues.

use super::{dataset_path, nonempty, SegmentsClient};
use crate::wire::{
    CreateIssueRequest, Issue, Label, Labelset, PutLabelRequest, UpdateIssueRequest,
    UpdateLabelRequest,
};
use labelmux_core::transport::{path, Method, RetryMode};
use labelmux_core::{ErrorKind, Result};
use serde_json::json;

fn label_path(sample_uuid: &str, labelset: &str, op: &str) -> Result<String> {
    Ok(format!(
        "{}/",
        path(&[
            "labels",
            nonempty(sample_uuid, "sample uuid", op)?,
            nonempty(labelset, "labelset name", op)?,
        ])
    ))
}

impl SegmentsClient {
    // -----------------------------------------------------------------------------------------
    // Labels
    // -----------------------------------------------------------------------------------------

    /// `GET /labels/{sample_uuid}/{labelset}/`. A sample without a label in that labelset is
    /// [`ErrorKind::NotFound`].
    pub async fn get_label(&self, sample_uuid: &str, labelset: &str) -> Result<Label> {
        const OP: &str = "get_label";
        let p = label_path(sample_uuid, labelset, OP)?;
        Self::send_as(self.request(Method::GET, OP, &p), OP, "label").await
    }

    /// `PUT /labels/{sample_uuid}/{labelset}/` (gzip-compressed): create the label or replace
    /// its attributes, status and score. A PUT is resent on temporary failures.
    pub async fn add_label(
        &self,
        sample_uuid: &str,
        labelset: &str,
        label: &PutLabelRequest,
    ) -> Result<Label> {
        const OP: &str = "add_label";
        let p = label_path(sample_uuid, labelset, OP)?;
        let rb = self.request(Method::PUT, OP, &p).json(label).gzip();
        Self::send_as(rb, OP, "label").await
    }

    /// `PATCH /labels/{sample_uuid}/{labelset}/` (gzip-compressed): only the members set are
    /// sent.
    pub async fn update_label(
        &self,
        sample_uuid: &str,
        labelset: &str,
        update: &UpdateLabelRequest,
    ) -> Result<Label> {
        const OP: &str = "update_label";
        let p = label_path(sample_uuid, labelset, OP)?;
        // Setting fields to given values twice gives the same label.
        let rb = self
            .request(Method::PATCH, OP, &p)
            .json(update)
            .gzip()
            .retry(RetryMode::Idempotent);
        Self::send_as(rb, OP, "label").await
    }

    /// `DELETE /labels/{sample_uuid}/{labelset}/`.
    pub async fn delete_label(&self, sample_uuid: &str, labelset: &str) -> Result<()> {
        const OP: &str = "delete_label";
        let p = label_path(sample_uuid, labelset, OP)?;
        Self::send_delete(self.request(Method::DELETE, OP, &p), OP).await
    }

    // -----------------------------------------------------------------------------------------
    // Labelsets
    // -----------------------------------------------------------------------------------------

    /// `GET /datasets/{owner}/{name}/labelsets/` (not paged).
    pub async fn get_labelsets(&self, dataset: &str) -> Result<Vec<Labelset>> {
        const OP: &str = "get_labelsets";
        let p = dataset_path(dataset, &["labelsets"], OP)?;
        Self::send_list(self.request(Method::GET, OP, &p), OP, "labelset").await
    }

    /// `GET /datasets/{owner}/{name}/labelsets/{labelset}/`.
    pub async fn get_labelset(&self, dataset: &str, labelset: &str) -> Result<Labelset> {
        const OP: &str = "get_labelset";
        let p = dataset_path(
            dataset,
            &["labelsets", nonempty(labelset, "labelset name", OP)?],
            OP,
        )?;
        Self::send_as(self.request(Method::GET, OP, &p), OP, "labelset").await
    }

    /// `POST /datasets/{owner}/{name}/labelsets/` `{"name", "description", "attributes":
    /// "{}"}` (the string `"{}"`, as the SDK sends it). Names are unique per dataset: "already
    /// exists" after a retry is resolved by reading the labelset back.
    pub async fn add_labelset(
        &self,
        dataset: &str,
        name: &str,
        description: &str,
    ) -> Result<Labelset> {
        const OP: &str = "add_labelset";
        nonempty(name, "labelset name", OP)?;
        let p = dataset_path(dataset, &["labelsets"], OP)?;
        let rb = self
            .request(Method::POST, OP, &p)
            .json(&json!({ "name": name, "description": description, "attributes": "{}" }))
            .retry(RetryMode::Idempotent);
        match Self::send_as::<Labelset>(rb, OP, "labelset").await {
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                self.get_labelset(dataset, name).await.map_err(|_| e)
            }
            other => other,
        }
    }

    /// `DELETE /datasets/{owner}/{name}/labelsets/{labelset}/`.
    pub async fn delete_labelset(&self, dataset: &str, labelset: &str) -> Result<()> {
        const OP: &str = "delete_labelset";
        let p = dataset_path(
            dataset,
            &["labelsets", nonempty(labelset, "labelset name", OP)?],
            OP,
        )?;
        Self::send_delete(self.request(Method::DELETE, OP, &p), OP).await
    }

    // -----------------------------------------------------------------------------------------
    // Issues
    // -----------------------------------------------------------------------------------------

    /// `GET /datasets/{owner}/{name}/issues/` (not paged).
    pub async fn get_issues(&self, dataset: &str) -> Result<Vec<Issue>> {
        const OP: &str = "get_issues";
        let p = dataset_path(dataset, &["issues"], OP)?;
        Self::send_list(self.request(Method::GET, OP, &p), OP, "issue").await
    }

    /// `POST /samples/{uuid}/issues/`. Not resent once Segments may have acted (a resend
    /// would open a second issue).
    pub async fn add_issue(&self, sample_uuid: &str, issue: &CreateIssueRequest) -> Result<Issue> {
        const OP: &str = "add_issue";
        let p = format!(
            "{}/",
            path(&[
                "samples",
                nonempty(sample_uuid, "sample uuid", OP)?,
                "issues"
            ])
        );
        let rb = self
            .request(Method::POST, OP, &p)
            .json(issue)
            .retry(RetryMode::OnlyIfNotProcessed);
        Self::send_as(rb, OP, "issue").await
    }

    /// `PATCH /issues/{uuid}/`.
    pub async fn update_issue(&self, uuid: &str, update: &UpdateIssueRequest) -> Result<Issue> {
        const OP: &str = "update_issue";
        let p = format!("{}/", path(&["issues", nonempty(uuid, "issue uuid", OP)?]));
        let rb = self
            .request(Method::PATCH, OP, &p)
            .json(update)
            .retry(RetryMode::Idempotent);
        Self::send_as(rb, OP, "issue").await
    }

    /// `DELETE /issues/{uuid}/`.
    pub async fn delete_issue(&self, uuid: &str) -> Result<()> {
        const OP: &str = "delete_issue";
        let p = format!("{}/", path(&["issues", nonempty(uuid, "issue uuid", OP)?]));
        Self::send_delete(self.request(Method::DELETE, OP, &p), OP).await
    }
}
