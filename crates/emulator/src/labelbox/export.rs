//! Exports (labelbox.md §12): filter evaluation (§12.2), NDJSON lines (§12.5) and the byte
//! chunks the streamable reader downloads (§12.4).

use super::state::{fmt_export_ts, parse_time, MemberRec, Obj, Store, WorkState, QUEUES};
use serde_json::{json, Value};

/// Largest chunk served by one `exportFileFromOffset` (cut at a line end).
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Which parts of a line the caller asked for (§12.3); absent flags count as false.
struct Params {
    attachments: bool,
    metadata: bool,
    details: bool,
    project_details: bool,
    performance: bool,
    label_details: bool,
    project_ids: Option<Vec<String>>,
    all_projects: bool,
}

impl Params {
    fn from(v: &Value) -> Self {
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        Params {
            attachments: flag("includeAttachments"),
            metadata: flag("includeMetadata"),
            details: flag("includeDataRowDetails"),
            project_details: flag("includeProjectDetails"),
            performance: flag("includePerformanceDetails"),
            label_details: flag("includeLabelDetails"),
            project_ids: v.get("projectIds").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
            all_projects: flag("allProjects"),
        }
    }
}

/// A time-range filter value: `BETWEEN {min, max}`, `GREATER_THAN_OR_EQUAL`, `LESS_THAN_OR_EQUAL`.
fn in_range(filter: &Value, t: i64) -> Result<bool, String> {
    let op = filter.get("operator").and_then(Value::as_str).unwrap_or("");
    let time = |v: Option<&Value>| -> Result<i64, String> {
        let s = v.and_then(Value::as_str).unwrap_or("");
        parse_time(s).ok_or_else(|| format!("Invalid date in export filter: {s:?}"))
    };
    let value = filter.get("value");
    match op {
        "BETWEEN" => {
            let min = time(value.and_then(|v| v.get("min")))?;
            let max = time(value.and_then(|v| v.get("max")))?;
            Ok(t >= min && t <= max)
        }
        "GREATER_THAN_OR_EQUAL" => Ok(t >= time(value)?),
        "LESS_THAN_OR_EQUAL" => Ok(t <= time(value)?),
        other => Err(format!("Unknown date filter operator {other:?}")),
    }
}

