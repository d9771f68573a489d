//! GraphQL over the shared transport, on `graphql_client` types.
//!
//! A document is POSTed as `{"query", "variables", "operationName"}` (untyped documents without
//! `operationName`). A failure the server reports in `errors[]` of a 200 is turned into an error
//! by the adapter's [`SuccessCheck`](super::SuccessCheck), so the transport's retry rules apply
//! to it; these helpers only decode `data`, and a missing or null `data` is a `Decode` error.

use super::{body_snippet, Method, RetryMode, Transport};
use crate::{Error, Result};
use graphql_client::GraphQLQuery;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A query: resent on temporary failures.
pub async fn query<Q: GraphQLQuery>(
    t: &Transport,
    path: &str,
    operation: &'static str,
    variables: Q::Variables,
) -> Result<Q::ResponseData> {
    send_typed::<Q>(t, path, operation, variables, RetryMode::Idempotent).await
}

/// A mutation: resent only per `retry` (pass `RetryMode::Idempotent` only when it is).
pub async fn mutate<Q: GraphQLQuery>(
    t: &Transport,
    path: &str,
    operation: &'static str,
    variables: Q::Variables,
    retry: RetryMode,
) -> Result<Q::ResponseData> {
    send_typed::<Q>(t, path, operation, variables, retry).await
}

/// Untyped form, for documents built at run time; returns `data`.
pub async fn execute_raw(
    t: &Transport,
    path: &str,
    operation: &'static str,
    query: &str,
    variables: serde_json::Value,
    retry: RetryMode,
) -> Result<serde_json::Value> {
    #[derive(Serialize)]
    struct Document<'a> {
        query: &'a str,
        variables: serde_json::Value,
    }
    send(t, path, operation, &Document { query, variables }, retry).await
}

async fn send_typed<Q: GraphQLQuery>(
    t: &Transport,
    path: &str,
    operation: &'static str,
    variables: Q::Variables,
    retry: RetryMode,
) -> Result<Q::ResponseData> {
    send(t, path, operation, &Q::build_query(variables), retry).await
}

/// The envelope of an answer; `errors` are the success check's business.
#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default = "Option::default")]
    data: Option<T>,
}

async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
    t: &Transport,
    path: &str,
    operation: &'static str,
    document: &B,
    retry: RetryMode,
) -> Result<T> {
    let resp = t
        .request(Method::POST, operation, path)
        .json(document)
        .retry(retry)
        .send()
        .await?;
    let fail = |message: String| {
        Error::decode(message)
            .with_vendor(t.vendor())
            .with_operation(operation)
            .with_status(resp.status)
    };
    let envelope: Envelope<T> = serde_json::from_slice(&resp.body).map_err(|e| {
        fail(format!(
            "unexpected GraphQL answer ({e}): {}",
            body_snippet(&resp.body)
        ))
    })?;
    envelope.data.ok_or_else(|| {
        fail(format!(
            "GraphQL answer without data: {}",
            body_snippet(&resp.body)
        ))
    })
}
