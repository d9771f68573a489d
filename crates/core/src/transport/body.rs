//! Request bodies beyond plain JSON and bytes: `multipart/form-data` forms rebuilt on every
//! attempt, and gzip compression.

use crate::{Error, Result};
use bytes::Bytes;
use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;

/// A `multipart/form-data` body. It is kept as a description and rebuilt for every attempt, so
/// a retried upload sends its files again (streamed from disk, never held in memory).
///
/// Names and file names are written as browsers and Python's `requests` write them (the
/// vendors' SDKs): raw UTF-8 in quotes, with `"`, CR and LF escaped as `%22`, `%0D`, `%0A`.
/// A file part with an empty content type is sent without a `Content-Type` header.
#[derive(Clone, Default)]
pub struct Multipart {
    parts: Vec<Part>,
}

#[derive(Clone)]
enum Part {
    Text {
        name: String,
        value: String,
    },
    Bytes {
        name: String,
        file_name: String,
        content_type: String,
        data: Bytes,
    },
    File {
        name: String,
        file_name: String,
        content_type: String,
        path: PathBuf,
    },
}

impl Multipart {
    /// An empty form.
    pub fn new() -> Self {
        Multipart::default()
    }

    /// Add a text field.
    pub fn text(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parts.push(Part::Text {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// Add a file part from memory.
    pub fn bytes(
        mut self,
        name: impl Into<String>,
        file_name: impl Into<String>,
        content_type: impl Into<String>,
        data: Bytes,
    ) -> Self {
        self.parts.push(Part::Bytes {
            name: name.into(),
            file_name: file_name.into(),
            content_type: content_type.into(),
            data,
        });
        self
    }

    /// Add a file part streamed from `path` (opened anew on every attempt).
    pub fn file(
        mut self,
        name: impl Into<String>,
        file_name: impl Into<String>,
        content_type: impl Into<String>,
        path: PathBuf,
    ) -> Self {
        self.parts.push(Part::File {
            name: name.into(),
            file_name: file_name.into(),
            content_type: content_type.into(),
            path,
        });
        self
    }

    /// The first content type that is not a valid MIME type, if any (checked before sending).
    pub(crate) fn invalid_content_type(&self) -> Option<&str> {
        self.parts.iter().find_map(|p| match p {
            Part::Bytes { content_type, .. } | Part::File { content_type, .. }
                if !content_type.is_empty() =>
            {
                reqwest::multipart::Part::bytes(Vec::new())
                    .mime_str(content_type)
                    .is_err()
                    .then_some(content_type.as_str())
            }
            _ => None,
        })
    }

    /// The form for one attempt. Fails only when a file cannot be opened.
    pub(crate) async fn to_form(&self) -> std::result::Result<reqwest::multipart::Form, FileError> {
        // Names are quoted by `form_quote`; reqwest's own percent-encoding would switch to the
        // `name*=utf-8''…` form that form-data parsers (and the vendors' SDKs) do not use.
        let mut form = reqwest::multipart::Form::new().percent_encode_noop();
        for part in &self.parts {
            form = match part {
                Part::Text { name, value } => form.text(form_quote(name), value.clone()),
                Part::Bytes {
                    name,
                    file_name,
                    content_type,
                    data,
                } => {
                    let p = reqwest::multipart::Part::stream_with_length(
                        reqwest::Body::from(data.clone()),
                        data.len() as u64,
                    )
                    .file_name(form_quote(file_name));
                    form.part(form_quote(name), with_mime(p, content_type))
                }
                Part::File {
                    name,
                    file_name,
                    content_type,
                    path,
                } => {
                    let (body, len) = open_file_body(path).await?;
                    let p = reqwest::multipart::Part::stream_with_length(body, len)
                        .file_name(form_quote(file_name));
                    form.part(form_quote(name), with_mime(p, content_type))
                }
            };
        }
        Ok(form)
    }
}

/// HTML's form-data escaping of a name or file name (what browsers and urllib3 do).
fn form_quote(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `mime_str` consumes the part and returns only an error when invalid; content types were
/// checked when the form was attached, so an invalid one cannot get here, but must not panic.
fn with_mime(part: reqwest::multipart::Part, content_type: &str) -> reqwest::multipart::Part {
    if content_type.is_empty() {
        return part;
    }
    match part.mime_str(content_type) {
        Ok(p) => p,
        Err(_) => reqwest::multipart::Part::bytes(Vec::new()),
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for p in &self.parts {
            match p {
                Part::Text { name, value } => {
                    list.entry(&format_args!("text {name:?} ({} bytes)", value.len()))
                }
                Part::Bytes {
                    name,
                    file_name,
                    content_type,
                    data,
                } => list.entry(&format_args!(
                    "bytes {name:?} {file_name:?} {content_type} ({} bytes)",
                    data.len()
                )),
                Part::File {
                    name,
                    file_name,
                    content_type,
                    path,
                } => list.entry(&format_args!(
                    "file {name:?} {file_name:?} {content_type} from {}",
                    path.display()
                )),
            };
        }
        list.finish()
    }
}

/// A local file that could not be opened or measured for an upload.
pub(crate) struct FileError {
    pub(crate) path: PathBuf,
    pub(crate) error: std::io::Error,
}

/// A file as a streamed request body (64 KiB reads), with its length.
pub(crate) async fn open_file_body(
    path: &std::path::Path,
) -> std::result::Result<(reqwest::Body, u64), FileError> {
    let fail = |error| FileError {
        path: path.to_owned(),
        error,
    };
    let file = tokio::fs::File::open(path).await.map_err(fail)?;
    let len = file.metadata().await.map_err(fail)?.len();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
    Ok((reqwest::Body::wrap_stream(stream), len))
}

/// Gzip `data` (default level: a good ratio for JSON at little CPU).
pub(crate) fn gzip(data: &[u8]) -> Result<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::default(),
    );
    encoder
        .write_all(data)
        .and_then(|_| encoder.finish())
        .map(Bytes::from)
        .map_err(|e| Error::validation(format!("cannot gzip the request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn gzip_round_trips() {
        let data =
            br#"{"name":"sample","attributes":{"image":{"url":"https://x/1.jpg"}}}"#.repeat(50);
        let packed = gzip(&data).unwrap();
        assert!(packed.len() < data.len() / 4, "{} bytes", packed.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn names_are_quoted_like_html_forms() {
        assert_eq!(form_quote("pic \"1\".png"), "pic %221%22.png");
        assert_eq!(form_quote("a\r\nb"), "a%0D%0Ab");
        assert_eq!(form_quote("日本 x.json"), "日本 x.json");
    }

    #[test]
    fn invalid_content_types_are_found_before_sending() {
        let ok = Multipart::new().text("operations", "{}").bytes(
            "1",
            "a.json",
            "application/json",
            Bytes::from_static(b"[]"),
        );
        assert_eq!(ok.invalid_content_type(), None);
        let untyped = ok.clone().bytes("3", "c", "", Bytes::new());
        assert_eq!(untyped.invalid_content_type(), None);
        let bad = ok.file("2", "b", "not a mime type", PathBuf::from("/nonexistent"));
        assert_eq!(bad.invalid_content_type(), Some("not a mime type"));
        let shown = format!("{bad:?}");
        assert!(shown.contains("application/json (2 bytes)"), "{shown}");
    }
}
