//! The Scale emulator's route table: one dispatcher that authenticates, reads the body and
//! resolves every `/v1/...` path to a handler.

use super::handlers::*;
use super::*;

async fn read_body(body: Body, headers: &HeaderMap) -> Result<Bytes, Response> {
    let hint = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let too_big = || errors::error(413, format!("Request body larger than {BODY_LIMIT} bytes"));
    if hint > BODY_LIMIT {
        return Err(too_big());
    }
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::with_capacity(hint);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("Could not read request body: {e}")))?;
        if buf.len() + chunk.len() > BODY_LIMIT {
            return Err(too_big());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
pub(super) async fn dispatch(State(emu): State<Arc<ScaleEmulator>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(rest) = parts.uri.path().strip_prefix("/v1/") else {
        return not_found("Not found");
    };
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if api_key_of(auth).as_deref() != Some(emu.ctx.api_key.as_str()) {
        return unauthorized();
    }
    let segs: Option<Vec<String>> = rest.split('/').map(decode_segment).collect();
    let Some(segs) = segs else {
        return bad_request("Path is not valid UTF-8");
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = Query::parse(parts.uri.query());
    let body = if parts.method == Method::GET {
        Bytes::new()
    } else {
        match read_body(body, &parts.headers).await {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let e = &emu;
    let result = match (parts.method.as_str(), segs.as_slice()) {
        ("POST", ["task", ty]) => create_task(e, ty, &body),
        ("GET", ["task", id]) => get_task(e, id),
        ("POST", ["task", id, "cancel"]) => cancel_task(e, id, &q),
        ("POST", ["task", id, "audit"]) => audit_task(e, id, &body),
        ("POST", ["task", id, "unique_id"]) => set_unique_id(e, id, &body),
        ("DELETE", ["task", id, "unique_id"]) => clear_unique_id(e, id),
        ("POST", ["task", id, "setMetadata"]) => set_task_metadata(e, id, &body),
        (m @ ("POST" | "PUT" | "DELETE"), ["task", id, "tags"]) => task_tags(e, id, m, &body),
        ("GET", ["tasks"]) => list_tasks(e, &q),
        ("POST", [kind @ ("evaluation_tasks" | "training_tasks"), ty]) => {
            create_quality_task(e, kind, ty, &body)
        }
        ("POST", ["batches"]) => create_batch(e, &body),
        ("GET", ["batches"]) => list_batches(e, &q),
        ("GET", ["batches", name]) => get_batch(e, name),
        ("POST", ["batches", name, "finalize"]) => finalize_batch(e, name),
        ("GET", ["batches", name, "status"]) => batch_status(e, name),
        ("POST", ["batches", name, "setMetadata"]) => set_batch_metadata(e, name, &body),
        ("POST", ["projects"]) => create_project(e, &body),
        ("GET", ["projects"]) => list_projects(e),
        ("GET", ["projects", name]) => get_project(e, name),
        ("POST", ["projects", name, "setParams"]) => set_params(e, name, &body),
        ("GET", ["projects", name, "taskTemplates"]) => task_template(e, name),
        ("POST", ["files", "upload"]) => upload_file(e, &content_type, body.clone()).await,
        ("POST", ["files", "import"]) => import_file(e, &body),
        ("GET", ["teams"]) => Ok(team(e)),
        ("POST", ["teams", op @ ("invite" | "set_role")]) => team_update(e, op, &body),
        ("GET", ["studio", "assignments"]) => Ok(assignments(&e.read())),
        ("POST", ["studio", "assignments", op @ ("add" | "remove")]) => {
            assignments_update(e, op, &body)
        }
        ("GET", ["studio", "projects", p, "groups"]) => list_groups(e, p),
        ("POST", ["studio", "projects", p, "groups"]) => create_group(e, p, &body),
        ("PUT", ["studio", "projects", p, "groups", g]) => update_group(e, p, g, &body),
        ("GET", ["studio", "batches"]) => Ok(studio_batches(&e.read())),
        ("POST", ["studio", "batches", "set_priorities"]) => set_priorities(e, &body),
        ("POST", ["studio", "batches", "reset_priorities"]) => reset_priorities(e),
        ("PUT", ["studio", "batches", name]) => assign_studio_batch(e, name, &body),
        _ => Err(not_found("Not found")),
    };
    result.unwrap_or_else(|r| r)
}
