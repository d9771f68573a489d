//! Samples: single and bulk create, list with filters, sorting and paging, update, delete
//! (segments.md §2.2.4, §3.2, §8.3).

use super::*;

// ---------------------------------------------------------------------------------------------
// Samples

/// Loose check of sample `attributes` against the dataset's task type (§5.6).
pub(super) fn check_sample_attributes(task_type: &str, a: &Value) -> Result<(), String> {
    let has_url = |v: &Value, k: &str| {
        v.get(k)
            .and_then(|x| x.get("url"))
            .is_some_and(Value::is_string)
    };
    let frames_ok = |key: &str| {
        a.get("frames")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().all(|fr| has_url(fr, key)))
    };
    let (ok, shape) = match task_type {
        "segmentation-bitmap"
        | "segmentation-bitmap-highres"
        | "bboxes"
        | "vector"
        | "keypoints" => (has_url(a, "image"), r#"{"image": {"url": "..."}}"#),
        "image-segmentation-sequence" | "image-vector-sequence" => (
            frames_ok("image"),
            r#"{"frames": [{"image": {"url": "..."}}, ...]}"#,
        ),
        "pointcloud-cuboid" | "pointcloud-segmentation" | "pointcloud-vector" => (
            has_url(a, "pcd") && a["pcd"].get("type").is_some_and(Value::is_string),
            r#"{"pcd": {"url": "...", "type": "pcd"}}"#,
        ),
        "pointcloud-cuboid-sequence"
        | "pointcloud-segmentation-sequence"
        | "pointcloud-vector-sequence" => (
            frames_ok("pcd"),
            r#"{"frames": [{"pcd": {"url": "...", "type": "pcd"}}, ...]}"#,
        ),
        "multisensor-sequence" => (
            a.get("sensors").is_some_and(Value::is_array),
            r#"{"sensors": [...]}"#,
        ),
        _ => (a.is_object(), "an object"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Invalid sample attributes for a {task_type} dataset: expected {shape}."
        ))
    }
}

/// A validated sample of a create request.
pub(super) struct SampleInput {
    name: String,
    attributes: Value,
    metadata: Obj,
    priority: Value,
    readme: String,
    assigned_labeler: Option<String>,
    assigned_reviewer: Option<String>,
}

/// Validate one create body; the error is a DRF field-error object.
pub(super) fn sample_input(task_type: &str, v: &Value) -> Result<SampleInput, Value> {
    let fe = |k: &str, m: &str| json!({ k: [m] });
    let b = v
        .as_object()
        .ok_or_else(|| json!({"non_field_errors": ["Invalid data. Expected a dictionary."]}))?;
    let name = match b.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(fe("name", "This field may not be blank.")),
        None | Some(Value::Null) => return Err(fe("name", "This field is required.")),
        Some(_) => return Err(fe("name", "Not a valid string.")),
    };
    let attributes = match b.get("attributes") {
        None | Some(Value::Null) => return Err(fe("attributes", "This field is required.")),
        Some(a) => {
            check_sample_attributes(task_type, a).map_err(|m| fe("attributes", &m))?;
            a.clone()
        }
    };
    let metadata = match b.get("metadata") {
        None | Some(Value::Null) => Obj::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(fe("metadata", "Expected a dictionary of items.")),
    };
    let priority = match b.get("priority") {
        None | Some(Value::Null) => json!(0),
        Some(p) if p.is_number() => p.clone(),
        Some(_) => return Err(fe("priority", "A valid number is required.")),
    };
    let text = |k: &str| -> Result<Option<String>, Value> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(fe(k, "Not a valid string.")),
        }
    };
    Ok(SampleInput {
        name,
        attributes,
        metadata,
        priority,
        readme: text("readme")?.unwrap_or_default(),
        assigned_labeler: text("assigned_labeler")?,
        assigned_reviewer: text("assigned_reviewer")?,
    })
}

