//! Task writes: reject, bulk update, delete.

use super::super::*;

// Handlers: task writes

#[derive(Deserialize, Default)]
struct RejectIn {
    #[serde(default)]
    reasons: Option<Vec<Value>>,
}

pub(crate) fn reject(emu: &SamaEmulator, p: &str, t: &str, body: &[u8]) -> HResult {
    let input: RejectIn = parse_body(body)?;
    let reasons: Vec<String> = input
        .reasons
        .unwrap_or_default()
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            other => Err(bad_request(format!(
                "`reasons` must be a list of strings, got {other}"
            ))),
        })
        .collect::<Result<_, _>>()?;
    let mut st = emu.write();
    let pr = st.project_mut(p).ok_or_else(|| project_not_found(p))?;
    let idx = pr.live_task(t).ok_or_else(|| task_not_found(t))?;
    pr.reject(idx, reasons.clone()).map_err(bad_request)?;
    Ok(ok_json(&json!({
        "success": true,
        "task_id": pr.task_id(idx).to_string(),
        "state": "rejected",
        "reasons": reasons,
    })))
}

#[derive(Deserialize, Default)]
struct BulkUpdateIn {
    #[serde(default)]
    task_ids: Option<Vec<Value>>,
    #[serde(default)]
    priority: Option<Value>,
}

pub(crate) fn bulk_update(emu: &SamaEmulator, p: &str, body: &[u8]) -> HResult {
    let input: BulkUpdateIn = parse_body(body)?;
    let ids = id_list(input.task_ids, "task_ids")?;
    let priority = match input.priority {
        None | Some(Value::Null) => return Err(bad_request("`priority` is required")),
        Some(Value::Number(n)) => {
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| {
                    bad_request("`priority` must be an integer in the signed 32-bit range")
                })?
        }
        Some(other) => {
            return Err(bad_request(format!(
                "`priority` must be an integer in the signed 32-bit range, got {other}"
            )))
        }
    };
    let mut st = emu.write();
    let pr = st.project_mut(p).ok_or_else(|| project_not_found(p))?;
    let mut updated = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match pr.live_task(&id) {
            Some(idx) => {
                pr.tasks[idx as usize].priority = priority;
                updated.push(id);
            }
            None => failed.push(json!({"id": id, "reason": "Task not found"})),
        }
    }
    Ok(ok_json(&json!({
        "success": failed.is_empty(),
        "priority": priority,
        "updated": updated,
        "failed": failed,
    })))
}

#[derive(Deserialize, Default)]
struct DeleteIn {
    #[serde(default)]
    task_ids: Option<Vec<Value>>,
}

pub(crate) fn delete_tasks(emu: &SamaEmulator, p: &str, body: &[u8]) -> HResult {
    let input: DeleteIn = parse_body(body)?;
    let ids = id_list(input.task_ids, "task_ids")?;
    let mut st = emu.write();
    let pr = st.project_mut(p).ok_or_else(|| project_not_found(p))?;
    let mut deleted = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match pr.live_task(&id) {
            None => failed.push(json!({"id": id, "reason": "Task not found"})),
            Some(idx) => match pr.delete(idx) {
                Ok(()) => deleted.push(id),
                Err(reason) => failed.push(json!({"id": id, "reason": reason})),
            },
        }
    }
    Ok(ok_json(&json!({
        "success": failed.is_empty(),
        "deleted": deleted,
        "failed": failed,
    })))
}
