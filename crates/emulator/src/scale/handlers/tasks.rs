//! Tasks and quality (evaluation / training) tasks.

use super::super::*;

pub(crate) fn create_task(emu: &ScaleEmulator, ty: &str, body: &[u8]) -> HResult {
    if !TASK_TYPES.contains(&ty) {
        return Err(bad_request(format!(
            "Parameter is invalid, reason: task type \"{ty}\" is not supported"
        )));
    }
    let mut body = match json_body(body)? {
        Some(Value::Object(o)) => o,
        _ => return Err(bad_request("Request body must be a JSON object")),
    };
    if needs_attachment(ty) && !body.contains_key("attachment") && !body.contains_key("attachments")
    {
        return Err(bad_request(
            "Please include an attachment or attachments parameter.",
        ));
    }
    let text = |body: &mut Obj, k: &str| -> Result<Option<String>, Response> {
        match body.remove(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad_request(format!(
                "Parameter is invalid, reason: \"{k}\" must be a string"
            ))),
        }
    };
    let project = text(&mut body, "project")?;
    let batch = text(&mut body, "batch")?;
    let instruction = text(&mut body, "instruction")?;
    let callback_url = text(&mut body, "callback_url")?;
    let unique_id = text(&mut body, "unique_id")?.filter(|u| !u.is_empty());
    let metadata = match body.remove("metadata") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"metadata\" must be an object",
            ))
        }
    };
    let tags = match body.remove("tags") {
        None | Some(Value::Null) => None,
        v => Some(string_list(v.as_ref(), "tags")?),
    };
    for k in TASK_FIELDS {
        body.remove(k);
    }
    let failed = body
        .get("attachment")
        .and_then(Value::as_str)
        .is_some_and(|a| a.contains(ERROR_MARKER));

    let mut st = emu.write();
    let mut params = Obj::new();
    let mut instruction = instruction;
    let mut version = None;
    if let Some(p) = &project {
        let Some(proj) = st.project(p) else {
            return Err(bad_request(format!(
                "Parameter is invalid, reason: project \"{p}\" does not exist"
            )));
        };
        // Project parameters are defaults for tasks (§2.1 Projects).
        let current = proj.current();
        version = current.get("version").and_then(Value::as_i64);
        for (k, v) in current {
            match k.as_str() {
                "version" | "created_at" | "patch" => {}
                "instruction" => {
                    if instruction.is_none() {
                        instruction = v.as_str().map(str::to_owned);
                    }
                }
                _ => {
                    params.insert(k, v);
                }
            }
        }
    }
    params.extend(body);
    if let Some(b) = &batch {
        let Some(rec) = st.batch(b) else {
            return Err(bad_request(format!(
                "Parameter is invalid, reason: batch \"{b}\" does not exist"
            )));
        };
        if project.as_deref().is_some_and(|p| p != rec.project) {
            return Err(bad_request(format!(
                "Batch \"{b}\" belongs to project \"{}\"",
                rec.project
            )));
        }
        if rec.finalized && rec.staged {
            return Err(bad_request(format!(
                "Batch \"{b}\" is finalized; no tasks may be added to it"
            )));
        }
    }
    if let Some(u) = &unique_id {
        if let Some(&other) = st.unique_ids.get(u) {
            return Err(conflict(format!(
                "The unique_id (\"{u}\") is already used for a different task ({}).",
                st.tasks[other].id
            )));
        }
    }
    let id = st.new_id();
    let now = now_ms();
    let mut task = TaskRec {
        id: id.clone(),
        task_type: ty.to_owned(),
        status: if failed { ERROR } else { PENDING }.to_owned(),
        project,
        batch: batch.clone(),
        created_at: now,
        updated_at: now,
        completed_at: None,
        callback_url,
        instruction,
        params,
        response: None,
        metadata,
        unique_id: unique_id.clone(),
        tags,
        audits: Vec::new(),
        review_status: None,
        review_comments: Vec::new(),
        prior_responses: Vec::new(),
        callback_succeeded: None,
        project_param_version: version,
    };
    if failed {
        let url = task
            .params
            .get("attachment")
            .cloned()
            .unwrap_or(Value::Null);
        task.response = Some(json!({
            "error": "One or more attachments could not be downloaded.",
            "attachments": [{"statusCode": 404, "url": url}]
        }));
    }
    let i = st.tasks.len();
    st.tasks.push(task);
    st.task_index.insert(id, i);
    if let Some(u) = unique_id {
        st.unique_ids.insert(u, i);
    }
    let mut callbacks = Vec::new();
    if failed {
        callbacks.extend(task_callback(&st.tasks[i], i));
    }
    if emu.test_mode() && !failed {
        let (_, cb) = st.complete_task(i);
        callbacks.extend(cb);
    }
    if let Some(b) = &batch {
        if let Some(rec) = st.batch_mut(b) {
            rec.tasks.push(i);
        }
        callbacks.extend(st.refresh_batch(b));
    }
    let out = st.tasks[i].render();
    drop(st);
    emu.fire(callbacks);
    Ok(ok(&out))
}