/// Insert a validated sample; returns its UUID.
pub(super) fn insert_sample(st: &mut Store, di: usize, input: SampleInput) -> String {
    let seq = st.tick();
    let uuid = st.uuid();
    let full = st.datasets[di].full_name();
    st.samples.insert(
        uuid.clone(),
        SampleRec {
            uuid: uuid.clone(),
            dataset: full,
            name: input.name.clone(),
            attributes: input.attributes,
            metadata: input.metadata,
            created_at: fmt_ts(Utc::now()),
            created_by: CALLER.to_owned(),
            created_seq: seq,
            updated_seq: seq,
            readme: input.readme,
            assigned_labeler: input.assigned_labeler,
            assigned_reviewer: input.assigned_reviewer,
            priority: input.priority,
            labels: BTreeMap::new(),
        },
    );
    let d = &mut st.datasets[di];
    d.samples.push(uuid.clone());
    d.by_name.insert(input.name, uuid.clone());
    uuid
}

/// The seed control: `count` samples named `{prefix}{index:08}` with attributes of the
/// dataset's task type (one image, point cloud or frame), unlabeled. Names already taken are
/// skipped. Returns the samples created.
pub(super) fn seed_samples(
    st: &mut Store,
    di: usize,
    count: usize,
    prefix: &str,
) -> Result<usize, String> {
    let task_type = st.datasets[di].task_type.clone();
    let attributes = |name: &str| {
        let image = json!({"url": format!("https://images.example.com/seed/{name}.jpg")});
        let pcd =
            json!({"url": format!("https://images.example.com/seed/{name}.pcd"), "type": "pcd"});
        match task_type.as_str() {
            "image-segmentation-sequence" | "image-vector-sequence" => {
                json!({"frames": [{"image": image}]})
            }
            "pointcloud-cuboid" | "pointcloud-segmentation" | "pointcloud-vector" => {
                json!({"pcd": pcd})
            }
            "pointcloud-cuboid-sequence"
            | "pointcloud-segmentation-sequence"
            | "pointcloud-vector-sequence" => json!({"frames": [{"pcd": pcd}]}),
            "multisensor-sequence" => json!({"sensors": []}),
            _ => json!({"image": image}),
        }
    };
    // The shapes above are what the dataset accepts; checked once, not per sample.
    check_sample_attributes(&task_type, &attributes("probe"))?;
    let mut created = 0;
    for i in 0..count {
        let name = format!("{prefix}{i:08}");
        if st.datasets[di].by_name.contains_key(&name) {
            continue;
        }
        let input = SampleInput {
            attributes: attributes(&name),
            name,
            metadata: Obj::new(),
            priority: json!(0),
            readme: String::new(),
            assigned_labeler: None,
            assigned_reviewer: None,
        };
        insert_sample(st, di, input);
        created += 1;
    }
    Ok(created)
}

pub(super) fn sample_exists() -> Response {
    field_error(
        "name",
        "Sample with this name already exists in this dataset.",
    )
}

pub(super) fn create_sample(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    body: &[u8],
) -> HResult {
    let v = json_body(body)?;
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let input = sample_input(&st.datasets[di].task_type, &v).map_err(|e| json_response(400, &e))?;
    if st.datasets[di].by_name.contains_key(&input.name) {
        return Err(sample_exists());
    }
    let uuid = insert_sample(&mut st, di, input);
    Ok(created(&st.samples[&uuid].render()))
}

/// `samples_bulk`: all-or-nothing validation; an existing name (also one repeated within the
/// request) comes back as the existing sample, unchanged (§8.3).
pub(super) fn create_samples_bulk(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    body: &[u8],
) -> HResult {
    let v = json_body(body)?;
    let Value::Array(items) = v else {
        return Err(json_response(
            400,
            &json!({"non_field_errors": [format!(
                "Expected a list of items but got type \"{}\".",
                json_type(&v)
            )]}),
        ));
    };
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let task_type = st.datasets[di].task_type.clone();
    let mut inputs = Vec::with_capacity(items.len());
    let mut errs = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in &items {
        match sample_input(&task_type, item) {
            Ok(i) => {
                inputs.push(i);
                errs.push(json!({}));
            }
            Err(e) => {
                failed = true;
                errs.push(e);
            }
        }
    }
    if failed {
        return Err(json_response(400, &Value::Array(errs)));
    }
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let uuid = match st.datasets[di].by_name.get(&input.name) {
            Some(existing) => existing.clone(),
            None => insert_sample(&mut st, di, input),
        };
        out.push(st.samples[&uuid].render());
    }
    Ok(created(&Value::Array(out)))
}

