//! Wire helpers of the Scale emulator: query strings the way the SDK sends them (repeated keys,
//! `True`/`False`, comma lists), timestamps, percent-decoded path segments and Basic auth
//! (scale.md §1, §8.1).

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Every v1 task type (the `{type}` of `POST /task/{type}`), scale.md §4.8.
pub(crate) const TASK_TYPES: [&str; 31] = [
    "annotation",
    "categorization",
    "comparison",
    "cuboidannotation",
    "datacollection",
    "documentmodel",
    "documenttranscription",
    "imageannotation",
    "laneannotation",
    "lidarannotation",
    "lidarlinking",
    "lidarsegmentation",
    "lidartopdown",
    "lineannotation",
    "namedentityrecognition",
    "pointannotation",
    "polygonannotation",
    "segmentannotation",
    "transcription",
    "textcollection",
    "videoannotation",
    "videoboxannotation",
    "videoplaybackannotation",
    "videocuboidannotation",
    "sensorfusion",
    "chat",
    "chatexperimental",
    "chatlite",
    "multichat",
    "multistage",
    "federal2dvideoannotation",
];

/// Whether tasks of this type need an `attachment` / `attachments` parameter.
pub(crate) fn needs_attachment(task_type: &str) -> bool {
    task_type.ends_with("annotation")
        || task_type.starts_with("lidar")
        || matches!(
            task_type,
            "categorization"
                | "comparison"
                | "transcription"
                | "documenttranscription"
                | "documentmodel"
        )
}

// Scale's timestamp form is ISO-8601 UTC with milliseconds and `Z`.
pub(crate) use crate::framework::time::{iso_millis_z as fmt_ts, now_ms};

/// A time filter value: RFC 3339, naive ISO (`T` or space, taken as UTC), or a date. In ms.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// `True`/`true`/`1` and `False`/`false`/`0`, case-insensitively.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" | "" => Some(false),
        _ => None,
    }
}

/// Decoded query parameters, in order, repeated keys kept (`+` and `%20` both mean space).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(q: Option<&str>) -> Self {
        Query(
            url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last non-empty value of `k`.
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, v)| key == k && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `k` (repeated keys), comma lists split when `split_commas`.
    pub(crate) fn all(&self, k: &str, split_commas: bool) -> Vec<String> {
        let mut out = Vec::new();
        for (key, v) in &self.0 {
            if key != k {
                continue;
            }
            if split_commas {
                out.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
            } else if !v.is_empty() {
                out.push(v.clone());
            }
        }
        out
    }

    /// A boolean parameter; `Err` names the parameter when its value is not a boolean.
    pub(crate) fn bool(&self, k: &str) -> Result<Option<bool>, String> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| format!("Parameter is invalid, reason: \"{k}\" must be a boolean")),
        }
    }

    /// A time parameter in ms.
    pub(crate) fn time(&self, k: &str) -> Result<Option<i64>, String> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                format!("Parameter is invalid, reason: \"{k}\" must be a valid date ({v:?})")
            }),
        }
    }

    /// An integer parameter within `min..=max`.
    pub(crate) fn int(&self, k: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(format!(
                    "Parameter is invalid, reason: \"{k}\" must be an integer between {min} and {max}"
                )),
            },
        }
    }
}

/// Percent-decode one path segment (`%2F` → `/`; `+` stays `+`). Invalid UTF-8 → `None`.
pub(crate) fn decode_segment(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Standard base64, padded or not, as HTTP Basic credentials may come.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The API key of an `Authorization` header: the Basic user name (v1), or a Bearer token (v2;
/// accepting it on v1 too is harmless, §8.1).
pub(crate) fn api_key_of(authorization: Option<&str>) -> Option<String> {
    let h = authorization?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(LENIENT_BASE64.decode(rest.trim()).ok()?).ok()?;
        Some(
            decoded
                .split_once(':')
                .map_or(decoded.clone(), |(u, _)| u.to_owned()),
        )
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.trim().to_owned())
    } else {
        None
    }
}

/// A MIME type guessed from a file name.
pub(crate) fn mime_of(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "json" => "application/json",
        "txt" => "text/plain",
        "csv" => "text/csv",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_repeated_keys_and_python_booleans() {
        let q = Query::parse(Some(
            "project=p+x&batch=b%20b%2Fx&tags=a&tags=b&customer_review_status=accepted%2Cfixed&include_attachment_url=True&limited_response=false",
        ));
        assert_eq!(q.get("project"), Some("p x"));
        assert_eq!(q.get("batch"), Some("b b/x"));
        assert_eq!(q.all("tags", false), ["a", "b"]);
        assert_eq!(q.all("customer_review_status", true), ["accepted", "fixed"]);
        assert_eq!(q.bool("include_attachment_url"), Ok(Some(true)));
        assert_eq!(q.bool("limited_response"), Ok(Some(false)));
        assert!(Query::parse(Some("x=maybe")).bool("x").is_err());
        assert!(Query::parse(Some("limit=101"))
            .int("limit", 1, 100)
            .is_err());
    }

    #[test]
    fn times_parse_in_every_form_the_sdk_sends() {
        let want = parse_time("2024-05-01T12:00:00.123Z").unwrap();
        for s in [
            "2024-05-01T12:00:00.123",
            "2024-05-01 12:00:00.123000",
            "2024-05-01T12:00:00.123+00:00",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(fmt_ts(want), "2024-05-01T12:00:00.123Z");
        assert_eq!(
            parse_time("2020-09-08").map(fmt_ts).as_deref(),
            Some("2020-09-08T00:00:00.000Z")
        );
        assert_eq!(parse_time("soon"), None);
    }

    #[test]
    fn segments_decode_and_basic_auth_yields_the_user_name() {
        assert_eq!(decode_segment("b%20b%2Fx").as_deref(), Some("b b/x"));
        assert_eq!(decode_segment("a+b%").as_deref(), Some("a+b%"));
        assert_eq!(
            api_key_of(Some("Basic bGl2ZV9hYmMxMjM6")).as_deref(),
            Some("live_abc123")
        );
        // Padded or not, as clients vary.
        assert_eq!(
            api_key_of(Some("Basic bGl2ZV9hYmMxMjM=")).as_deref(),
            Some("live_abc123")
        );
        assert_eq!(
            api_key_of(Some("Basic bGl2ZV9hYmMxMjM")).as_deref(),
            Some("live_abc123")
        );
        assert_eq!(api_key_of(Some("Basic not*base64")), None);
        assert_eq!(api_key_of(Some("Bearer k")).as_deref(), Some("k"));
        assert_eq!(api_key_of(Some("Token k")), None);
        assert_eq!(api_key_of(None), None);
    }
}