pub(crate) fn with_task<R>(
    emu: &ScaleEmulator,
    id: &str,
    f: impl FnOnce(&mut Store, usize) -> Result<R, Response>,
) -> Result<R, Response> {
    let mut st = emu.write();
    let i = st.task_idx(id).ok_or_else(task_not_found)?;
    f(&mut st, i)
}

pub(crate) fn get_task(emu: &ScaleEmulator, id: &str) -> HResult {
    let st = emu.read();
    let i = st.task_idx(id).ok_or_else(task_not_found)?;
    Ok(ok(&st.tasks[i].render()))
}

pub(crate) fn cancel_task(emu: &ScaleEmulator, id: &str, q: &Query) -> HResult {
    let clear = q
        .bool("clear_unique_id")
        .map_err(bad_request)?
        .unwrap_or(false);
    let (out, callbacks) = with_task(emu, id, |st, i| {
        let t = &mut st.tasks[i];
        match t.status.as_str() {
            PENDING => {}
            CANCELED => return Err(bad_request("Task has already been canceled.")),
            other => {
                return Err(bad_request(format!(
                "Task cannot be canceled: only tasks not yet started can be, this one is {other}."
            )))
            }
        }
        t.status = CANCELED.to_owned();
        t.updated_at = now_ms();
        if clear {
            if let Some(u) = t.unique_id.take() {
                st.unique_ids.remove(&u);
            }
        }
        let out = st.tasks[i].render();
        let cb = st.tasks[i].batch.clone().and_then(|b| st.refresh_batch(&b));
        Ok((out, cb))
    })?;
    emu.fire(callbacks);
    Ok(ok(&out))
}

pub(crate) fn audit_task(emu: &ScaleEmulator, id: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let accepted = b
        .get("accepted")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad_request("Parameter is invalid, reason: \"accepted\" is required"))?;
    let comments = match b.get("comments") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"comments\" must be a string",
            ))
        }
    };
    let (out, callbacks) = with_task(emu, id, |st, i| {
        let now = now_ms();
        let t = &mut st.tasks[i];
        if t.status != COMPLETED {
            return Err(bad_request(format!(
                "Only completed tasks can be audited; this task is {}.",
                t.status
            )));
        }
        let result = if accepted { "accepted" } else { "rejected" };
        t.audits.push(json!({
            "audited_by": "customer@emulator.invalid",
            "audited_at": fmt_ts(now),
            "audit_time_secs": 0,
            "audit_result": result,
            "audit_source": "customer",
        }));
        t.review_status = Some(result.to_owned());
        if let Some(c) = comments {
            t.review_comments.push(c);
        }
        t.updated_at = now;
        let out = t.render();
        let mut cbs: Vec<Callback> = task_callback(t, i).into_iter().collect();
        if let Some(b) = st.tasks[i].batch.clone() {
            cbs.extend(st.refresh_batch(&b));
        }
        Ok((out, cbs))
    })?;
    emu.fire(callbacks);
    Ok(ok(&out))
}

pub(crate) fn set_unique_id(emu: &ScaleEmulator, id: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let uid = required_str(&b, "unique_id")?;
    with_task(emu, id, |st, i| {
        if let Some(&other) = st.unique_ids.get(&uid) {
            if other != i {
                return Err(conflict(format!(
                    "The unique_id (\"{uid}\") is already used for a different task ({}).",
                    st.tasks[other].id
                )));
            }
        }
        if let Some(old) = st.tasks[i].unique_id.replace(uid.clone()) {
            st.unique_ids.remove(&old);
        }
        st.unique_ids.insert(uid, i);
        st.tasks[i].updated_at = now_ms();
        Ok(ok(&st.tasks[i].render()))
    })
}

pub(crate) fn clear_unique_id(emu: &ScaleEmulator, id: &str) -> HResult {
    with_task(emu, id, |st, i| {
        if let Some(old) = st.tasks[i].unique_id.take() {
            st.unique_ids.remove(&old);
        }
        st.tasks[i].updated_at = now_ms();
        Ok(ok(&st.tasks[i].render()))
    })
}

