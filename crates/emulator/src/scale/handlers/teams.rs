//! Teams and Studio (assignments, groups, batch priorities).

use super::super::*;
use super::*;

pub(crate) fn team(emu: &ScaleEmulator) -> Response {
    let st = emu.read();
    ok(&json!(st.team))
}

pub(crate) fn team_update(emu: &ScaleEmulator, op: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let emails = string_list(b.get("emails"), "emails")?;
    let role = b.get("team_role").and_then(Value::as_str).unwrap_or("");
    if !["labeler", "member", "manager", "admin"].contains(&role) {
        return Err(bad_request(format!(
            "Parameter is invalid, reason: \"team_role\" must be labeler, member, manager or admin, got \"{role}\""
        )));
    }
    let mut st = emu.write();
    for email in emails {
        let pos = st
            .team
            .iter()
            .position(|m| m.get("email").and_then(Value::as_str) == Some(&email));
        match (op, pos) {
            (_, Some(i)) => {
                st.team[i].insert("role".into(), json!(role));
            }
            ("invite", None) => {
                let expiry = fmt_ts(now_ms() + 7 * 24 * 3600 * 1000);
                let m = json!({"email": email, "role": role, "isStudioLabeler": role == "labeler", "expiry": expiry});
                st.team.push(m.as_object().cloned().unwrap_or_default());
            }
            (_, None) => return Err(not_found(format!("No teammate with e-mail \"{email}\"."))),
        }
    }
    Ok(ok(&json!(st.team)))
}

pub(crate) fn assignments(st: &Store) -> Response {
    ok(&json!(st.assignments))
}

pub(crate) fn assignments_update(emu: &ScaleEmulator, op: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let emails = string_list(b.get("emails"), "emails")?;
    let projects = string_list(b.get("projects"), "projects")?;
    let mut st = emu.write();
    if let Some(p) = projects.iter().find(|p| st.project(p).is_none()) {
        return Err(project_not_found(p));
    }
    for email in emails {
        let list = st.assignments.entry(email.clone()).or_default();
        for p in &projects {
            if op == "add" {
                if !list.contains(p) {
                    list.push(p.clone());
                }
            } else {
                list.retain(|x| x != p);
            }
        }
        if list.is_empty() {
            st.assignments.remove(&email);
        }
    }
    Ok(assignments(&st))
}

pub(crate) fn list_groups(emu: &ScaleEmulator, project: &str) -> HResult {
    let st = emu.read();
    st.project(project)
        .ok_or_else(|| project_not_found(project))?;
    let groups: Vec<Value> = st
        .groups
        .get(project)
        .map(|g| g.iter().map(GroupRec::render).collect())
        .unwrap_or_default();
    Ok(ok(&Value::Array(groups)))
}

pub(crate) fn check_assigned(st: &Store, project: &str, emails: &[String]) -> Result<(), Response> {
    match emails.iter().find(|e| {
        !st.assignments
            .get(*e)
            .is_some_and(|ps| ps.iter().any(|p| p == project))
    }) {
        Some(e) => Err(bad_request(format!(
            "{e} is not assigned to project \"{project}\"; assign it first"
        ))),
        None => Ok(()),
    }
}

pub(crate) fn create_group(emu: &ScaleEmulator, project: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let emails = string_list(b.get("emails"), "emails")?;
    let name = required_str(&b, "name")?;
    let mut st = emu.write();
    st.project(project)
        .ok_or_else(|| project_not_found(project))?;
    check_assigned(&st, project, &emails)?;
    if st
        .groups
        .get(project)
        .is_some_and(|g| g.iter().any(|x| x.name == name))
    {
        return Err(conflict(format!(
            "A group named \"{name}\" already exists."
        )));
    }
    let id = st.new_id();
    let g = GroupRec { id, name, emails };
    let out = g.render();
    st.groups.entry(project.to_owned()).or_default().push(g);
    Ok(ok(&out))
}

