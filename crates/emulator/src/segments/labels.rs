//! Labels (PUT upsert, PATCH, delete) and issues (segments.md §2.2.6–§2.2.8, §8.4, §8.5).

use super::*;

// ---------------------------------------------------------------------------------------------
// Labels

/// Loose check of label `attributes` against the task type (§5.7); stored verbatim after.
pub(super) fn check_label_attributes(task_type: &str, a: &Value) -> Result<(), String> {
    let Some(o) = a.as_object() else {
        return Err("Label attributes must be an object.".to_owned());
    };
    let annotations = || o.get("annotations").and_then(Value::as_array);
    let ids_ok = |anns: &Vec<Value>| {
        anns.iter().all(|x| {
            x.get("id").is_some_and(Value::is_i64)
                && x.get("category_id").is_some_and(Value::is_i64)
        })
    };
    let problem = match task_type {
        "bboxes" | "vector" | "keypoints" => match annotations() {
            None => Some("expected `annotations`, a list"),
            Some(anns) if !ids_ok(anns) => {
                Some("every annotation needs an integer `id` and `category_id`")
            }
            Some(anns) => anns
                .iter()
                .find(|x| {
                    let ty_ok = x
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| matches!(t, "bbox" | "polygon" | "polyline" | "point"));
                    let points_ok = x.get("points").and_then(Value::as_array).is_some_and(|p| {
                        p.iter().all(|pt| {
                            pt.as_array()
                                .is_some_and(|c| c.len() >= 2 && c.iter().all(Value::is_number))
                        })
                    });
                    !(ty_ok && points_ok)
                })
                .map(|_| {
                    "every annotation needs a `type` (bbox, polygon, polyline, point) and `points` [[x, y], ...]"
                }),
        },
        "segmentation-bitmap" | "segmentation-bitmap-highres" => match annotations() {
            Some(anns) if ids_ok(anns) && o.get("segmentation_bitmap").is_some_and(Value::is_object) => None,
            _ => Some("expected `annotations` (id, category_id) and a `segmentation_bitmap` object"),
        },
        "pointcloud-cuboid" | "pointcloud-vector" => match annotations() {
            Some(anns) if ids_ok(anns) => None,
            _ => Some("expected `annotations` with an integer `id` and `category_id`"),
        },
        "pointcloud-segmentation" => match annotations() {
            Some(anns) if ids_ok(anns) && o.get("point_annotations").is_some_and(Value::is_array) => None,
            _ => Some("expected `annotations` and `point_annotations`"),
        },
        t if t.ends_with("-sequence") && t != "multisensor-sequence" => {
            (!o.get("frames").is_some_and(Value::is_array)).then_some("expected `frames`, a list")
        }
        "multisensor-sequence" => {
            (!o.get("sensors").is_some_and(Value::is_array)).then_some("expected `sensors`, a list")
        }
        _ => None,
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(format!(
            "Invalid label attributes for a {task_type} dataset: {p}."
        )),
    }
}

pub(super) fn valid_label_status(d: &DatasetRec, v: &Value) -> Result<String, Response> {
    let s = v.as_str().unwrap_or("");
    let verified_ok = d
        .fields
        .get("enable_label_status_verified")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !LABEL_STATUSES.contains(&s) || s == "UNLABELED" || (s == "VERIFIED" && !verified_ok) {
        return Err(field_error(
            "label_status",
            format!("\"{s}\" is not a valid choice."),
        ));
    }
    Ok(s.to_owned())
}

pub(super) fn valid_score(v: Option<&Value>) -> Result<Option<Value>, Response> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(s) if s.is_number() => Ok(Some(s.clone())),
        Some(_) => Err(field_error("score", "A valid number is required.")),
    }
}

/// The sample's dataset index after checking the labelset exists.
pub(super) fn label_target(
    st: &Store,
    uuid: &str,
    labelset: &str,
    need: Access,
) -> Result<usize, Response> {
    let di = sample_access(st, uuid, need)?;
    st.datasets[di].labelset(labelset).ok_or_else(not_found)?;
    Ok(di)
}