pub(crate) fn set_task_metadata(emu: &ScaleEmulator, id: &str, body: &[u8]) -> HResult {
    let metadata = match json_body(body)? {
        Some(Value::Object(m)) => m,
        _ => return Err(bad_request("The metadata must be a JSON object")),
    };
    with_task(emu, id, |st, i| {
        let t = &mut st.tasks[i];
        t.metadata = metadata;
        t.updated_at = now_ms();
        Ok(ok(&t.render()))
    })
}

pub(crate) fn task_tags(emu: &ScaleEmulator, id: &str, method: &str, body: &[u8]) -> HResult {
    let v = json_body(body)?;
    if !matches!(v, Some(Value::Array(_))) {
        return Err(bad_request("The tags must be a JSON array of strings"));
    }
    let tags = string_list(v.as_ref(), "tags")?;
    with_task(emu, id, |st, i| {
        let t = &mut st.tasks[i];
        let current = t.tags.get_or_insert_with(Vec::new);
        match method {
            "POST" => {
                current.clear();
                for tag in tags {
                    if !current.contains(&tag) {
                        current.push(tag);
                    }
                }
            }
            "PUT" => {
                for tag in tags {
                    if !current.contains(&tag) {
                        current.push(tag);
                    }
                }
            }
            _ => current.retain(|x| !tags.contains(x)),
        }
        t.updated_at = now_ms();
        Ok(ok(&t.render()))
    })
}

/// Filters of `GET /tasks`, parsed once.
struct TaskFilter {
    project: Option<String>,
    batch: Option<String>,
    task_type: Option<String>,
    status: Option<String>,
    review: Vec<String>,
    unique_ids: Vec<String>,
    tags: Vec<String>,
    created: (Option<i64>, Option<i64>),
    completed: (Option<i64>, Option<i64>),
    updated: (Option<i64>, Option<i64>),
}

pub(crate) fn in_range(t: Option<i64>, (lo, hi): (Option<i64>, Option<i64>)) -> bool {
    if lo.is_none() && hi.is_none() {
        return true;
    }
    let Some(t) = t else { return false };
    lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t <= hi)
}

impl TaskFilter {
    fn parse(q: &Query) -> Result<Self, String> {
        Ok(TaskFilter {
            project: q.get("project").map(str::to_owned),
            batch: q.get("batch").map(str::to_owned),
            task_type: q.get("type").map(str::to_owned),
            status: q.get("status").map(str::to_owned),
            review: q.all("customer_review_status", true),
            unique_ids: q.all("unique_id", false),
            tags: q.all("tags", false),
            created: (q.time("start_time")?, q.time("end_time")?),
            completed: (q.time("completed_after")?, q.time("completed_before")?),
            updated: (q.time("updated_after")?, q.time("updated_before")?),
        })
    }

    fn matches(&self, t: &TaskRec) -> bool {
        self.project
            .as_ref()
            .is_none_or(|p| t.project.as_ref() == Some(p))
            && self
                .batch
                .as_ref()
                .is_none_or(|b| t.batch.as_ref() == Some(b))
            && self.task_type.as_ref().is_none_or(|ty| &t.task_type == ty)
            && self.status.as_ref().is_none_or(|s| &t.status == s)
            && (self.review.is_empty()
                || self
                    .review
                    .iter()
                    .any(|r| t.review_status.as_deref().unwrap_or("pending") == r.as_str()))
            && (self.unique_ids.is_empty()
                || t.unique_id
                    .as_ref()
                    .is_some_and(|u| self.unique_ids.contains(u)))
            && (self.tags.is_empty()
                || t.tags
                    .as_ref()
                    .is_some_and(|have| self.tags.iter().all(|x| have.contains(x))))
            && in_range(Some(t.created_at), self.created)
            && in_range(t.completed_at, self.completed)
            && in_range(Some(t.updated_at), self.updated)
    }
}

