//! Status check, users, datasets, collaborators and labelsets (segments.md §1.4, §2.1, §8.2).

use super::*;

// ---------------------------------------------------------------------------------------------
// Status, users, datasets

pub(super) fn api_status(q: &Query) -> HResult {
    // Python-SDK style versions below 1.0 are "too old" (§1.4: the SDK only warns on 426).
    let too_old = q.get("lib_version").is_some_and(|v| {
        let mut it = v.trim().split('.');
        let major = it.next().and_then(|m| m.parse::<u64>().ok());
        let minor_ok = it.next().is_some_and(|m| m.parse::<u64>().is_ok());
        major == Some(0) && minor_ok
    });
    if too_old {
        return Err(errors::detail(
            426,
            "Please upgrade: pip install --upgrade segments-ai",
        ));
    }
    Ok(ok(&json!({})))
}

pub(super) fn me(emu: &SegmentsEmulator) -> Response {
    let st = emu.read();
    match st.user(CALLER) {
        Some(u) => ok(&u.render(&st, true)),
        None => not_found(),
    }
}

pub(super) fn user(emu: &SegmentsEmulator, name: &str) -> HResult {
    let st = emu.read();
    let u = st.user(name).ok_or_else(not_found)?;
    Ok(ok(&u.render(&st, name == CALLER)))
}

pub(super) fn list_datasets(emu: &SegmentsEmulator, owner: Option<&str>, q: &Query) -> HResult {
    let st = emu.read();
    if let Some(o) = owner {
        st.user(o).ok_or_else(not_found)?;
    }
    let visible: Vec<&DatasetRec> = st
        .datasets
        .iter()
        .filter(|d| owner.is_none_or(|o| d.owner == o) && st.visible(d, CALLER))
        .collect();
    let page = paginate(visible, q)?;
    Ok(ok(&Value::Array(
        page.into_iter()
            .map(|d| st.render_dataset(d, CALLER))
            .collect(),
    )))
}

pub(super) fn get_dataset(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    Ok(ok(&st.render_dataset(&st.datasets[di], CALLER)))
}

/// String settings.
pub(super) const STRING_SETTINGS: [&str; 2] = ["description", "readme"];
/// Boolean settings (§2.2.1, §2.2.2).
pub(super) const BOOL_SETTINGS: [&str; 18] = [
    "public",
    "archived",
    "enable_skip_labeling",
    "enable_skip_reviewing",
    "enable_ratings",
    "enable_interpolation",
    "enable_same_dimensions_track_constraint",
    "enable_save_button",
    "enable_label_status_verified",
    "enable_3d_cuboid_rotation",
    "enable_3d_region_of_interest",
    "enable_confirm_on_submit",
    "use_timestamps_for_interpolation",
    "enable_object_linking",
    "enable_object_link_category_restrictions",
    "enable_extrapolation",
    "noncollaborator_can_label",
    "noncollaborator_can_review",
];

pub(super) fn valid_task_type(v: &Value) -> Result<String, Response> {
    match v.as_str() {
        Some(t) if TASK_TYPES.contains(&t) => Ok(t.to_owned()),
        _ => Err(field_error(
            "task_type",
            format!("\"{}\" is not a valid choice.", v.as_str().unwrap_or("?")),
        )),
    }
}

pub(super) fn valid_task_attributes(v: &Value) -> Result<Value, Response> {
    match v {
        Value::Object(o) => {
            if let Some(cats) = o.get("categories") {
                let ok = cats.as_array().is_some_and(|a| {
                    a.iter().all(|c| {
                        c.get("id").is_some_and(Value::is_i64)
                            && c.get("name").is_some_and(Value::is_string)
                    })
                });
                if !ok {
                    return Err(field_error(
                        "task_attributes",
                        "categories must be a list of objects with an integer `id` and a `name`.",
                    ));
                }
            }
            Ok(v.clone())
        }
        _ => Err(field_error(
            "task_attributes",
            "Expected a dictionary of task attributes.",
        )),
    }
}

