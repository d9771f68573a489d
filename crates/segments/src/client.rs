//! The vendor-native Segments.ai client: every call of the official Python SDK
//! (`segments-ai` 1.33.0) in the spec's endpoint table, typed, on the shared [`Transport`].
//!
//! Wire behaviour follows the SDK where it is sound and fixes it where it is not:
//! `Authorization: APIKey <key>`; routes at the host root with the SDK's trailing-slash choice
//! per route; a dataset identifier `owner/name` as two path segments, each percent-encoded
//! (the SDK inserts it raw); query values percent-encoded (the SDK does not); gzip-compressed
//! bodies on the five calls the SDK compresses; any 2xx is success and a non-empty 2xx body
//! must be JSON; throttling reported in a 2xx body is a `TooManyRequests` error the transport
//! waits out. Unlike the SDK every request has timeouts, and retries follow the transport's
//! rules: reads, PUTs, DELETEs and PATCHes (which set fields to given values) are resent on
//! temporary failures; creations are resent only when Segments surely did not act, or when a
//! resend cannot duplicate (names unique per dataset: "already exists" after a retry is
//! resolved by reading the resource back; bulk sample creation returns existing names
//! unchanged).
//!
//! The calls are grouped by resource in `client/`.

mod datasets;
mod labels;
mod release_file;
mod releases;
mod samples;

pub use releases::WorkunitsQuery;
pub use samples::{SampleSort, SamplesQuery};

use crate::errors::{classify, success_check, INVALID_PAGE};
use crate::wire::{self, User, WithRaw};
use labelmux_core::transport::{
    path, Auth, ExposeSecret, Method, RequestBuilder, Response, SecretString, Transport,
    TransportConfig,
};
use labelmux_core::{Error, ErrorKind, Result, Vendor};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Segments.ai's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.segments.ai/";

/// The SDK version whose wire behaviour this client follows; sent as `lib_version` of
/// `GET /api_status/` (the server answers 426 to versions it considers too old).
pub const SDK_VERSION: &str = "1.33.0";

/// Largest page the SDK asks for (its default `per_page`); the server's maximum is not
/// published.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// Most UUIDs one bulk sample deletion takes (checked client-side, as the SDK does).
pub const MAX_BULK_DELETE: usize = 1000;

/// The `X-source` header value labelmux sends (the SDK sends `python-sdk`).
pub const X_SOURCE: &str = "labelmux";

const VENDOR: Vendor = Vendor::Segments;

fn op_err(e: Error, op: &str) -> Error {
    e.with_vendor(VENDOR).with_operation(op)
}

/// Split a dataset identifier `owner/name` into its two segments.
pub fn split_dataset(identifier: &str) -> Result<(&str, &str)> {
    match identifier.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((owner, name))
        }
        _ => Err(Error::validation(format!(
            "{identifier:?} is not a Segments.ai dataset identifier: expected `owner/name`, e.g. `jane/flowers`"
        ))
        .with_vendor(VENDOR)),
    }
}

fn nonempty<'a>(value: &'a str, what: &str, op: &str) -> Result<&'a str> {
    if value.is_empty() {
        return Err(op_err(
            Error::validation(format!("the {what} must not be empty")),
            op,
        ));
    }
    Ok(value)
}

/// `/datasets/{owner}/{name}/<rest...>/` (trailing slash, as the SDK).
fn dataset_path(dataset: &str, rest: &[&str], op: &str) -> Result<String> {
    let (owner, name) = split_dataset(dataset).map_err(|e| e.with_operation(op))?;
    let mut segments = vec!["datasets", owner, name];
    segments.extend_from_slice(rest);
    Ok(format!("{}/", path(&segments)))
}

/// What `GET /api_status/` said.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiStatus {
    /// Segments answered 426: a newer client version exists (a warning, not a failure).
    pub upgrade_available: bool,
    /// The body, when it was JSON.
    pub body: Option<Value>,
}

/// The Segments.ai API client. Cheap to clone (the transport is shared).
#[derive(Clone, Debug)]
pub struct SegmentsClient {
    transport: Transport,
}

impl SegmentsClient {
    /// A client of the API at `base_url` ([`DEFAULT_BASE_URL`] for production). Any path of the
    /// base URL is kept (the SDK drops it). An empty key is refused before any call.
    pub fn new(base_url: &str, api_key: SecretString, transport: TransportConfig) -> Result<Self> {
        if api_key.expose_secret().trim().is_empty() {
            return Err(Error::config(format!(
                "Segments.ai API key is empty; set {} or the api_key of [segments] in the config",
                VENDOR.api_key_env()
            ))
            .with_vendor(VENDOR));
        }
        let transport = Transport::new(
            VENDOR,
            base_url,
            Auth::Scheme {
                scheme: "APIKey",
                key: api_key,
            },
            transport,
            classify,
        )?
        .with_success_check(success_check);
        Ok(SegmentsClient { transport })
    }

