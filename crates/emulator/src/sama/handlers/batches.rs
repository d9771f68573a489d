//! Batch creation (inline or by the 3-step upload flow), cancel and status.

use super::super::*;

// Handlers: batch creation

#[derive(Deserialize, Default)]
struct CreateBatchIn<'a> {
    #[serde(default)]
    notification_email: Option<String>,
    #[serde(default)]
    tasks_file_name: Option<String>,
    #[serde(borrow, default)]
    tasks: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    submit: Option<bool>,
}

pub(crate) fn create_batch(emu: &SamaEmulator, p: &str, body: &[u8]) -> HResult {
    if !emu.has_project(p) {
        return Err(project_not_found(p));
    }
    let input: CreateBatchIn<'_> = parse_body(body)?;
    let priority = match input.priority {
        None => 0,
        Some(n) => i32::try_from(n)
            .map_err(|_| bad_request("`priority` must be in the signed 32-bit range"))?,
    };
    let defaults = (priority, input.submit.unwrap_or(false));
    let file_name = input
        .tasks_file_name
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "from_api".to_owned());
    let now = now_ms();
    match input.tasks {
        None => {
            let mut rng = fastrand::Rng::new();
            let token = random_hex(&mut rng, 32);
            let signature = random_hex(&mut rng, 64);
            let mut st = emu.write();
            let pidx = *st.index.get(p).ok_or_else(|| project_not_found(p))?;
            let bid = st.next_batch_id();
            let mut batch = Batch::new(bid, file_name, input.notification_email, now);
            batch.upload_token = Some(token.clone());
            batch.defaults = defaults;
            st.projects[pidx].batches.insert(bid, batch);
            st.uploads.insert(token.clone(), (pidx, bid));
            let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            let url = format!(
                "{}{UPLOAD_PREFIX}{token}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&X-Amz-Expires=14400&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}",
                emu.ctx.root_url
            );
            Ok(ok_json(&json!({"batch_id": bid, "tasks_put_url": url})))
        }
        Some(records) => {
            if records.len() > INLINE_LIMIT {
                return Err(bad_request(format!(
                    "At most {INLINE_LIMIT} tasks can be created inline per batch ({} given); upload a task file instead",
                    records.len()
                )));
            }
            let results: Vec<Result<NewTask, Failure>> =
                records.iter().map(|r| validate(r, defaults)).collect();
            let mut st = emu.write();
            let pidx = *st.index.get(p).ok_or_else(|| project_not_found(p))?;
            let bid = st.next_batch_id();
            let mut batch = Batch::new(bid, file_name, input.notification_email, now);
            batch.status = BatchStatus::Processing;
            batch.continued = true;
            batch.defaults = defaults;
            batch.queue(records.len());
            let project = &mut st.projects[pidx];
            project.batches.insert(bid, batch);
            project.create_in_batch(bid, 0, results, now);
            if let Some(batch) = project.batches.get_mut(&bid) {
                batch.finish();
            }
            let batch = project
                .batches
                .get(&bid)
                .ok_or_else(|| error(500, "batch vanished"))?;
            let ids: Vec<String> = batch
                .tasks
                .iter()
                .map(|&i| project.task_id(i).to_string())
                .collect();
            Ok(ok_json(&json!({
                "batch_id": bid,
                "status": batch.status.name(),
                "task_ids": ids,
                "tasks_created": batch.created,
                "tasks_failed": batch.failed,
            })))
        }
    }
}

/// The S3 stand-in: `PUT` of the task file, no `access_key`, 200 with an empty body.
pub(crate) async fn upload(
    emu: &SamaEmulator,
    method: &Method,
    token: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    if method != Method::PUT {
        return method_not_allowed(&["PUT"]);
    }
    let check = |st: &Store| -> Result<(usize, u64), Response> {
        let &(pidx, bid) = st
            .uploads
            .get(token)
            .ok_or_else(|| error(403, "Upload URL is invalid or no longer valid"))?;
        let batch = st.projects[pidx]
            .batches
            .get(&bid)
            .ok_or_else(|| error(403, "Upload URL is invalid or no longer valid"))?;
        if batch.status != BatchStatus::Waiting {
            return Err(error(403, "Upload URL is no longer valid"));
        }
        if now_ms() - batch.created_at > UPLOAD_VALIDITY_MS {
            return Err(error(403, "Request has expired"));
        }
        Ok((pidx, bid))
    };
    if let Err(r) = check(&emu.read()) {
        return r;
    }
    let bytes = match read_body(body, headers, UPLOAD_LIMIT).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut st = emu.write();
    match check(&st) {
        Ok((pidx, bid)) => {
            if let Some(b) = st.projects[pidx].batches.get_mut(&bid) {
                b.upload = Some(bytes);
            }
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::OK;
            r
        }
        Err(r) => r,
    }
}

pub(crate) fn parse_batch_id(b: &str) -> Result<u64, Response> {
    b.parse::<u64>().map_err(|_| batch_not_found(b))
}