pub(super) fn get_label(emu: &SegmentsEmulator, uuid: &str, labelset: &str) -> HResult {
    let st = emu.read();
    let di = label_target(&st, uuid, labelset, Access::Read)?;
    let l = st.samples[uuid]
        .labels
        .get(labelset)
        .ok_or_else(not_found)?;
    Ok(ok(&l.render(uuid, labelset, &st.datasets[di].task_type)))
}

/// PUT: create the label, or replace its status, attributes and score (§8.4).
pub(super) fn put_label(
    emu: &SegmentsEmulator,
    uuid: &str,
    labelset: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = label_target(&st, uuid, labelset, Access::Label)?;
    let d = &st.datasets[di];
    let status = match b.get("label_status") {
        None | Some(Value::Null) => "PRELABELED".to_owned(),
        Some(v) => valid_label_status(d, v)?,
    };
    let attributes = match b.get("attributes") {
        None | Some(Value::Null) => {
            return Err(field_error("attributes", "This field is required."))
        }
        Some(a) => {
            check_label_attributes(&d.task_type, a).map_err(|m| field_error("attributes", m))?;
            CompactJson::new(a)
        }
    };
    let score = valid_score(b.get("score"))?;
    let task_type = d.task_type.clone();
    let seq = st.tick();
    let now = fmt_ts(Utc::now());
    let Some(s) = st.samples.get_mut(uuid) else {
        return Err(not_found());
    };
    let previous = s.labels.remove(labelset);
    let is_new = previous.is_none();
    let (created_at, created_by) = previous
        .map(|p| (p.created_at, p.created_by))
        .unwrap_or_else(|| (now.clone(), CALLER.to_owned()));
    let reviewed = matches!(status.as_str(), "REVIEWED" | "REJECTED" | "VERIFIED");
    let label = LabelRec {
        label_status: status,
        attributes,
        score,
        created_at,
        created_by,
        updated_at: now.clone(),
        updated_by: CALLER.to_owned(),
        updated_seq: seq,
        reviewed_at: reviewed.then(|| now.clone()),
        reviewed_by: reviewed.then(|| CALLER.to_owned()),
    };
    let out = label.render(uuid, labelset, &task_type);
    s.labels.insert(labelset.to_owned(), Box::new(label));
    Ok(if is_new { created(&out) } else { ok(&out) })
}

pub(super) fn patch_label(
    emu: &SegmentsEmulator,
    uuid: &str,
    labelset: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = label_target(&st, uuid, labelset, Access::Label)?;
    if !st.samples[uuid].labels.contains_key(labelset) {
        return Err(not_found());
    }
    let d = &st.datasets[di];
    let status = match b.get("label_status") {
        None | Some(Value::Null) => None,
        Some(v) => Some(valid_label_status(d, v)?),
    };
    if let Some(a) = b.get("attributes").filter(|a| !a.is_null()) {
        check_label_attributes(&d.task_type, a).map_err(|m| field_error("attributes", m))?;
    }
    let score = valid_score(b.get("score"))?;
    let task_type = d.task_type.clone();
    let seq = st.tick();
    let now = fmt_ts(Utc::now());
    let Some(l) = st
        .samples
        .get_mut(uuid)
        .and_then(|s| s.labels.get_mut(labelset))
    else {
        return Err(not_found());
    };
    if let Some(s) = status {
        if matches!(s.as_str(), "REVIEWED" | "REJECTED" | "VERIFIED") {
            l.reviewed_at = Some(now.clone());
            l.reviewed_by = Some(CALLER.to_owned());
        }
        l.label_status = s;
    }
    if let Some(a) = b.get("attributes").filter(|a| !a.is_null()) {
        l.attributes = CompactJson::new(a);
    }
    if b.contains_key("score") {
        l.score = score;
    }
    l.updated_at = now;
    l.updated_by = CALLER.to_owned();
    l.updated_seq = seq;
    Ok(ok(&l.render(uuid, labelset, &task_type)))
}

pub(super) fn delete_label(emu: &SegmentsEmulator, uuid: &str, labelset: &str) -> HResult {
    let mut st = emu.write();
    label_target(&st, uuid, labelset, Access::Label)?;
    let removed = st
        .samples
        .get_mut(uuid)
        .and_then(|s| s.labels.remove(labelset));
    match removed {
        Some(_) => Ok(no_content()),
        None => Err(not_found()),
    }
}

// ---------------------------------------------------------------------------------------------
// Issues

