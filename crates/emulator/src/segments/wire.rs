//! Wire helpers of the Segments.ai emulator: the `APIKey` header, percent-decoded path segments,
//! query strings as the SDK sends them (unencoded values, its double-`?` bug), gzip request
//! bodies, UUIDs, timestamps and the storage multipart form (segments.md §1, §2.4, §8.1).

use chrono::{DateTime, NaiveDateTime, Utc};
use std::io::Read;

/// What the `Authorization` header carries.
#[derive(Debug, PartialEq)]
pub(crate) enum Credentials {
    /// No header, or a scheme other than `APIKey`: DRF's "credentials were not provided".
    Missing,
    /// `APIKey <key>`.
    Key(String),
}

/// Parse `Authorization: APIKey <key>` (scheme compared case-insensitively).
pub(crate) fn credentials(authorization: Option<&str>) -> Credentials {
    let Some(h) = authorization.map(str::trim) else {
        return Credentials::Missing;
    };
    match h.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("apikey") && !key.trim().is_empty() => {
            Credentials::Key(key.trim().to_owned())
        }
        _ => Credentials::Missing,
    }
}

/// Percent-decode one path segment (`%2F` → `/` inside the segment). Invalid UTF-8 → `None`.
pub(crate) fn decode_segment(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// The path split into decoded segments, without the empty segments of the leading slash and
/// of one trailing slash (both `/user` and `/user/` route the same; nothing redirects).
pub(crate) fn path_segments(path: &str) -> Option<Vec<String>> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Some(Vec::new());
    }
    trimmed.split('/').map(decode_segment).collect()
}

/// Decoded query parameters in order. A value holding a raw `?` is split there (the SDK's
/// `?labelset=X?include_signed_urls=1` bug), so both parameters are seen.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(q: Option<&str>) -> Self {
        let raw = q.unwrap_or("").replace('?', "&");
        Query(
            url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last value of `k` (empty values count as absent).
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, v)| key == k && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// `1` / `true` (any case) → true.
    pub(crate) fn flag(&self, k: &str) -> bool {
        self.get(k)
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }
}

/// Decode a request body sent with `Content-Encoding: gzip` (the SDK compresses sample and
/// label writes by default, §1.5).
pub(crate) fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("Could not decode the gzip request body: {e}"))?;
    if out.len() > limit {
        return Err(format!("Request body larger than {limit} bytes"));
    }
    Ok(out)
}

/// A random version-4 UUID in its canonical hyphenated form.
pub(crate) fn new_uuid(rng: &mut fastrand::Rng) -> String {
    let mut b: [u8; 16] = std::array::from_fn(|_| rng.u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whether `s` is a hyphenated UUID (Django's `<uuid:…>` path converter: other ids match no
/// route and get the fallback 404).
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The API's timestamp form, e.g. `2020-07-20T14:59:36.242218Z`.
pub(crate) fn fmt_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The release file's timestamp form, e.g. `2020-07-09 10:20:19.888887+00:00` (§7.2).
pub(crate) fn fmt_release_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// A workunit `start` / `end` bound: `YYYY-MM-DDTHH:MM:SS` as the SDK sends it (taken as UTC),
/// or RFC 3339, or a date.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A MIME type guessed from a file name (assets are served with it).
pub(crate) fn mime_of(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "bmp" => "image/bmp",
        "json" => "application/json",
        "pcd" | "bin" | "ply" | "las" => "application/octet-stream",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apikey_header_parses_and_other_schemes_count_as_missing() {
        assert_eq!(
            credentials(Some("APIKey abc")),
            Credentials::Key("abc".into())
        );
        assert_eq!(
            credentials(Some("apikey  abc ")),
            Credentials::Key("abc".into())
        );
        assert_eq!(credentials(Some("Token abc")), Credentials::Missing);
        assert_eq!(credentials(Some("APIKey")), Credentials::Missing);
        assert_eq!(credentials(None), Credentials::Missing);
    }

    #[test]
    fn paths_split_before_decoding_and_trailing_slash_is_optional() {
        assert_eq!(
            path_segments("/datasets/jane/my%2Fset/").unwrap(),
            ["datasets", "jane", "my/set"]
        );
        assert_eq!(path_segments("/user").unwrap(), ["user"]);
        assert_eq!(path_segments("/user/").unwrap(), ["user"]);
        assert!(path_segments("/").unwrap().is_empty());
        assert!(path_segments("/x/%ff").is_none());
    }

    #[test]
    fn queries_decode_and_survive_the_sdk_double_question_mark() {
        let q = Query::parse(Some(
            "labelset=gt?include_signed_urls=1&name__contains=a%20b",
        ));
        assert_eq!(q.get("labelset"), Some("gt"));
        assert!(q.flag("include_signed_urls"));
        assert_eq!(q.get("name__contains"), Some("a b"));
        assert!(!q.flag("absent"));
    }

    #[test]
    fn gzip_bodies_decode_and_garbage_is_an_error() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(br#"{"a": 1}"#).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 1024).unwrap(), br#"{"a": 1}"#);
        assert!(gunzip(b"not gzip", 1024).is_err());
        assert!(gunzip(&gz, 3).is_err());
    }

    #[test]
    fn uuids_are_v4_shaped() {
        let mut rng = fastrand::Rng::with_seed(1);
        let u = new_uuid(&mut rng);
        assert!(is_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert!(!is_uuid("12345"));
        assert!(!is_uuid("602a3eec-a61c-4a77-9fcc-3037ce5e960g"));
    }

    #[test]
    fn times_format_and_parse() {
        let t = parse_time("2024-05-01T12:00:00").unwrap();
        assert_eq!(fmt_ts(t), "2024-05-01T12:00:00.000000Z");
        assert_eq!(fmt_release_ts(t), "2024-05-01 12:00:00.000000+00:00");
        assert!(parse_time("soon").is_none());
    }
}