pub(crate) async fn continue_batch(emu: &Arc<SamaEmulator>, p: &str, b: &str) -> HResult {
    let bid = parse_batch_id(b)?;
    let (bytes, generation, pidx, defaults) = {
        let mut guard = emu.write();
        let st = &mut *guard;
        let pidx = *st.index.get(p).ok_or_else(|| project_not_found(p))?;
        let batch = st.projects[pidx]
            .batches
            .get_mut(&bid)
            .ok_or_else(|| batch_not_found(b))?;
        if batch.continued {
            // Idempotent: a repeated (e.g. retried) continue gets the same answer.
            return Ok(ok_json(&json!({"batch_id": bid})));
        }
        if batch.status == BatchStatus::Canceled {
            return Err(bad_request(format!("Batch {bid} was canceled")));
        }
        let Some(bytes) = batch.upload.take() else {
            return Err(bad_request(format!(
                "No task file was uploaded for batch {bid}"
            )));
        };
        batch.status = BatchStatus::Processing;
        batch.continued = true;
        let defaults = batch.defaults;
        if let Some(t) = batch.upload_token.take() {
            st.uploads.remove(&t);
        }
        (bytes, st.generation, pidx, defaults)
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let emu2 = emu.clone();
    tokio::task::spawn_blocking(move || {
        run_creation(&emu2, pidx, bid, generation, defaults, bytes, tx)
    });
    match rx.await {
        Ok(Ok(_)) => Ok(ok_json(&json!({"batch_id": bid}))),
        Ok(Err(msg)) => Err(errors::error_items(
            400,
            &[errors::ErrorItem::invalid_input(msg)],
        )),
        Err(_) => Err(error(500, "Batch creation was interrupted")),
    }
}

/// Parse the uploaded file, report the outcome of the parse through `tx`, then create the
/// tasks chunk by chunk (each chunk validated outside the lock).
pub(crate) fn run_creation(
    emu: &SamaEmulator,
    pidx: usize,
    bid: u64,
    generation: u64,
    defaults: (i32, bool),
    bytes: Bytes,
    tx: tokio::sync::oneshot::Sender<Result<usize, String>>,
) {
    let fail = |msg: String| -> String {
        let mut st = emu.write();
        if st.generation == generation {
            if let Some(b) = st.projects[pidx].batches.get_mut(&bid) {
                b.status = BatchStatus::Failed;
                b.messages.push(msg.clone());
            }
        }
        msg
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(_) => {
            let _ = tx.send(Err(fail("The uploaded task file is not UTF-8 text".into())));
            return;
        }
    };
    let records: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(fail(format!(
                "The uploaded task file is not a JSON array of task records: {e}"
            ))));
            return;
        }
    };
    {
        let mut st = emu.write();
        if st.generation != generation {
            let _ = tx.send(Err("The emulator was reset".into()));
            return;
        }
        match st.projects[pidx].batches.get_mut(&bid) {
            Some(b) => b.queue(records.len()),
            None => return,
        }
    }
    let _ = tx.send(Ok(records.len()));
    for (ci, chunk) in records.chunks(CHUNK).enumerate() {
        let results: Vec<Result<NewTask, Failure>> =
            chunk.iter().map(|r| validate(r, defaults)).collect();
        let mut st = emu.write();
        if st.generation != generation
            || !st.projects[pidx].create_in_batch(bid, ci * CHUNK, results, now_ms())
        {
            return;
        }
    }
    let mut st = emu.write();
    if st.generation == generation {
        if let Some(b) = st.projects[pidx].batches.get_mut(&bid) {
            b.finish();
        }
    }
}

pub(crate) fn cancel_batch(emu: &SamaEmulator, p: &str, b: &str) -> HResult {
    let bid = parse_batch_id(b)?;
    let mut guard = emu.write();
    let st = &mut *guard;
    let pidx = *st.index.get(p).ok_or_else(|| project_not_found(p))?;
    let batch = st.projects[pidx]
        .batches
        .get_mut(&bid)
        .ok_or_else(|| batch_not_found(b))?;
    match batch.status {
        BatchStatus::Waiting => {
            batch.status = BatchStatus::Canceled;
            batch.upload = None;
            batch
                .messages
                .push("Batch canceled before task creation".into());
            if let Some(t) = batch.upload_token.take() {
                st.uploads.remove(&t);
            }
        }
        BatchStatus::Processing => {
            let n = batch.cancel_queued();
            batch.status = BatchStatus::Canceled;
            batch
                .messages
                .push(format!("Batch creation canceled; {n} task(s) not created"));
        }
        // Nothing left to cancel: harmless, the status is unchanged.
        BatchStatus::Completed | BatchStatus::Canceled | BatchStatus::Failed => {}
    }
    Ok(ok_json(&json!({
        "batch_id": bid,
        "status": batch.status.name(),
        "tasks_created": batch.created,
        "tasks_canceled": batch.canceled,
    })))
}

pub(crate) fn batch_status(emu: &SamaEmulator, p: &str, b: &str, q: &Query) -> HResult {
    let bid = parse_batch_id(b)?;
    let omit = q.bool("omit_failed_task_data", false)?;
    let page = q.page()?;
    let size = q.page_size(1000, 1000, true)?;
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let batch = pr.batches.get(&bid).ok_or_else(|| batch_not_found(b))?;
    let range = (size > 0).then(|| {
        let n = batch.entries.len();
        let start = (page - 1).saturating_mul(size).min(n);
        start..start.saturating_add(size).min(n)
    });
    let render = BatchRender {
        project: pr,
        batch,
        page: range,
        omit_failed_task_data: omit,
    };
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&render).unwrap_or_default(),
    ))
}