pub(crate) fn update_group(
    emu: &ScaleEmulator,
    project: &str,
    group: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let add = string_list(b.get("add_emails"), "add_emails")?;
    let remove = string_list(b.get("remove_emails"), "remove_emails")?;
    let mut st = emu.write();
    st.project(project)
        .ok_or_else(|| project_not_found(project))?;
    check_assigned(&st, project, &add)?;
    let g = st
        .groups
        .get_mut(project)
        .and_then(|gs| gs.iter_mut().find(|g| g.name == group))
        .ok_or_else(|| not_found(format!("Group \"{group}\" not found.")))?;
    for e in add {
        if !g.emails.contains(&e) {
            g.emails.push(e);
        }
    }
    g.emails.retain(|e| !remove.contains(e));
    Ok(ok(&g.render()))
}

pub(crate) fn studio_batch(st: &Store, b: &BatchRec, priority: Option<usize>) -> Value {
    let counts = st.batch_counts(&b.name);
    json!({
        "id": b.id,
        "name": b.name,
        "projectId": format!("project-{}", b.project),
        "projectName": b.project,
        "batchType": if b.calibration { "Calibration" } else { "Production" },
        "studioPriority": priority,
        "total": b.tasks.len(),
        "completed": counts.get(COMPLETED).copied().unwrap_or(0),
        "groups": b.groups,
    })
}

/// Pending Studio batches (not completed), in priority order.
pub(crate) fn pending_studio(st: &Store) -> Vec<&BatchRec> {
    st.studio_order
        .iter()
        .filter_map(|n| st.batch(n))
        .filter(|b| b.status != COMPLETED)
        .collect()
}

pub(crate) fn studio_batches(st: &Store) -> Response {
    let list: Vec<Value> = pending_studio(st)
        .iter()
        .enumerate()
        .map(|(i, b)| studio_batch(st, b, Some(i + 1)))
        .collect();
    ok(&Value::Array(list))
}

pub(crate) fn assign_studio_batch(emu: &ScaleEmulator, name: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let groups = string_list(b.get("groups"), "groups")?;
    let mut st = emu.write();
    let project = st
        .batch(name)
        .ok_or_else(|| batch_not_found(name))?
        .project
        .clone();
    let known: Vec<String> = st
        .groups
        .get(&project)
        .map(|g| g.iter().map(|x| x.name.clone()).collect())
        .unwrap_or_default();
    if let Some(g) = groups.iter().find(|g| !known.contains(g)) {
        return Err(not_found(format!(
            "Group \"{g}\" not found in project \"{project}\"."
        )));
    }
    if let Some(rec) = st.batch_mut(name) {
        rec.groups = groups;
    }
    let pos = st
        .studio_order
        .iter()
        .position(|n| n == name)
        .map(|i| i + 1);
    let out = st
        .batch(name)
        .map(|rec| studio_batch(&st, rec, pos))
        .unwrap_or_default();
    Ok(ok(&out))
}

pub(crate) fn set_priorities(emu: &ScaleEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let names: Vec<String> = match b.get("batches") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad_request("Parameter is invalid, reason: each batch needs a \"name\"")
            })?,
        _ => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"batches\" is required",
            ))
        }
    };
    let mut st = emu.write();
    let mut pending: Vec<String> = pending_studio(&st).iter().map(|b| b.name.clone()).collect();
    let mut given = names.clone();
    pending.sort();
    given.sort();
    if pending != given {
        return Err(bad_request(
            "The list must name every pending Studio batch exactly once",
        ));
    }
    let done: Vec<String> = st
        .studio_order
        .iter()
        .filter(|n| !names.contains(n))
        .cloned()
        .collect();
    st.studio_order = names.into_iter().chain(done).collect();
    Ok(studio_batches(&st))
}

pub(crate) fn reset_priorities(emu: &ScaleEmulator) -> HResult {
    let mut st = emu.write();
    let mut order = std::mem::take(&mut st.studio_order);
    order.sort_by_key(|n| st.batch(n).map_or(i64::MAX, |b| b.created_at));
    st.studio_order = order;
    Ok(studio_batches(&st))
}
