//! Projects.

use super::super::*;

pub(crate) fn project_not_found(name: &str) -> Response {
    not_found(format!("Project \"{name}\" not found."))
}

pub(crate) fn create_project(emu: &ScaleEmulator, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let name = required_str(&b, "name")?;
    let ty = b.get("type").and_then(Value::as_str).unwrap_or("");
    if !TASK_TYPES.contains(&ty) {
        return Err(bad_request(format!(
            "Parameter is invalid, reason: \"type\" must be a task type, got \"{ty}\""
        )));
    }
    let params = match b.get("params") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(bad_request(
                "Parameter is invalid, reason: \"params\" must be an object",
            ))
        }
    };
    let flag = |k: &str| b.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut st = emu.write();
    if st.project(&name).is_some() {
        return Err(conflict(format!(
            "A project named \"{name}\" already exists."
        )));
    }
    let mut p = ProjectRec::new(&name, ty, params, flag("rapid"), flag("studio"));
    p.dataset_id = b
        .get("datasetId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let out = p.render();
    st.projects.push(p);
    Ok(ok(&out))
}

pub(crate) fn list_projects(emu: &ScaleEmulator) -> HResult {
    let st = emu.read();
    Ok(ok(&Value::Array(
        st.projects.iter().map(ProjectRec::render).collect(),
    )))
}

pub(crate) fn get_project(emu: &ScaleEmulator, name: &str) -> HResult {
    let st = emu.read();
    let p = st.project(name).ok_or_else(|| project_not_found(name))?;
    Ok(ok(&p.render()))
}

pub(crate) fn set_params(emu: &ScaleEmulator, name: &str, body: &[u8]) -> HResult {
    let mut b = object_body(body)?;
    let patch = b.remove("patch").and_then(|v| v.as_bool()).unwrap_or(false);
    let mut st = emu.write();
    let p = st
        .project_mut(name)
        .ok_or_else(|| project_not_found(name))?;
    let prev = p.current();
    let version = prev.get("version").and_then(Value::as_i64).unwrap_or(-1) + 1;
    let mut next = if patch {
        prev.into_iter()
            .filter(|(k, _)| k != "version" && k != "created_at")
            .collect()
    } else {
        Obj::new()
    };
    next.extend(b);
    next.insert("version".into(), json!(version));
    next.insert("created_at".into(), json!(fmt_ts(now_ms())));
    p.param_history.push(next);
    Ok(ok(&p.render()))
}

pub(crate) fn task_template(emu: &ScaleEmulator, name: &str) -> HResult {
    let st = emu.read();
    let p = st.project(name).ok_or_else(|| project_not_found(name))?;
    if !matches!(p.task_type.as_str(), "textcollection" | "chat") {
        return Err(bad_request(format!(
            "Task templates exist only for textcollection and chat projects; \"{name}\" is {}.",
            p.task_type
        )));
    }
    let current = p.current();
    let mut v = json!({
        "id": format!("template-{}", p.name),
        "version": current.get("version").cloned().unwrap_or(json!(0)),
        "created_at": fmt_ts(p.created_at),
        "updated_at": current.get("created_at").cloned().unwrap_or(json!(fmt_ts(p.created_at))),
        "template_variables": current.get("template_variables").cloned().unwrap_or(json!({})),
        "auto_onboard_enabled": false,
    });
    if let Some(schema) = current.get("response_schema") {
        v["response_schema"] = schema.clone();
    }
    Ok(ok(&v))
}