pub(super) fn delete_samples_bulk(
    emu: &SegmentsEmulator,
    owner: &str,
    name: &str,
    body: &[u8],
) -> HResult {
    let b = object_body(body)?;
    let uuids: Vec<String> = match b.get("uuids") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|u| u.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| field_error("uuids", "Every item must be a string UUID."))?,
        None | Some(Value::Null) => return Err(field_error("uuids", "This field is required.")),
        Some(_) => return Err(field_error("uuids", "Expected a list of items.")),
    };
    if uuids.is_empty() {
        return Err(field_error("uuids", "This list may not be empty."));
    }
    if uuids.len() > MAX_BULK_DELETE {
        return Err(field_error(
            "uuids",
            format!("Ensure this field has no more than {MAX_BULK_DELETE} elements."),
        ));
    }
    let mut st = emu.write();
    let di = dataset_access(&st, owner, name, Access::Manage)?;
    let full = st.datasets[di].full_name();
    let mine: BTreeSet<String> = uuids
        .into_iter()
        .filter(|u| st.samples.get(u).is_some_and(|s| s.dataset == full))
        .collect();
    let deleted = mine.iter().filter(|u| st.remove_sample(u)).count();
    Ok(ok(&json!({"deleted_count": deleted})))
}

/// Copy `signed_url` next to every `url` inside sample attributes (`include_signed_urls=1`).
pub(super) fn add_signed_urls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(u)) = o.get("url") {
                let signed = format!(
                    "{u}{}X-Amz-Signature=emulator",
                    if u.contains('?') { '&' } else { '?' }
                );
                o.insert("signed_url".into(), json!(signed));
            }
            for (k, x) in o.iter_mut() {
                if k != "signed_url" {
                    add_signed_urls(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(add_signed_urls),
        _ => {}
    }
}

pub(super) fn metadata_matches(meta: &Obj, key: &str, want: &str) -> bool {
    match meta.get(key) {
        Some(Value::String(s)) => s == want,
        Some(Value::Bool(b)) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Some(Value::Null) => want == "null" || want == "None",
        Some(Value::Number(n)) => want.trim().parse::<f64>().ok() == n.as_f64(),
        Some(v) => serde_json::from_str::<Value>(want).ok().as_ref() == Some(v),
        None => false,
    }
}

pub(super) fn cmp_numbers(a: &Value, b: &Value) -> std::cmp::Ordering {
    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
    x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
}

pub(super) fn list_samples(emu: &SegmentsEmulator, owner: &str, name: &str, q: &Query) -> HResult {
    let st = emu.read();
    let di = dataset_access(&st, owner, name, Access::Read)?;
    let d = &st.datasets[di];
    let labelset = q.get("labelset");
    let status_labelset = labelset.unwrap_or_else(|| d.ground_truth());
    let statuses: Vec<&str> = q
        .get("label_status")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = statuses.iter().find(|s| !LABEL_STATUSES.contains(s)) {
        return Err(field_error(
            "label_status",
            format!("Select a valid choice. {bad} is not one of the available choices."),
        ));
    }
    let name_part = q.get("name__contains");
    let filters: Vec<(&str, &str)> = q
        .get("filters")
        .map(|f| f.split(',').filter_map(|p| p.split_once(':')).collect())
        .unwrap_or_default();
    let sort = q.get("sort").unwrap_or("name");
    let key = format!(
        "{}|{labelset:?}|{status_labelset}|{statuses:?}|{name_part:?}|{filters:?}|{sort}",
        d.full_name()
    );
    let uuids = emu.listing(key, || {
        let mut samples: Vec<&SampleRec> = d
            .samples
            .iter()
            .filter_map(|u| st.samples.get(u))
            .filter(|s| name_part.is_none_or(|n| s.name.contains(n)))
            .filter(|s| {
                filters
                    .iter()
                    .all(|(k, v)| metadata_matches(&s.metadata, k, v))
            })
            .filter(|s| statuses.is_empty() || statuses.contains(&s.status_in(status_labelset)))
            .collect();
        let (desc, key) = match sort.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, sort),
        };
        let gt = d.ground_truth();
        samples.sort_by(|a, b| {
            let o = match key {
                "created_at" | "created" => a.created_seq.cmp(&b.created_seq),
                "updated_at" => a.updated_seq.cmp(&b.updated_seq),
                "priority" => cmp_numbers(&a.priority, &b.priority),
                "gt_label__updated_at" => {
                    // Samples without a label sort last ascending (NULLS LAST), first descending.
                    let k = |s: &SampleRec| s.labels.get(gt).map_or(u64::MAX, |l| l.updated_seq);
                    k(a).cmp(&k(b))
                }
                _ => a.name.cmp(&b.name),
            };
            let o = if desc { o.reverse() } else { o };
            o.then(a.created_seq.cmp(&b.created_seq))
        });
        samples.into_iter().map(|s| s.uuid.clone()).collect()
    });
    let range = page_range(uuids.len(), q)?;
    let page: Vec<&SampleRec> = uuids[range]
        .iter()
        .filter_map(|u| st.samples.get(u))
        .collect();
    let full = q.flag("include_full_label");
    let label_type = d.task_type.as_str();
    let out: Vec<Value> = page
        .into_iter()
        .map(|s| {
            let mut v = s.render();
            if let Some(ls) = labelset {
                v["label"] = s.labels.get(ls).map_or(Value::Null, |l| {
                    if full {
                        l.render(&s.uuid, ls, label_type)
                    } else {
                        l.summary()
                    }
                });
            }
            v
        })
        .collect();
    Ok(ok(&Value::Array(out)))
}

