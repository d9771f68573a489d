//! One percent-encoding rule for the path segments of every adapter.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Join segments into a relative path, each segment percent-encoded (everything but RFC 3986
/// unreserved characters is encoded, so `/` inside a segment becomes `%2F`).
///
/// Segments' dataset id `owner/name` is two segments:
/// `path(&["datasets", owner, name, "samples"])`, plus a trailing slash where the vendor wants
/// one (`format!("{}/", path(..))`). An empty segment, `.` or `..` cannot address anything:
/// [`Transport::request`](super::Transport::request) refuses such a path rather than let URL
/// resolution drop or climb a level.
pub fn path(segments: &[&str]) -> String {
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(segment, SEGMENT));
    }
    out
}

/// Why a relative request path (leading `/` already removed) cannot be used, if it cannot: an
/// interior empty segment (an empty id) or a `.`/`..` segment, encoded or not (URL resolution
/// treats `%2E%2E` as `..` too).
pub(crate) fn path_problem(path: &str) -> Option<&'static str> {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    let segments: Vec<&str> = path[..end].split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            // A trailing slash is a vendor's convention; an empty path is the base itself.
            if i == last {
                continue;
            }
            return Some("it has an empty segment (an empty id?)");
        }
        let decoded = percent_decode_str(segment).collect::<Vec<u8>>();
        if decoded == b"." || decoded == b".." {
            return Some("a `.` or `..` segment cannot name a resource");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded_except_unreserved_characters() {
        let table: &[(&[&str], &str)] = &[
            (
                &["datasets", "jane", "flowers", "samples"],
                "datasets/jane/flowers/samples",
            ),
            (&["a/b"], "a%2Fb"),
            (&["b b", "x?y#z"], "b%20b/x%3Fy%23z"),
            (&["a&b+c=d;e,f"], "a%26b%2Bc%3Dd%3Be%2Cf"),
            (&["kitten_labeling-2020.07~x"], "kitten_labeling-2020.07~x"),
            (&["100%"], "100%25"),
            (&["é", "日本"], "%C3%A9/%E6%97%A5%E6%9C%AC"),
            (
                &["labels", "0f9e", "ground-truth"],
                "labels/0f9e/ground-truth",
            ),
            (&[], ""),
        ];
        for (segments, want) in table {
            assert_eq!(path(segments), *want, "{segments:?}");
        }
    }

    #[test]
    fn empty_and_dot_segments_are_problems_but_a_trailing_slash_is_not() {
        for ok in [
            "",
            "datasets/a/b/",
            "x.json",
            "a..b/c",
            "a/b?x=1//2&y=..",
            "users/.x",
        ] {
            assert_eq!(path_problem(ok), None, "{ok}");
        }
        for bad in [
            "datasets//samples/",
            "datasets/../x",
            "datasets/./x",
            "..",
            "a/%2E%2E/b",
            "a/%2e/b",
            "a/.%2E",
            "a/b/..",
        ] {
            assert!(path_problem(bad).is_some(), "{bad}");
        }
    }
}