pub(crate) fn list_tasks(emu: &ScaleEmulator, q: &Query) -> HResult {
    let filter = TaskFilter::parse(q).map_err(bad_request)?;
    let limit = q
        .int("limit", 1, MAX_LIMIT)
        .map_err(bad_request)?
        .unwrap_or(MAX_LIMIT) as usize;
    let limited = q
        .bool("limited_response")
        .map_err(bad_request)?
        .unwrap_or(false);
    q.bool("include_attachment_url").map_err(bad_request)?;
    // The token is the index of the page's first task and the listing's total, counted once on
    // the first page: each page seeks to its start instead of rescanning from the beginning,
    // so a full listing costs O(N), not O(N^2 / limit). (A token without the total, as earlier
    // releases wrote it, is still accepted; the total is then counted again.)
    let (start, known_total) = match q.get("next_token") {
        None => (0, None),
        Some(tok) => parse_next_token(tok).ok_or_else(|| {
            bad_request("Parameter is invalid, reason: \"next_token\" is invalid")
        })?,
    };
    let st = emu.read();
    // With a batch filter only that batch's tasks are scanned (its task indexes ascend).
    let candidates: Box<dyn Iterator<Item = usize> + '_> = match &filter.batch {
        Some(b) => match st.batch(b) {
            Some(rec) => {
                let from = rec.tasks.partition_point(|&i| i < start);
                Box::new(rec.tasks[from..].iter().copied())
            }
            None => Box::new(std::iter::empty()),
        },
        None => Box::new(start.min(st.tasks.len())..st.tasks.len()),
    };
    let mut docs = Vec::new();
    let mut next = None;
    // Tasks before `start` that match: only counted on the first page (start 0: none).
    let mut total = 0usize;
    for i in candidates {
        if !filter.matches(&st.tasks[i]) {
            continue;
        }
        if docs.len() < limit {
            let t = &st.tasks[i];
            docs.push(if limited {
                t.render_limited()
            } else {
                t.render()
            });
            total += 1;
        } else {
            if next.is_none() {
                next = Some(i);
            }
            if known_total.is_some() {
                break;
            }
            total += 1;
        }
    }
    let total = match known_total {
        Some(t) => t,
        None if start == 0 => total,
        // An old-style token: count everything that matches.
        None => (0..st.tasks.len())
            .filter(|&i| filter.matches(&st.tasks[i]))
            .count(),
    };
    let mut page = json!({
        "docs": docs,
        "total": total,
        "limit": limit,
        "offset": 0,
        "has_more": next.is_some(),
    });
    if let Some(n) = next {
        page["next_token"] = json!(format!("nt_{n:x}_{total:x}"));
    }
    Ok(ok(&page))
}

/// `nt_<first index>_<total>` (hexadecimal), or `nt_<first index>`.
fn parse_next_token(token: &str) -> Option<(usize, Option<usize>)> {
    let rest = token.strip_prefix("nt_")?;
    let hex = |h: &str| usize::from_str_radix(h, 16).ok();
    match rest.split_once('_') {
        Some((index, total)) => Some((hex(index)?, Some(hex(total)?))),
        None => Some((hex(rest)?, None)),
    }
}

pub(crate) fn create_quality_task(
    emu: &ScaleEmulator,
    kind: &str,
    ty: &str,
    body: &[u8],
) -> HResult {
    const QUALITY_TYPES: [&str; 6] = [
        "documenttranscription",
        "segmentannotation",
        "videoplaybackannotation",
        "imageannotation",
        "textcollection",
        "namedentityrecognition",
    ];
    if !QUALITY_TYPES.contains(&ty) {
        return Err(bad_request(format!(
            "Parameter is invalid, reason: {kind} are not supported for task type \"{ty}\""
        )));
    }
    let b = match json_body(body)? {
        Some(Value::Object(o)) => o,
        _ => return Err(bad_request("Request body must be a JSON object")),
    };
    if b.get("expected_response").is_none_or(Value::is_null) {
        return Err(bad_request(
            "Parameter is invalid, reason: \"expected_response\" is required",
        ));
    }
    let mut st = emu.write();
    if let Some(p) = b.get("project").and_then(Value::as_str) {
        if st.project(p).is_none() {
            return Err(bad_request(format!(
                "Parameter is invalid, reason: project \"{p}\" does not exist"
            )));
        }
    }
    if let Some(u) = b
        .get("unique_id")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        if !st.quality_unique_ids.insert(u.to_owned()) {
            return Err(conflict(format!(
                "The unique_id (\"{u}\") is already used for a different {kind} task."
            )));
        }
    }
    let id = st.new_id();
    let mut out = b;
    out.insert("id".into(), json!(id));
    out.insert("type".into(), json!(ty));
    out.insert("created_at".into(), json!(fmt_ts(now_ms())));
    out.insert("kind".into(), json!(kind.trim_end_matches("_tasks")));
    let v = Value::Object(out);
    st.quality_tasks.push(v.clone());
    Ok(ok(&v))
}
