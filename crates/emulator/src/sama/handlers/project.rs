//! Project-level reads: project information, schemas, stats.

use super::super::*;

// Handlers: project-level reads

pub(crate) fn project_info(emu: &SamaEmulator, p: &str) -> HResult {
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let inputs: Vec<Value> = fixture::INPUTS
        .iter()
        .map(|i| {
            let kind = match i.kind {
                fixture::InputKind::String => "string",
                fixture::InputKind::Integer => "integer",
                fixture::InputKind::Date => "date",
            };
            json!({"name": i.name, "type": kind, "required": i.required})
        })
        .collect();
    let outputs: Vec<Value> = fixture::OUTPUTS
        .iter()
        .map(|o| {
            let kind = match o.kind {
                fixture::OutputKind::String => "string",
                fixture::OutputKind::Workspace => "workspace",
            };
            json!({"name": o.name, "type": kind})
        })
        .collect();
    Ok(ok_json(&json!({
        "id": ProjectIdOut(pr),
        "name": format!("labelmux emulator project {p}"),
        "state": "active",
        "type": "image_annotation",
        "asset_country_code": "US",
        "project_group": "labelmux-emulator",
        "description": "Emulated Sama project (labelmux-emulator default fixture)",
        "client": "labelmux",
        "client_batch_id_input": fixture::CLIENT_BATCH_INPUT,
        "inputs": inputs,
        "outputs": outputs,
    })))
}

pub(crate) fn schema(emu: &SamaEmulator, p: &str, creation: bool) -> HResult {
    if !emu.has_project(p) {
        return Err(project_not_found(p));
    }
    Ok(ok_json(&if creation {
        fixture::creation_schema(p)
    } else {
        fixture::delivery_schema(p)
    }))
}

pub(crate) fn stats(emu: &SamaEmulator, p: &str, q: &Query) -> HResult {
    let from = q.time("from")?;
    let to = q.time("to")?;
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let mut counts = [0usize; 7];
    let (lo, hi) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
    for t in pr.tasks.iter().filter(|t| !t.deleted) {
        if t.created_at >= lo && t.created_at <= hi {
            counts[t.state as usize] += 1;
        }
    }
    let by_state: serde_json::Map<String, Value> = TaskState::ALL
        .iter()
        .map(|s| (s.name().to_owned(), json!(counts[*s as usize])))
        .collect();
    let deliveries = pr.log.iter().filter(|e| e.at >= lo && e.at <= hi).count();
    Ok(ok_json(&json!({
        "project_id": ProjectIdOut(pr),
        "from": from.map(Ts),
        "to": to.map(Ts),
        "total_tasks": counts.iter().sum::<usize>(),
        "tasks": by_state,
        "deliveries": deliveries,
        "batches": pr.batches.len(),
    })))
}