fn ids_of(item: &Value) -> Vec<&str> {
    item.get("ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether a data row (and its membership in the exported project, if any) passes every
/// filter item (AND).
fn matches(
    st: &Store,
    row: usize,
    member: Option<&MemberRec>,
    items: &[Value],
) -> Result<bool, String> {
    let r = &st.rows[row];
    for item in items {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        let ok = match kind {
            "data_row_id" => ids_of(item).contains(&r.id.as_str()),
            "global_key" => r
                .global_key
                .as_deref()
                .is_some_and(|k| ids_of(item).contains(&k)),
            "dataset" => ids_of(item).contains(&st.datasets[r.dataset].id.as_str()),
            "batch" => {
                member.is_some_and(|m| ids_of(item).contains(&st.batches[m.batch].id.as_str()))
            }
            "data_row_last_activity_at" => {
                let t = member.map_or(r.updated_at, |m| m.last_activity.max(r.updated_at));
                in_range(item.get("value").unwrap_or(&Value::Null), t)?
            }
            "labeled_at" => match member {
                Some(m) => {
                    let mut any = false;
                    for &l in &m.labels {
                        if !st.labels[l].deleted
                            && in_range(
                                item.get("value").unwrap_or(&Value::Null),
                                st.labels[l].created_at,
                            )?
                        {
                            any = true;
                        }
                    }
                    any
                }
                None => false,
            },
            "task_queue_status" => {
                let want = match item.get("status").and_then(Value::as_str).unwrap_or("") {
                    "InReview" => WorkState::InReview,
                    "InRework" => WorkState::InRework,
                    "Done" => WorkState::Done,
                    "ToLabel" => WorkState::ToLabel,
                    other => return Err(format!("Unknown workflow status {other:?}")),
                };
                member.is_some_and(|m| m.state == want)
            }
            "task_queue_not_exist" => member.is_some_and(|m| m.state == WorkState::ToLabel),
            other => return Err(format!("Unknown export filter type {other:?}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn project_entry(st: &Store, p: usize, m: &MemberRec, params: &Params) -> Value {
    let proj = &st.projects[p];
    let labels: Vec<Value> = m
        .labels
        .iter()
        .filter(|&&l| !st.labels[l].deleted)
        .map(|&l| {
            let label = &st.labels[l];
            let mut v = json!({
                "label_kind": "Default",
                "version": "1.0.0",
                "id": label.id,
                "annotations": label.annotations,
            });
            if params.label_details {
                v["label_details"] = json!({
                    "created_at": fmt_export_ts(label.created_at),
                    "updated_at": fmt_export_ts(label.updated_at),
                    "created_by": "labeler@emulator.invalid",
                    "content_last_updated_at": fmt_export_ts(label.content_updated_at),
                    "reviews": label.reviews,
                });
            }
            if params.performance {
                v["performance_details"] = json!({
                    "seconds_to_create": 12, "seconds_to_review": 3, "skipped": false,
                });
            }
            v
        })
        .collect();
    let mut entry = json!({"name": proj.name, "labels": labels});
    if params.project_details {
        let batch = &st.batches[m.batch];
        let queue = m.state.queue();
        entry["project_details"] = json!({
            "ontology_id": proj.ontology.map(|o| st.ontologies[o].id.clone()),
            "task_id": queue.map(|q| proj.queues[q].id.clone()),
            "task_name": queue.map(|q| QUEUES[q].1),
            "batch_id": batch.id,
            "batch_name": batch.name,
            "workflow_status": m.state.wire(),
            "priority": m.priority,
            "consensus_expected_label_count": m.expected_labels,
            "workflow_history": m.history,
        });
    }
    entry
}

fn line(st: &Store, row: usize, projects: &[(usize, &MemberRec)], params: &Params) -> Value {
    let r = &st.rows[row];
    let mut data_row = json!({
        "id": r.id,
        "global_key": r.global_key,
        "external_id": r.external_id,
        "row_data": r.row_data,
    });
    if params.details {
        let ds = &st.datasets[r.dataset];
        let last = projects
            .iter()
            .map(|(_, m)| m.last_activity)
            .max()
            .unwrap_or(r.updated_at)
            .max(r.updated_at);
        data_row["details"] = json!({
            "dataset_id": ds.id, "dataset_name": ds.name,
            "created_at": fmt_export_ts(r.created_at), "updated_at": fmt_export_ts(r.updated_at),
            "last_activity_at": fmt_export_ts(last), "created_by": "emulator@emulator.invalid",
        });
    }
    let attrs = r.media_attributes();
    let mut v = json!({
        "data_row": data_row,
        "media_attributes": {"height": attrs["height"], "width": attrs["width"], "mime_type": attrs["mimeType"]},
        "projects": Obj::from_iter(projects.iter().map(|(p, m)| (st.projects[*p].id.clone(), project_entry(st, *p, m, params)))),
    });
    if params.attachments {
        v["attachments"] = json!(r.attachments);
    }
    if params.metadata {
        v["metadata_fields"] = Value::Array(
            r.metadata
                .iter()
                .map(|m| json!({"schema_id": m.get("schemaId"), "schema_name": m.get("name"), "value": m.get("value")}))
                .collect(),
        );
    }
    v
}

/// Build the RESULT stream of an export: one `\n`-terminated JSON line per data row, and the
/// byte index of every line's `\n`. `project` is the exported project (project export) or
/// `None` (catalog export).
pub(crate) fn build(
    st: &Store,
    project: Option<usize>,
    filters: &Value,
    params: &Value,
) -> Result<(Vec<u8>, Vec<usize>), String> {
    let items: Vec<Value> = filters
        .pointer("/searchQuery/query")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let params = Params::from(params);
    let mut out = Vec::new();
    let mut line_ends = Vec::new();
    let mut push = |v: &Value, out: &mut Vec<u8>| {
        if let Ok(bytes) = serde_json::to_vec(v) {
            out.extend_from_slice(&bytes);
            line_ends.push(out.len());
            out.push(b'\n');
        }
    };
    match project {
        Some(p) => {
            for m in &st.projects[p].members {
                if st.rows[m.row].deleted || !matches(st, m.row, Some(m), &items)? {
                    continue;
                }
                push(&line(st, m.row, &[(p, m)], &params), &mut out);
            }
        }
        None => {
            for (r, row) in st.rows.iter().enumerate() {
                if row.deleted || !matches(st, r, None, &items)? {
                    continue;
                }
                let members: Vec<(usize, &MemberRec)> = st
                    .projects
                    .iter()
                    .enumerate()
                    .filter(|(_, pr)| {
                        !pr.deleted
                            && (params.all_projects
                                || params
                                    .project_ids
                                    .as_ref()
                                    .is_some_and(|ids| ids.contains(&pr.id)))
                    })
                    .filter_map(|(p, pr)| pr.member_of.get(&r).map(|&m| (p, &pr.members[m])))
                    .collect();
                push(&line(st, r, &members, &params), &mut out);
            }
        }
    }
    Ok((out, line_ends))
}

/// The chunk starting at byte `offset`: inclusive byte range and line range, cut after a
/// `\n` so that every chunk holds whole lines. `None` when `offset` is past the end.
pub(crate) fn chunk(
    data: &[u8],
    line_ends: &[usize],
    offset: usize,
) -> Option<((usize, usize), (usize, usize))> {
    if offset >= data.len() {
        return None;
    }
    let limit = (offset + CHUNK_BYTES).min(data.len());
    let end = match data[offset..limit].iter().rposition(|&b| b == b'\n') {
        Some(i) if limit < data.len() => offset + i,
        _ if limit == data.len() => data.len() - 1,
        // A line longer than a chunk: serve it whole.
        _ => data[offset..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len() - 1, |i| offset + i),
    };
    let first_line = line_ends.partition_point(|&e| e < offset);
    let last_line = line_ends
        .partition_point(|&e| e <= end)
        .saturating_sub(1)
        .max(first_line);
    Some(((offset, end), (first_line, last_line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_whole_lines_and_the_whole_stream() {
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for i in 0..50_000 {
            data.extend_from_slice(
                format!("{{\"line\": {i}, \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxx\"}}").as_bytes(),
            );
            ends.push(data.len());
            data.push(b'\n');
        }
        let mut offset = 0;
        let mut lines = 0;
        let mut pieces = 0;
        while let Some(((s, e), (ls, le))) = chunk(&data, &ends, offset) {
            assert_eq!(s, offset);
            assert_eq!(data[e], b'\n');
            assert_eq!(ls, lines);
            lines = le + 1;
            offset = e + 1;
            pieces += 1;
        }
        assert_eq!(offset, data.len());
        assert_eq!(lines, 50_000);
        assert!(pieces > 1);
        assert!(chunk(&data, &ends, data.len()).is_none());
    }

    #[test]
    fn date_filters() {
        let f = json!({"operator": "GREATER_THAN_OR_EQUAL", "value": "2024-01-01 00:00:00"});
        let t = parse_time("2024-01-01T00:00:00Z").unwrap_or(0);
        assert_eq!(in_range(&f, t), Ok(true));
        assert_eq!(in_range(&f, t - 1), Ok(false));
        let f = json!({"operator": "BETWEEN", "value": {"min": "2024-01-01", "max": "2024-01-02T00:00:00+0000"}});
        assert_eq!(in_range(&f, t + 1000), Ok(true));
        assert!(in_range(&json!({"operator": "X"}), t).is_err());
    }
}
