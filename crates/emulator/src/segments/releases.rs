//! Releases, workunits, assets and the unauthenticated storage routes (segments.md §2.4, §3.3,
//! §7, §8.5).

use super::*;

// ---------------------------------------------------------------------------------------------
// Releases, workunits

pub(super) fn list_releases(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let root = &emu.ctx.root_url;
    Ok(ok(&Value::Array(
        st.datasets[di]
            .releases
            .iter()
            .map(|r| r.render(root))
            .collect(),
    )))
}

pub(super) fn get_release(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    release: &str,
) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let r = st.datasets[di].release(release).ok_or_else(not_found)?;
    Ok(ok(&r.render(&emu.ctx.root_url)))
}

/// The release file is built from the state at request time; it is served at once, but the
/// release reads `PENDING` (no URL) until it is "built".
pub(super) fn create_release(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let release = required_str(&b, "name")?;
    let description = optional_str(&b, "description")?.unwrap_or_default();
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    if st.datasets[di].release(&release).is_some() {
        return Err(field_error(
            "name",
            "Release with this name already exists in this dataset.",
        ));
    }
    let file = st.release_file(&st.datasets[di], &release, &description);
    let uuid = st.uuid();
    let file_key = format!("releases/{uuid}.json");
    st.files.insert(
        file_key.clone(),
        StoredFile {
            bytes: Bytes::from(file),
            content_type: "application/json",
        },
    );
    let rec = ReleaseRec {
        uuid,
        name: release,
        description,
        created_at: fmt_ts(Utc::now()),
        samples_count: st.datasets[di].samples.len(),
        ready_at: Instant::now() + RELEASE_BUILD_TIME,
        file_key,
    };
    let out = rec.render(&emu.ctx.root_url);
    st.datasets[di].releases.push(rec);
    Ok(created(&out))
}

pub(super) fn delete_release(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    release: &str,
) -> HResult {
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let ri = st.datasets[di]
        .releases
        .iter()
        .position(|r| r.name == release)
        .ok_or_else(not_found)?;
    let r = st.datasets[di].releases.remove(ri);
    st.files.remove(&r.file_key);
    Ok(no_content())
}

pub(super) fn list_workunits(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    q: &Query,
) -> HResult {
    let bound = |k: &str| -> Result<Option<chrono::DateTime<Utc>>, Response> {
        match q.get(k) {
            None => Ok(None),
            Some(v) => parse_time(v)
                .map(Some)
                .ok_or_else(|| field_error(k, format!("Enter a valid date/time ({v:?})."))),
        }
    };
    let (start, end) = (bound("start")?, bound("end")?);
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let mut units: Vec<_> = st.datasets[di]
        .workunits
        .iter()
        .enumerate()
        .filter(|(_, w)| start.is_none_or(|s| w.created >= s) && end.is_none_or(|e| w.created <= e))
        .collect();
    // Default newest first (the SDK always sends `sort=-created_at`).
    if q.get("sort").unwrap_or("-created_at").starts_with('-') {
        units.reverse();
    }
    let page = paginate(units, q)?;
    let metrics = q.flag("include_session_time_metrics");
    Ok(ok(&Value::Array(
        page.into_iter().map(|(_, w)| w.render(metrics)).collect(),
    )))
}

// ---------------------------------------------------------------------------------------------
// Assets and storage

pub(super) fn create_asset(emu: &SegmentsEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let filename = optional_str(&b, "filename")?
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| "label.png".to_owned());
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| format!(".{e}"))
        .unwrap_or_default();
    let mut st = emu.write();
    let uuid = st.uuid();
    let key = format!("assets/{CALLER}/{uuid}{ext}");
    st.pending_uploads.insert(key.clone());
    let now = Utc::now();
    let root = &emu.ctx.root_url;
    Ok(created(&json!({
        "uuid": uuid,
        "filename": filename,
        "url": format!("{root}/storage/{key}"),
        "created_at": fmt_ts(now),
        "presignedPostFields": {
            "url": format!("{root}/storage/upload/"),
            "fields": {
                "acl": "public-read",
                "Content-Type": mime_of(&filename),
                "key": key,
                "x-amz-algorithm": "AWS4-HMAC-SHA256",
                "x-amz-credential": format!("EMULATOR/{}/eu-west-2/s3/aws4_request", now.format("%Y%m%d")),
                "x-amz-date": now.format("%Y%m%dT%H%M%SZ").to_string(),
                "policy": "eyJlbXVsYXRvciI6IHRydWV9",
                "x-amz-signature": "0000000000000000000000000000000000000000000000000000000000000000",
            },
        },
    })))
}

/// S3-like plain-text answers of the storage routes.
pub(super) fn storage_error(status: u16, message: &str) -> Response {
    let mut r = Response::new(Body::from(message.to_owned()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// `/storage/…`, no authentication: `POST /storage/upload/` (the presigned POST of §2.4:
/// form fields then `file`; 204, empty), `GET /storage/<key>` (assets, release files).
pub(super) async fn storage(
    emu: &SegmentsEmulator,
    method: &str,
    rest: &[&str],
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match (method, rest) {
        ("POST", ["upload"]) => {
            let body = match read_body(body, headers).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let parts = match form_parts(ct, body).await {
                Ok(p) => p,
                Err(e) => return storage_error(400, &format!("MalformedPOSTRequest: {e}")),
            };
            let field = |n: &str| parts.iter().find(|p| p.name == n);
            let Some(key) = field("key").and_then(|p| String::from_utf8(p.data.to_vec()).ok())
            else {
                return storage_error(400, "InvalidArgument: the form has no `key` field");
            };
            let Some(file) = field("file") else {
                return storage_error(400, "InvalidArgument: the form has no `file` part");
            };
            let mut st = emu.write();
            if !st.pending_uploads.remove(&key) {
                return storage_error(403, "AccessDenied: no upload was granted for this key");
            }
            st.files.insert(
                key.clone(),
                StoredFile {
                    bytes: file.data.clone(),
                    content_type: mime_of(&key),
                },
            );
            no_content()
        }
        ("GET", key) if !key.is_empty() => {
            let key = key.join("/");
            let st = emu.read();
            match st.files.get(&key) {
                Some(f) => {
                    let mut r = Response::new(Body::from(f.bytes.clone()));
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(f.content_type),
                    );
                    r
                }
                None => storage_error(404, "NoSuchKey: The specified key does not exist."),
            }
        }
        _ => storage_error(405, "MethodNotAllowed"),
    }
}
