//! Files: multipart upload and import.

use super::super::*;
use super::*;

pub(crate) fn file_record(
    st: &mut Store,
    name: &str,
    size: usize,
    fields: &Obj,
) -> Result<Value, Response> {
    let project = fields
        .get("project_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(p) = &project {
        if st.project(p).is_none() {
            return Err(project_not_found(p));
        }
    }
    if let Some(r) = fields
        .get("reference_id")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        if !st.file_refs.insert(r.to_owned()) {
            return Err(conflict(format!(
                "A file with reference_id \"{r}\" already exists."
            )));
        }
    }
    let id = st.new_id();
    let now = fmt_ts(now_ms());
    let mut v = json!({
        "id": id,
        "attachment_url": format!("scaledata://emulator/{id}"),
        "created_at": now,
        "updated_at": now,
        "mime_type": mime_of(name),
        "project_names": project.into_iter().collect::<Vec<_>>(),
        "size": size,
    });
    for k in ["display_name", "reference_id", "metadata"] {
        if let Some(x) = fields.get(k) {
            v[k] = x.clone();
        }
    }
    st.files.push(v.clone());
    Ok(v)
}

pub(crate) async fn upload_file(emu: &ScaleEmulator, content_type: &str, body: Bytes) -> HResult {
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(bad_request("files/upload takes a multipart/form-data body"));
    }
    let parts = form_parts(content_type, body).await.map_err(bad_request)?;
    let mut fields = Obj::new();
    let mut file = None;
    for p in parts {
        if p.name == "file" {
            file = Some((p.filename.unwrap_or_else(|| "file".into()), p.data.len()));
        } else {
            let text = String::from_utf8_lossy(&p.data).into_owned();
            let value = if p.name == "metadata" {
                serde_json::from_str(&text).map_err(|_| {
                    bad_request(
                        "Parameter is invalid, reason: \"metadata\" must be a JSON object string",
                    )
                })?
            } else {
                Value::String(text)
            };
            fields.insert(p.name, value);
        }
    }
    let (name, size) =
        file.ok_or_else(|| bad_request("Parameter is invalid, reason: \"file\" is required"))?;
    let v = file_record(&mut emu.write(), &name, size, &fields)?;
    Ok(ok(&v))
}

pub(crate) fn import_file(emu: &ScaleEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let url = required_str(&b, "file_url")?;
    let name = url.rsplit('/').next().unwrap_or("file").to_owned();
    let v = file_record(&mut emu.write(), &name, 0, &b)?;
    Ok(ok(&v))
}
