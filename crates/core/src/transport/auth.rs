//! How a vendor authenticates requests. Keys are held as [`SecretString`]s: their `Debug` prints
//! `[REDACTED]`, and they are exposed only when a request is built.

use base64::Engine as _;
pub use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// Authentication scheme of a vendor API.
#[derive(Clone)]
pub enum Auth {
    /// No authentication (pre-signed URLs).
    None,
    /// The key travels as a query parameter (Sama: `access_key`). URLs are redacted in logs.
    QueryParam {
        /// Parameter name.
        name: &'static str,
        /// The key.
        key: SecretString,
    },
    /// HTTP Basic with the key as user name and an empty password (Scale).
    BasicUser(SecretString),
    /// `Authorization: Bearer <key>` (Labelbox).
    Bearer(SecretString),
    /// `Authorization: <scheme> <key>` (Segments: `APIKey`).
    Scheme {
        /// Scheme word before the key.
        scheme: &'static str,
        /// The key.
        key: SecretString,
    },
}

impl Auth {
    /// The `Authorization` header value, if this scheme uses one.
    pub(crate) fn header_value(&self) -> Option<String> {
        match self {
            Auth::BasicUser(k) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{}:", k.expose_secret()))
            )),
            Auth::Bearer(k) => Some(format!("Bearer {}", k.expose_secret())),
            Auth::Scheme { scheme, key } => Some(format!("{scheme} {}", key.expose_secret())),
            Auth::None | Auth::QueryParam { .. } => None,
        }
    }

    /// The key itself, if any (to scrub it from text a vendor echoes back).
    pub(crate) fn secret(&self) -> Option<&str> {
        match self {
            Auth::QueryParam { key, .. } | Auth::Scheme { key, .. } => Some(key.expose_secret()),
            Auth::BasicUser(k) | Auth::Bearer(k) => Some(k.expose_secret()),
            Auth::None => None,
        }
    }

    /// The query parameter, if this scheme uses one.
    pub(crate) fn query_param(&self) -> Option<(&'static str, &str)> {
        match self {
            Auth::QueryParam { name, key } => Some((name, key.expose_secret())),
            _ => None,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self {
            Auth::None => "None",
            Auth::QueryParam { .. } => "QueryParam",
            Auth::BasicUser(_) => "BasicUser",
            Auth::Bearer(_) => "Bearer",
            Auth::Scheme { .. } => "Scheme",
        };
        write!(f, "Auth::{scheme}(REDACTED)")
    }
}