pub(super) fn get_sample(emu: &SegmentsEmulator, uuid: &str, q: &Query) -> HResult {
    let st = emu.read();
    let di = sample_access(&st, uuid, Access::Read)?;
    let s = &st.samples[uuid];
    let mut v = s.render();
    if q.flag("include_signed_urls") {
        add_signed_urls(&mut v["attributes"]);
    }
    if let Some(ls) = q.get("labelset") {
        v["label"] = s.labels.get(ls).map_or(Value::Null, |l| {
            l.render(uuid, ls, &st.datasets[di].task_type)
        });
    }
    Ok(ok(&v))
}

pub(super) fn update_sample(emu: &SegmentsEmulator, uuid: &str, body: &[u8]) -> HResult {
    let b = object_body(body)?;
    let mut st = emu.write();
    let di = sample_access(&st, uuid, Access::Manage)?;
    let task_type = st.datasets[di].task_type.clone();
    let old_name = st.samples[uuid].name.clone();
    let new_name = match b.get("name") {
        None => None,
        Some(_) => Some(required_str(&b, "name")?).filter(|n| *n != old_name),
    };
    if let Some(n) = &new_name {
        if st.datasets[di].by_name.contains_key(n) {
            return Err(sample_exists());
        }
    }
    if let Some(a) = b.get("attributes") {
        check_sample_attributes(&task_type, a).map_err(|m| field_error("attributes", m))?;
    }
    let metadata = match b.get("metadata") {
        None => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(Value::Null) => Some(Obj::new()),
        Some(_) => return Err(field_error("metadata", "Expected a dictionary of items.")),
    };
    if let Some(p) = b.get("priority") {
        if !p.is_number() {
            return Err(field_error("priority", "A valid number is required."));
        }
    }
    let readme = optional_str(&b, "readme")?;
    let labeler = optional_str(&b, "assigned_labeler")?;
    let reviewer = optional_str(&b, "assigned_reviewer")?;
    let seq = st.tick();
    if let Some(n) = &new_name {
        let d = &mut st.datasets[di];
        d.by_name.remove(&old_name);
        d.by_name.insert(n.clone(), uuid.to_owned());
    }
    let Some(s) = st.samples.get_mut(uuid) else {
        return Err(not_found());
    };
    if let Some(n) = new_name {
        s.name = n;
    }
    if let Some(a) = b.get("attributes") {
        s.attributes = a.clone();
    }
    if let Some(m) = metadata {
        s.metadata = m;
    }
    if let Some(p) = b.get("priority") {
        s.priority = p.clone();
    }
    if let Some(r) = readme {
        s.readme = r;
    }
    // An explicit null un-assigns (§2.2.5).
    if b.contains_key("assigned_labeler") {
        s.assigned_labeler = labeler;
    }
    if b.contains_key("assigned_reviewer") {
        s.assigned_reviewer = reviewer;
    }
    s.updated_seq = seq;
    Ok(ok(&s.render()))
}

pub(super) fn delete_sample(emu: &SegmentsEmulator, uuid: &str) -> HResult {
    let mut st = emu.write();
    sample_access(&st, uuid, Access::Manage)?;
    st.remove_sample(uuid);
    Ok(no_content())
}