    /// The transport (base URL, settings).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn request(&self, method: Method, op: &'static str, path: &str) -> RequestBuilder {
        self.transport
            .request(method, op, path)
            .header("x-source", X_SOURCE)
    }

    pub(crate) async fn send(rb: RequestBuilder, op: &'static str) -> Result<Response> {
        rb.send().await.map_err(|e| op_err(e, op))
    }

    /// Any 2xx; a non-empty body must be JSON (the SDK's rule), an empty one is `Null`.
    pub(crate) async fn send_value(rb: RequestBuilder, op: &'static str) -> Result<Value> {
        let resp = Self::send(rb, op).await?;
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        resp.json::<Value>().map_err(|e| op_err(e, op))
    }

    pub(crate) async fn send_as<T: DeserializeOwned + WithRaw>(
        rb: RequestBuilder,
        op: &'static str,
        what: &str,
    ) -> Result<T> {
        let v = Self::send_value(rb, op).await?;
        wire::decode(v, what).map_err(|e| op_err(e, op))
    }

    pub(crate) async fn send_list<T: DeserializeOwned + WithRaw>(
        rb: RequestBuilder,
        op: &'static str,
        what: &str,
    ) -> Result<Vec<T>> {
        let v = Self::send_value(rb, op).await?;
        wire::decode_list(v, what).map_err(|e| op_err(e, op))
    }

    /// A DELETE; a 404 met only after a retry means the first attempt deleted it.
    pub(crate) async fn send_delete(rb: RequestBuilder, op: &'static str) -> Result<()> {
        match Self::send(rb, op).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && e.attempts() > 1 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether `e` is the "page past the end" answer of a paged list.
    pub(crate) fn is_invalid_page(e: &Error) -> bool {
        e.kind() == ErrorKind::NotFound && e.vendor_code() == Some(INVALID_PAGE)
    }

    // -----------------------------------------------------------------------------------------
    // Status and users
    // -----------------------------------------------------------------------------------------

    /// `GET /api_status/?lib_version=…`: the SDK's construction-time probe (checks the key).
    /// A 426 is reported as [`ApiStatus::upgrade_available`], not as an error.
    pub async fn api_status(&self) -> Result<ApiStatus> {
        const OP: &str = "api_status";
        let rb = self
            .request(Method::GET, OP, "api_status/")
            .query("lib_version", SDK_VERSION);
        match Self::send(rb, OP).await {
            Ok(resp) => Ok(ApiStatus {
                upgrade_available: false,
                body: resp.json_or_none(),
            }),
            Err(e) if e.status() == Some(426) => {
                tracing::warn!(
                    vendor = VENDOR.name(),
                    "Segments.ai reports a newer client version (HTTP 426); continuing"
                );
                Ok(ApiStatus {
                    upgrade_available: true,
                    body: None,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /user` (the key's user) or `GET /users/{name}`.
    pub async fn get_user(&self, username: Option<&str>) -> Result<User> {
        const OP: &str = "get_user";
        let p = match username {
            Some(u) => path(&["users", nonempty(u, "user name", OP)?]),
            None => "user".to_owned(),
        };
        Self::send_as(self.request(Method::GET, OP, &p), OP, "user").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_identifiers_are_two_segments_each_encoded() {
        assert_eq!(split_dataset("jane/flowers").unwrap(), ("jane", "flowers"));
        for bad in ["flowers", "/flowers", "jane/", "a/b/c", ""] {
            let e = split_dataset(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Validation, "{bad}");
            assert!(e.to_string().contains("owner/name"), "{e}");
        }
        assert_eq!(
            dataset_path("jane/my flowers?", &["samples"], "x").unwrap(),
            "datasets/jane/my%20flowers%3F/samples/"
        );
        assert_eq!(
            dataset_path("acme/d", &[], "x").unwrap(),
            "datasets/acme/d/"
        );
    }

    #[test]
    fn an_empty_key_is_refused_before_any_call() {
        let err = SegmentsClient::new(
            DEFAULT_BASE_URL,
            SecretString::from(" "),
            TransportConfig::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("SEGMENTS_API_KEY"), "{err}");
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let c = SegmentsClient::new(
            DEFAULT_BASE_URL,
            SecretString::from("sk-very-secret"),
            TransportConfig::default(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("sk-very-secret"));
    }
}
