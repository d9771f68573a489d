//! `multipart/form-data` request bodies (Scale's file upload, Segments' presigned storage POST,
//! Labelbox's GraphQL multipart request), parsed by `multer` from a body already read within
//! the vendor's size limit.

use bytes::Bytes;
use std::convert::Infallible;

/// One part of a `multipart/form-data` body.
pub(crate) struct Part {
    /// The `name` of its `Content-Disposition`.
    pub name: String,
    /// The `filename` of its `Content-Disposition`, if any.
    pub filename: Option<String>,
    pub data: Bytes,
}

/// The parts of a `multipart/form-data` `body`, in order (`content_type` carries the
/// boundary). An error says what is malformed.
pub(crate) async fn form_parts(content_type: &str, body: Bytes) -> Result<Vec<Part>, String> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| format!("multipart body without a boundary: {e}"))?;
    let stream = futures::stream::once(async move { Ok::<_, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| format!("malformed multipart body: {e}"))?
    {
        let name = field
            .name()
            .ok_or("multipart part without a name")?
            .to_owned();
        let filename = field.file_name().map(str::to_owned);
        let data = field
            .bytes()
            .await
            .map_err(|e| format!("unreadable multipart part {name}: {e}"))?;
        parts.push(Part {
            name,
            filename,
            data,
        });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_split_with_names_file_names_and_binary_data() {
        let body = Bytes::from_static(b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nassets/x.png\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\r\n--B--\r\n");
        let parts = form_parts("multipart/form-data; boundary=B", body.clone())
            .await
            .unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].filename.as_deref()),
            ("key", None)
        );
        assert_eq!(&parts[0].data[..], b"assets/x.png");
        assert_eq!(parts[1].filename.as_deref(), Some("x.png"));
        assert_eq!(&parts[1].data[..], b"\x89PNG\r\n");
        assert!(form_parts("multipart/form-data", body).await.is_err());
    }

    #[tokio::test]
    async fn truncated_bodies_and_nameless_parts_are_errors() {
        let truncated =
            Bytes::from_static(b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nvalue");
        assert!(form_parts("multipart/form-data; boundary=B", truncated)
            .await
            .is_err());
        let nameless =
            Bytes::from_static(b"--B\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--B--\r\n");
        assert!(form_parts("multipart/form-data; boundary=B", nameless)
            .await
            .is_err());
    }
}
