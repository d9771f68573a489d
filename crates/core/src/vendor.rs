//! The vendors labelmux speaks to.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An annotation vendor. Errors, logs and configuration name vendors by [`Vendor::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Vendor {
    /// Sama (SamaHub REST API v2), the reference backend.
    Sama,
    /// Scale AI (REST API v1).
    Scale,
    /// Labelbox (GraphQL API).
    Labelbox,
    /// Segments.ai (REST API).
    Segments,
}

impl Vendor {
    /// Every vendor, in the order documentation lists them.
    pub const ALL: [Vendor; 4] = [
        Vendor::Sama,
        Vendor::Scale,
        Vendor::Labelbox,
        Vendor::Segments,
    ];

    /// Lower-case name used in configuration, logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Sama => "sama",
            Vendor::Scale => "scale",
            Vendor::Labelbox => "labelbox",
            Vendor::Segments => "segments",
        }
    }

    /// Environment variable that holds this vendor's API key by default.
    pub fn api_key_env(self) -> &'static str {
        match self {
            Vendor::Sama => "SAMA_API_KEY",
            Vendor::Scale => "SCALE_API_KEY",
            Vendor::Labelbox => "LABELBOX_API_KEY",
            Vendor::Segments => "SEGMENTS_API_KEY",
        }
    }

    /// The vendor's production API base URL.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Vendor::Sama => "https://api.sama.com/v2",
            Vendor::Scale => "https://api.scale.com/v1",
            Vendor::Labelbox => "https://api.labelbox.com",
            Vendor::Segments => "https://api.segments.ai",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a vendor name labelmux does not know; its message lists the known names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {given:?}; known providers: sama, scale, labelbox, segments")]
pub struct UnknownVendor {
    /// The name that was given.
    pub given: String,
}

impl FromStr for Vendor {
    type Err = UnknownVendor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Vendor::ALL
            .into_iter()
            .find(|v| v.name() == lower || (lower == "segments.ai" && *v == Vendor::Segments))
            .ok_or(UnknownVendor {
                given: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_names_case_insensitively_and_lists_them_otherwise() {
        assert_eq!("Sama".parse::<Vendor>().unwrap(), Vendor::Sama);
        assert_eq!("segments.ai".parse::<Vendor>().unwrap(), Vendor::Segments);
        let err = "samma".parse::<Vendor>().unwrap_err().to_string();
        assert!(
            err.contains("samma") && err.contains("sama, scale, labelbox, segments"),
            "{err}"
        );
    }
}