pub(super) fn render_issue(st: &Store, i: &IssueRec) -> Value {
    let sample_name = st
        .samples
        .get(&i.sample_uuid)
        .map_or("", |s| s.name.as_str());
    i.render(sample_name)
}

pub(super) fn list_issues(emu: &SegmentsEmulator, owner: &str, name: &str) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let full = st.datasets[di].full_name();
    let out: Vec<Value> = st
        .issue_order
        .iter()
        .filter_map(|u| st.issues.get(u))
        .filter(|i| i.dataset == full)
        .map(|i| render_issue(&st, i))
        .collect();
    Ok(ok(&Value::Array(out)))
}

pub(super) fn valid_issue_status(v: &Value) -> Result<String, Response> {
    match v.as_str() {
        Some(s @ ("OPEN" | "CLOSED")) => Ok(s.to_owned()),
        _ => Err(field_error(
            "status",
            format!("\"{}\" is not a valid choice.", v.as_str().unwrap_or("?")),
        )),
    }
}

pub(super) fn valid_anchor(v: Option<&Value>) -> Result<Option<Value>, Response> {
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Value::Null)),
        Some(a)
            if a.get("type").and_then(Value::as_str).is_some_and(|t| {
                matches!(t, "basic" | "track" | "sceneAttribute" | "location")
            }) =>
        {
            Ok(Some(a.clone()))
        }
        Some(_) => Err(field_error(
            "anchor",
            "Expected an anchor object with a `type` of basic, track, sceneAttribute or location.",
        )),
    }
}

pub(super) fn create_issue(emu: &SegmentsEmulator, sample_uuid: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let description = match b.get("description") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(field_error("description", "This field is required."))
        }
        Some(_) => return Err(field_error("description", "Not a valid string.")),
    };
    let status = match b.get("status") {
        None | Some(Value::Null) => "OPEN".to_owned(),
        Some(v) => valid_issue_status(v)?,
    };
    let anchor = valid_anchor(b.get("anchor"))?.unwrap_or(Value::Null);
    let mut st = emu.write();
    let di = sample_access(&st, sample_uuid, Access::Label)?;
    let uuid = st.uuid();
    let now = fmt_ts(Utc::now());
    let rec = IssueRec {
        uuid: uuid.clone(),
        sample_uuid: sample_uuid.to_owned(),
        dataset: st.datasets[di].full_name(),
        description,
        status,
        anchor,
        created_at: now.clone(),
        updated_at: now,
        created_by: CALLER.to_owned(),
        updated_by: CALLER.to_owned(),
    };
    let out = render_issue(&st, &rec);
    st.issues.insert(uuid.clone(), rec);
    st.issue_order.push(uuid);
    Ok(created(&out))
}

pub(super) fn issue_access(st: &Store, uuid: &str) -> Result<(), Response> {
    let i = st.issues.get(uuid).ok_or_else(not_found)?;
    let di = st.dataset_by_full_name(&i.dataset).ok_or_else(not_found)?;
    check_access(st, di, Access::Label)
}

pub(super) fn update_issue(emu: &SegmentsEmulator, uuid: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let description = optional_str(&b, "description")?;
    let status = match b.get("status") {
        None | Some(Value::Null) => None,
        Some(v) => Some(valid_issue_status(v)?),
    };
    let anchor = valid_anchor(b.get("anchor"))?;
    let mut st = emu.write();
    issue_access(&st, uuid)?;
    let Some(i) = st.issues.get_mut(uuid) else {
        return Err(not_found());
    };
    if let Some(d) = description {
        i.description = d;
    }
    if let Some(s) = status {
        i.status = s;
    }
    if let Some(a) = anchor {
        i.anchor = a;
    }
    i.updated_at = fmt_ts(Utc::now());
    i.updated_by = CALLER.to_owned();
    let out = match st.issues.get(uuid) {
        Some(i) => render_issue(&st, i),
        None => return Err(not_found()),
    };
    Ok(ok(&out))
}

pub(super) fn delete_issue(emu: &SegmentsEmulator, uuid: &str) -> HResult {
    let mut st = emu.write();
    issue_access(&st, uuid)?;
    st.issues.remove(uuid);
    st.issue_order.retain(|u| u != uuid);
    Ok(no_content())
}