/// Apply the settings a create or PATCH body sends (unknown keys are ignored, §1.7).
pub(super) fn apply_settings(d: &mut DatasetRec, b: &Obj) -> Result<(), Response> {
    let mut fields = d.fields.clone();
    for k in STRING_SETTINGS {
        if let Some(v) = optional_str(b, k)? {
            fields.insert(k.to_owned(), json!(v));
        }
    }
    for k in BOOL_SETTINGS {
        if let Some(v) = optional_bool(b, k)? {
            fields.insert(k.to_owned(), json!(v));
        }
    }
    if let Some(c) = optional_str(b, "category")? {
        if !CATEGORIES.contains(&c.as_str()) && !c.starts_with("custom-") {
            return Err(field_error(
                "category",
                format!("\"{c}\" is not a valid choice."),
            ));
        }
        fields.insert("category".into(), json!(c));
    }
    match b.get("metadata") {
        None | Some(Value::Null) => {}
        Some(m @ Value::Object(_)) => {
            fields.insert("metadata".into(), m.clone());
        }
        Some(_) => return Err(field_error("metadata", "Expected a dictionary of items.")),
    }
    match b.get("labeling_inactivity_timeout_seconds") {
        None | Some(Value::Null) => {}
        Some(v) if v.is_u64() => {
            fields.insert("labeling_inactivity_timeout_seconds".into(), v.clone());
        }
        Some(_) => {
            return Err(field_error(
                "labeling_inactivity_timeout_seconds",
                "A valid integer is required.",
            ))
        }
    }
    if let Some(v) = b.get("region_of_interest") {
        fields.insert("region_of_interest".into(), v.clone());
    }
    if let Some(v) = b.get("task_type") {
        d.task_type = valid_task_type(v)?;
    }
    match b.get("task_attributes") {
        None | Some(Value::Null) => {}
        Some(v) => d.task_attributes = valid_task_attributes(v)?,
    }
    d.fields = fields;
    Ok(())
}

pub(super) fn valid_dataset_name(b: &Obj) -> Result<String, Response> {
    let name = required_str(b, "name")?;
    if name.contains('/') || name.chars().any(char::is_whitespace) {
        return Err(field_error(
            "name",
            "Enter a valid name: letters, numbers, underscores, hyphens or dots, no spaces or slashes.",
        ));
    }
    Ok(name)
}

pub(super) fn dataset_exists() -> Response {
    field_error("name", "Dataset with this name already exists.")
}

pub(super) fn create_dataset(emu: &SegmentsEmulator, owner: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let name = valid_dataset_name(&b)?;
    let task_type = match b.get("task_type") {
        None | Some(Value::Null) => {
            return Err(field_error("task_type", "This field is required."))
        }
        Some(v) => valid_task_type(v)?,
    };
    let default_attributes =
        json!({"format_version": "0.1", "categories": [{"name": "object", "id": 1}]});
    let mut d = DatasetRec::new(owner, &name, &task_type, default_attributes);
    apply_settings(&mut d, &b)?;
    let mut st = emu.write();
    if st.dataset_idx(owner, &name).is_some() {
        return Err(dataset_exists());
    }
    let out = st.render_dataset(&d, CALLER);
    st.datasets.push(d);
    Ok(created(&out))
}

/// Whether the caller may create datasets for `owner` (itself, or an organization it manages).
pub(super) fn may_own(st: &Store, owner: &str) -> Result<(), Response> {
    if owner == CALLER {
        return Ok(());
    }
    let org = st
        .user(owner)
        .filter(|u| u.is_organization)
        .ok_or_else(not_found)?;
    match org.members.iter().find(|(m, _)| m == CALLER) {
        Some((_, role)) if role_allows(role, Access::Manage) => Ok(()),
        Some(_) => Err(forbidden()),
        None => Err(not_found()),
    }
}

