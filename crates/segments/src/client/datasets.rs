//! Datasets and collaborators.

use super::{dataset_path, nonempty, op_err, split_dataset, SegmentsClient, DEFAULT_PAGE_SIZE};
use crate::wire::{
    CloneDatasetRequest, Collaborator, CreateDatasetRequest, Dataset, Role, UpdateDatasetRequest,
};
use futures::stream::{self, BoxStream, StreamExt};
use labelmux_core::paginate::{guarded, key_of, paginate, Page};
use labelmux_core::transport::{path, Method, RetryMode};
use labelmux_core::{Error, ErrorKind, Result};
use serde_json::json;

impl SegmentsClient {
    /// `GET /user/datasets/` (datasets visible to the key's user) or `GET
    /// /users/{name}/datasets/`: one page (`page` from 1).
    pub async fn get_datasets_page(
        &self,
        user: Option<&str>,
        per_page: u32,
        page: u32,
    ) -> Result<Vec<Dataset>> {
        const OP: &str = "get_datasets";
        if per_page == 0 || page == 0 {
            return Err(op_err(
                Error::validation("per_page and page must be at least 1"),
                OP,
            ));
        }
        let p = match user {
            Some(u) => format!(
                "{}/",
                path(&["users", nonempty(u, "user name", OP)?, "datasets"])
            ),
            None => "user/datasets/".to_owned(),
        };
        let rb = self
            .request(Method::GET, OP, &p)
            .query("per_page", per_page)
            .query("page", page);
        Self::send_list(rb, OP, "dataset").await
    }

