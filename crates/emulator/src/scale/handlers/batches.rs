//! Batches.

use super::super::*;
use super::*;

pub(crate) fn batch_not_found(name: &str) -> Response {
    not_found(format!("Batch \"{name}\" not found."))
}

pub(crate) fn create_batch(emu: &ScaleEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let name = required_str(&b, "name")?;
    let project = required_str(&b, "project")?;
    let metadata = match b.get("metadata") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"metadata\" must be an object",
            ))
        }
    };
    let flag = |k: &str| b.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut st = emu.write();
    let Some(proj) = st.project(&project) else {
        return Err(not_found(format!("Project \"{project}\" not found.")));
    };
    let staged = proj.rapid || proj.studio;
    let studio = proj.studio;
    if st.batch_index.contains_key(&name) {
        return Err(conflict(format!(
            "A batch named \"{name}\" already exists."
        )));
    }
    let id = st.new_id();
    let rec = BatchRec {
        id,
        name: name.clone(),
        project,
        callback: b
            .get("callback")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        status: if staged { STAGING } else { IN_PROGRESS }.to_owned(),
        created_at: now_ms(),
        completed_at: None,
        metadata,
        calibration: flag("calibration_batch"),
        self_label: flag("self_label_batch"),
        finalized: false,
        staged,
        groups: Vec::new(),
        tasks: Vec::new(),
    };
    let out = rec.render();
    let index = st.batches.len();
    st.batch_index.insert(name.clone(), index);
    st.batches.push(rec);
    if studio {
        st.studio_order.push(name);
    }
    Ok(ok(&out))
}

pub(crate) fn get_batch(emu: &ScaleEmulator, name: &str) -> HResult {
    let st = emu.read();
    let b = st.batch(name).ok_or_else(|| batch_not_found(name))?;
    Ok(ok(&b.render()))
}

pub(crate) fn finalize_batch(emu: &ScaleEmulator, name: &str) -> HResult {
    let mut st = emu.write();
    let b = st.batch_mut(name).ok_or_else(|| batch_not_found(name))?;
    b.finalized = true;
    let mut callbacks = Vec::new();
    if b.status == STAGING {
        b.status = IN_PROGRESS.to_owned();
        callbacks.extend(st.refresh_batch(name));
    }
    let out = st.batch(name).map(BatchRec::render).unwrap_or_default();
    drop(st);
    emu.fire(callbacks);
    Ok(ok(&out))
}

pub(crate) fn batch_status(emu: &ScaleEmulator, name: &str) -> HResult {
    let st = emu.read();
    let b = st.batch(name).ok_or_else(|| batch_not_found(name))?;
    let counts = st.batch_counts(name);
    let mut v = json!({"status": b.status});
    for (k, n) in counts {
        v[k] = json!(n);
    }
    Ok(ok(&v))
}

pub(crate) fn set_batch_metadata(emu: &ScaleEmulator, name: &str, body: &[u8]) -> HResult {
    let metadata = match json_body(body)? {
        Some(Value::Object(m)) => m,
        _ => return Err(bad_request("The metadata must be a JSON object")),
    };
    let mut st = emu.write();
    let b = st.batch_mut(name).ok_or_else(|| batch_not_found(name))?;
    b.metadata = metadata;
    Ok(ok(&b.render()))
}

pub(crate) fn list_batches(emu: &ScaleEmulator, q: &Query) -> HResult {
    let limit = q
        .int("limit", 1, MAX_LIMIT)
        .map_err(bad_request)?
        .unwrap_or(MAX_LIMIT) as usize;
    let offset = q
        .int("offset", 0, u64::MAX)
        .map_err(bad_request)?
        .unwrap_or(0) as usize;
    q.bool("exclude_archived").map_err(bad_request)?;
    let created = (
        q.time("start_time").map_err(bad_request)?,
        q.time("end_time").map_err(bad_request)?,
    );
    let completed = (
        q.time("completed_after").map_err(bad_request)?,
        q.time("completed_before").map_err(bad_request)?,
    );
    let st = emu.read();
    let matching: Vec<&BatchRec> = st
        .batches
        .iter()
        .filter(|b| q.get("project").is_none_or(|p| b.project == p))
        .filter(|b| q.get("status").is_none_or(|s| b.status == s))
        .filter(|b| in_range(Some(b.created_at), created))
        .filter(|b| in_range(b.completed_at, completed))
        .collect();
    let total = matching.len();
    let docs: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|b| b.render())
        .collect();
    Ok(ok(&json!({
        "docs": docs,
        "totalDocs": total,
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + limit < total,
    })))
}