pub(super) fn create_org_dataset(emu: &SegmentsEmulator, org: &str, body: &[u8]) -> HResult {
    may_own(&emu.read(), org)?;
    create_dataset(emu, org, body)
}

pub(super) fn update_dataset(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    apply_settings(&mut st.datasets[di], &b)?;
    Ok(ok(&st.render_dataset(&st.datasets[di], CALLER)))
}

pub(super) fn delete_dataset(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Admin)?;
    st.remove_dataset(di);
    Ok(no_content())
}

pub(super) fn clone_dataset(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let new_name = match b.get("name") {
        None | Some(Value::Null) => format!("{name}-clone"),
        _ => valid_dataset_name(&b)?,
    };
    let new_owner = optional_str(&b, "owner")?.unwrap_or_else(|| CALLER.to_owned());
    may_own(&st, &new_owner)?;
    let clone_labels = optional_bool(&b, "clone_labels")?.unwrap_or(false);
    if st.dataset_idx(&new_owner, &new_name).is_some() {
        return Err(dataset_exists());
    }
    let src = &st.datasets[di];
    let mut d = DatasetRec::new(
        &new_owner,
        &new_name,
        &src.task_type,
        src.task_attributes.clone(),
    );
    d.fields = src.fields.clone();
    d.fields.insert("public".into(), json!(false));
    d.cloned_from = Some(src.full_name());
    d.labelsets = src
        .labelsets
        .iter()
        .map(|l| LabelsetRec {
            name: l.name.clone(),
            description: l.description.clone(),
            is_groundtruth: l.is_groundtruth,
            created_at: d.created_at.clone(),
        })
        .collect();
    if let Some(v) = b.get("task_type").filter(|v| !v.is_null()) {
        d.task_type = valid_task_type(v)?;
    }
    if let Some(p) = optional_bool(&b, "public")? {
        d.fields.insert("public".into(), json!(p));
    }
    let source_samples = src.samples.clone();
    let full = d.full_name();
    let now = fmt_ts(Utc::now());
    for u in source_samples {
        let Some(s) = st.samples.get(&u) else {
            continue;
        };
        let (name, attributes, metadata, readme, priority) = (
            s.name.clone(),
            s.attributes.clone(),
            s.metadata.clone(),
            s.readme.clone(),
            s.priority.clone(),
        );
        let labels: BTreeMap<String, Box<LabelRec>> = if clone_labels {
            s.labels
                .iter()
                .map(|(k, l)| {
                    (
                        k.clone(),
                        Box::new(LabelRec {
                            label_status: l.label_status.clone(),
                            attributes: l.attributes.clone(),
                            score: l.score.clone(),
                            created_at: l.created_at.clone(),
                            created_by: l.created_by.clone(),
                            updated_at: l.updated_at.clone(),
                            updated_by: l.updated_by.clone(),
                            updated_seq: l.updated_seq,
                            reviewed_at: l.reviewed_at.clone(),
                            reviewed_by: l.reviewed_by.clone(),
                        }),
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let seq = st.tick();
        let uuid = st.uuid();
        d.samples.push(uuid.clone());
        d.by_name.insert(name.clone(), uuid.clone());
        st.samples.insert(
            uuid.clone(),
            SampleRec {
                uuid,
                dataset: full.clone(),
                name,
                attributes,
                metadata,
                created_at: now.clone(),
                created_by: CALLER.to_owned(),
                created_seq: seq,
                updated_seq: seq,
                readme,
                assigned_labeler: None,
                assigned_reviewer: None,
                priority,
                labels,
            },
        );
    }
    let out = st.render_dataset(&d, CALLER);
    st.datasets.push(d);
    Ok(created(&out))
}

// ---------------------------------------------------------------------------------------------
// Collaborators

pub(super) fn collaborator_json(st: &Store, username: &str, role: &str) -> Value {
    let user = st
        .user(username)
        .map_or_else(|| json!({"username": username}), |u| u.render(st, false));
    json!({"user": user, "role": role})
}

pub(super) fn valid_role(b: &Obj, default: Option<&str>) -> Result<String, Response> {
    match (b.get("role"), default) {
        (None | Some(Value::Null), Some(d)) => Ok(d.to_owned()),
        (Some(Value::String(r)), _) if ROLES.contains(&r.as_str()) => Ok(r.clone()),
        (None | Some(Value::Null), None) => Err(field_error("role", "This field is required.")),
        (Some(v), _) => Err(field_error(
            "role",
            format!("\"{}\" is not a valid choice.", v.as_str().unwrap_or("?")),
        )),
    }
}

pub(super) fn add_collaborator(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let username = required_str(&b, "user")?;
    let role = valid_role(&b, Some("labeler"))?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let u = st.user(&username).ok_or_else(not_found)?;
    if u.is_organization || username == st.datasets[di].owner {
        return Err(bad_request(format!(
            "{username} cannot be added as collaborator to this dataset."
        )));
    }
    let d = &mut st.datasets[di];
    if d.collaborators.iter().any(|(c, _)| c == &username) {
        return Err(bad_request(format!(
            "{username} is already a collaborator on this dataset."
        )));
    }
    d.collaborators.push((username.clone(), role.clone()));
    Ok(created(&collaborator_json(&st, &username, &role)))
}

pub(super) fn collaborator_idx(st: &Store, di: usize, username: &str) -> Result<usize, Response> {
    st.datasets[di]
        .collaborators
        .iter()
        .position(|(c, _)| c == username)
        .ok_or_else(not_found)
}

pub(super) fn get_collaborator(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    username: &str,
) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let ci = collaborator_idx(&st, di, username)?;
    let role = &st.datasets[di].collaborators[ci].1;
    Ok(ok(&collaborator_json(&st, username, role)))
}

pub(super) fn update_collaborator(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    username: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let role = valid_role(&b, None)?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let ci = collaborator_idx(&st, di, username)?;
    st.datasets[di].collaborators[ci].1 = role.clone();
    Ok(ok(&collaborator_json(&st, username, &role)))
}

pub(super) fn delete_collaborator(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    username: &str,
) -> HResult {
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let ci = collaborator_idx(&st, di, username)?;
    st.datasets[di].collaborators.remove(ci);
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------------
// Labelsets

pub(super) fn list_labelsets(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    Ok(ok(&Value::Array(
        st.datasets[di]
            .labelsets
            .iter()
            .map(LabelsetRec::render)
            .collect(),
    )))
}

pub(super) fn get_labelset(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    labelset: &str,
) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let l = st.datasets[di].labelset(labelset).ok_or_else(not_found)?;
    Ok(ok(&l.render()))
}

pub(super) fn create_labelset(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let ls = required_str(&b, "name")?;
    let description = optional_str(&b, "description")?.unwrap_or_default();
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let d = &mut st.datasets[di];
    if d.labelset(&ls).is_some() {
        return Err(field_error(
            "name",
            "Labelset with this name already exists in this dataset.",
        ));
    }
    let rec = LabelsetRec {
        name: ls,
        description,
        is_groundtruth: false,
        created_at: fmt_ts(Utc::now()),
    };
    let out = rec.render();
    d.labelsets.push(rec);
    Ok(created(&out))
}

pub(super) fn delete_labelset(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    labelset: &str,
) -> HResult {
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let d = &st.datasets[di];
    let l = d.labelset(labelset).ok_or_else(not_found)?;
    if l.is_groundtruth || labelset == GROUND_TRUTH {
        return Err(bad_request("The ground-truth labelset cannot be deleted."));
    }
    let uuids = d.samples.clone();
    st.datasets[di].labelsets.retain(|l| l.name != labelset);
    for u in uuids {
        if let Some(s) = st.samples.get_mut(&u) {
            s.labels.remove(labelset);
        }
    }
    Ok(no_content())
}