    /// Every dataset of `user` (or visible to the key's user), page after page: the stream
    /// ends at a short or empty page, or at Segments' "Invalid page." answer.
    pub fn get_datasets(&self, user: Option<&str>) -> BoxStream<'static, Result<Dataset>> {
        let client = self.clone();
        let user = user.map(str::to_owned);
        let id = |d: &Dataset| key_of(&(&d.full_name, &d.name));
        paginate(
            1u32,
            guarded(super::VENDOR, "get_datasets", id, move |page| {
                let client = client.clone();
                let user = user.clone();
                async move {
                    let items = match client
                        .get_datasets_page(user.as_deref(), DEFAULT_PAGE_SIZE, page)
                        .await
                    {
                        Err(e) if Self::is_invalid_page(&e) => Vec::new(),
                        other => other?,
                    };
                    let next = (items.len() as u32 >= DEFAULT_PAGE_SIZE).then(|| page + 1);
                    Ok(Page { items, next })
                }
            }),
        )
    }

    /// `GET /datasets/{owner}/{name}/`.
    pub async fn get_dataset(&self, dataset: &str) -> Result<Dataset> {
        const OP: &str = "get_dataset";
        let p = dataset_path(dataset, &[], OP)?;
        Self::send_as(self.request(Method::GET, OP, &p), OP, "dataset").await
    }

    /// `POST /user/datasets/`, or `POST /organizations/{org}/datasets/` with `organization`.
    /// Names are unique per owner, so a resend cannot duplicate: "already exists" met only
    /// after a retry is resolved by reading the dataset back.
    pub async fn add_dataset(
        &self,
        request: &CreateDatasetRequest,
        organization: Option<&str>,
    ) -> Result<Dataset> {
        const OP: &str = "add_dataset";
        nonempty(&request.name, "dataset name", OP)?;
        let p = match organization {
            Some(org) => format!(
                "{}/",
                path(&[
                    "organizations",
                    nonempty(org, "organization", OP)?,
                    "datasets"
                ])
            ),
            None => "user/datasets/".to_owned(),
        };
        let rb = self
            .request(Method::POST, OP, &p)
            .json(request)
            .retry(RetryMode::Idempotent);
        match Self::send_as::<Dataset>(rb, OP, "dataset").await {
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                let owner = match organization {
                    Some(org) => org.to_owned(),
                    None => self.get_user(None).await?.username,
                };
                self.get_dataset(&format!("{owner}/{}", request.name))
                    .await
                    .map_err(|_| e)
            }
            other => other,
        }
    }

    /// `PATCH /datasets/{owner}/{name}/`: only the members set are sent.
    pub async fn update_dataset(
        &self,
        dataset: &str,
        request: &UpdateDatasetRequest,
    ) -> Result<Dataset> {
        const OP: &str = "update_dataset";
        let p = dataset_path(dataset, &[], OP)?;
        // Setting fields to given values twice gives the same dataset.
        let rb = self
            .request(Method::PATCH, OP, &p)
            .json(request)
            .retry(RetryMode::Idempotent);
        Self::send_as(rb, OP, "dataset").await
    }

    /// `DELETE /datasets/{owner}/{name}/`.
    pub async fn delete_dataset(&self, dataset: &str) -> Result<()> {
        const OP: &str = "delete_dataset";
        let p = dataset_path(dataset, &[], OP)?;
        Self::send_delete(self.request(Method::DELETE, OP, &p), OP).await
    }

    /// `POST /datasets/{owner}/{name}/clone/`: the clone (named `<name>-clone` unless
    /// `request.name` says otherwise, as the SDK). A clone name taken only after a retry is
    /// resolved by reading the clone back.
    pub async fn clone_dataset(
        &self,
        dataset: &str,
        request: &CloneDatasetRequest,
    ) -> Result<Dataset> {
        const OP: &str = "clone_dataset";
        let (_, name) = split_dataset(dataset).map_err(|e| e.with_operation(OP))?;
        let p = dataset_path(dataset, &["clone"], OP)?;
        let mut body = request.clone();
        let clone_name = body
            .name
            .get_or_insert_with(|| format!("{name}-clone"))
            .clone();
        let rb = self
            .request(Method::POST, OP, &p)
            .json(&body)
            .retry(RetryMode::Idempotent);
        match Self::send_as::<Dataset>(rb, OP, "dataset").await {
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                let owner = match &request.owner {
                    Some(o) => o.clone(),
                    None => self.get_user(None).await?.username,
                };
                match self.get_dataset(&format!("{owner}/{clone_name}")).await {
                    Ok(d) if d.cloned_from.as_deref() == Some(dataset) => Ok(d),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Collaborators
    // -----------------------------------------------------------------------------------------

    fn collaborator_path(dataset: &str, username: &str, op: &str) -> Result<String> {
        let (owner, name) = split_dataset(dataset).map_err(|e| e.with_operation(op))?;
        // No trailing slash on per-collaborator routes, as the SDK sends them.
        Ok(path(&[
            "datasets",
            owner,
            name,
            "collaborators",
            nonempty(username, "user name", op)?,
        ]))
    }

    /// `GET /datasets/{owner}/{name}/collaborators/{username}`.
    pub async fn get_dataset_collaborator(
        &self,
        dataset: &str,
        username: &str,
    ) -> Result<Collaborator> {
        const OP: &str = "get_dataset_collaborator";
        let p = Self::collaborator_path(dataset, username, OP)?;
        Self::send_as(self.request(Method::GET, OP, &p), OP, "collaborator").await
    }

    /// `POST /datasets/{owner}/{name}/collaborators/` `{"user", "role"}` (the SDK's default
    /// role is [`Role::Labeler`]). "Is already a collaborator" after a retry is resolved by
    /// reading the collaborator back.
    pub async fn add_dataset_collaborator(
        &self,
        dataset: &str,
        username: &str,
        role: &Role,
    ) -> Result<Collaborator> {
        const OP: &str = "add_dataset_collaborator";
        nonempty(username, "user name", OP)?;
        let p = dataset_path(dataset, &["collaborators"], OP)?;
        let rb = self
            .request(Method::POST, OP, &p)
            .json(&json!({ "user": username, "role": role }))
            .retry(RetryMode::Idempotent);
        match Self::send_as::<Collaborator>(rb, OP, "collaborator").await {
            Err(e) if e.kind() == ErrorKind::Duplicate && e.attempts() > 1 => {
                match self.get_dataset_collaborator(dataset, username).await {
                    Ok(c) if c.role.as_ref() == Some(role) => Ok(c),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// `PATCH /datasets/{owner}/{name}/collaborators/{username}` `{"role"}`.
    pub async fn update_dataset_collaborator(
        &self,
        dataset: &str,
        username: &str,
        role: &Role,
    ) -> Result<Collaborator> {
        const OP: &str = "update_dataset_collaborator";
        let p = Self::collaborator_path(dataset, username, OP)?;
        let rb = self
            .request(Method::PATCH, OP, &p)
            .json(&json!({ "role": role }))
            .retry(RetryMode::Idempotent);
        Self::send_as(rb, OP, "collaborator").await
    }

    /// `DELETE /datasets/{owner}/{name}/collaborators/{username}`.
    pub async fn delete_dataset_collaborator(&self, dataset: &str, username: &str) -> Result<()> {
        const OP: &str = "delete_dataset_collaborator";
        let p = Self::collaborator_path(dataset, username, OP)?;
        Self::send_delete(self.request(Method::DELETE, OP, &p), OP).await
    }

    /// A one-item stream holding `e` (for stream-returning calls that fail before sending).
    pub(crate) fn failed_stream<T: Send + 'static>(e: Error) -> BoxStream<'static, Result<T>> {
        stream::once(async move { Err(e) }).boxed()
    }
}
