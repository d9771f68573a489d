//! Task reads: task and multi-task status, delivered tasks and the delivery feed.

use super::super::*;

// Handlers: task reads

pub(crate) fn task_status(emu: &SamaEmulator, p: &str, t: &str) -> HResult {
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let idx = pr.live_task(t).ok_or_else(|| task_not_found(t))?;
    let mut out = b"{\"task\":".to_vec();
    serde_json::to_writer(
        &mut out,
        &TaskRender {
            project: pr,
            idx,
            omit_answers: false,
            delivery: None,
        },
    )
    .map_err(|e| error(500, e.to_string()))?;
    out.push(b'}');
    Ok(json_response(StatusCode::OK, out))
}

pub(crate) fn multi_task_status(emu: &SamaEmulator, p: &str, q: &Query) -> HResult {
    if let Some(r) = emu.check_rate() {
        return Err(r);
    }
    let page = q.page()?;
    let size = q.page_size(100, 100, false)?;
    let omit_answers = q.bool("omit_answers", false)?;
    let mut f = Filter {
        batch_ids: q.list("batch_id").map(parse_batch_ids).transpose()?,
        client_batch_ids: q.get("client_batch_id").map(|s| vec![s.to_owned()]),
        contains: match_type(q.get("client_batch_id_match_type"))?,
        ..Filter::default()
    };
    if let Some(s) = q.get("state") {
        f.state = Some(TaskState::parse(s).ok_or_else(|| {
            bad_request(format!(
                "`state` must be one of new, in progress, completed, approved, delivered, acknowledged, rejected; got {s:?}"
            ))
        })?);
    }
    let from = q.time("from")?;
    let to = q.time("to")?;
    if from.is_some() || to.is_some() {
        let field = match q.get("date_type").map(|s| s.to_ascii_lowercase()) {
            None => DateField::Created,
            Some(s) => match s.as_str() {
                "creation_date" | "created_at" | "creation" | "created" => DateField::Created,
                "completion_date" | "completed_at" | "completion" | "completed" => {
                    DateField::Completed
                }
                "delivery_date" | "delivered_at" | "delivery" | "delivered" => {
                    DateField::Delivered
                }
                _ => {
                    return Err(bad_request(format!(
                        "`date_type` must be creation_date, completion_date or delivery_date, got {s:?}"
                    )))
                }
            },
        };
        f.date = Some((field, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)));
    }
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    let ids = q.list("task_ids").or_else(|| q.list("task_id"));
    if let Some(ids) = ids {
        f.tasks = Some(resolve_tasks(pr, ids));
    }
    let offset = (page - 1).saturating_mul(size);
    let picked: Vec<u32> = if f.is_trivial() && pr.deleted == 0 {
        let n = pr.tasks.len();
        (offset.min(n)..offset.saturating_add(size).min(n))
            .map(|i| i as u32)
            .collect()
    } else if let Some(batch) = f
        .only_batch()
        .and_then(|b| pr.batches.get(&b))
        .filter(|b| b.deleted_tasks == 0)
    {
        batch
            .tasks
            .iter()
            .skip(offset)
            .take(size)
            .copied()
            .collect()
    } else {
        (0..pr.tasks.len() as u32)
            .filter(|&i| f.matches(pr, i))
            .skip(offset)
            .take(size)
            .collect()
    };
    let body = wire::tasks_body(picked.into_iter().map(|idx| TaskRender {
        project: pr,
        idx,
        omit_answers,
        delivery: None,
    }));
    Ok(json_response(StatusCode::OK, body))
}

/// Entries of the delivery log matching `f`, starting at log position `start` (and, on the
/// indexed path, at or after time `from`), skipping `skip` matches, at most `take`.
/// Returns the entries and the log position after the last one returned.
pub(crate) fn scan_log(
    pr: &Project,
    f: &Filter,
    start: usize,
    from: Option<i64>,
    skip: usize,
    take: usize,
) -> (Vec<LogEntry>, Option<usize>) {
    let log = &pr.log;
    let from = from.unwrap_or(i64::MIN);
    if let Some(b) = f.only_batch() {
        let Some(positions) = pr.log_by_batch.get(&b) else {
            return (Vec::new(), None);
        };
        let s =
            positions.partition_point(|&pos| (pos as usize) < start || log[pos as usize].at < from);
        let picked: Vec<u32> = positions[s..]
            .iter()
            .skip(skip)
            .take(take)
            .copied()
            .collect();
        let last = picked.last().map(|&p| p as usize + 1);
        return (picked.into_iter().map(|p| log[p as usize]).collect(), last);
    }
    let s = start.max(log.partition_point(|e| e.at < from));
    if f.is_trivial() {
        let lo = s.saturating_add(skip).min(log.len());
        let hi = lo.saturating_add(take).min(log.len());
        let last = (hi > lo).then_some(hi);
        return (log[lo..hi].to_vec(), last);
    }
    let mut out = Vec::new();
    let mut last = None;
    let mut skipped = 0;
    for (pos, e) in log.iter().enumerate().skip(s) {
        if out.len() >= take {
            break;
        }
        if f.matches(pr, e.task) {
            if skipped < skip {
                skipped += 1;
                continue;
            }
            out.push(*e);
            last = Some(pos + 1);
        }
    }
    (out, last)
}

pub(crate) fn delivered(emu: &SamaEmulator, p: &str, q: &Query) -> HResult {
    let page = q.page()?;
    let size = q.page_size(1000, 1000, false)?;
    let from = q.time("from")?;
    let mut f = Filter {
        batch_ids: q.list("batch_id").map(parse_batch_ids).transpose()?,
        client_batch_ids: q.list("client_batch_id"),
        contains: match_type(q.get("client_batch_id_match_type"))?,
        ..Filter::default()
    };
    let st = emu.read();
    let pr = st.project(p).ok_or_else(|| project_not_found(p))?;
    if let Some(ids) = q.list("task_id").or_else(|| q.list("task_ids")) {
        f.tasks = Some(resolve_tasks(pr, ids));
    }
    let skip = (page - 1).saturating_mul(size);
    let (entries, _) = scan_log(pr, &f, 0, from, skip, size);
    Ok(deliveries_response(pr, entries))
}

#[derive(Deserialize, Default)]
struct SinceIn {
    #[serde(default)]
    batch_id: Option<Value>,
    #[serde(default)]
    client_batch_id: Option<Value>,
    #[serde(default)]
    client_batch_id_match_type: Option<String>,
    #[serde(default)]
    consumer: Option<Value>,
    #[serde(default)]
    limit: Option<Value>,
}

/// Delivered since last call (§8.3): per-(project, consumer) cursor over the delivery log,
/// moved immediately; `page`/`page_size` are ignored.
pub(crate) fn delivered_since_last_call(emu: &SamaEmulator, p: &str, body: &[u8]) -> HResult {
    let input: SinceIn = parse_body(body)?;
    let limit = match input.limit {
        None | Some(Value::Null) => 1000,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(l) if l >= 1 => l.min(1000) as usize,
            _ => return Err(bad_request("`limit` must be an integer between 1 and 1000")),
        },
        Some(Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(l) if l >= 1 => l.min(1000) as usize,
            _ => return Err(bad_request("`limit` must be an integer between 1 and 1000")),
        },
        Some(_) => return Err(bad_request("`limit` must be an integer between 1 and 1000")),
    };
    let consumer = match input.consumer {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(bad_request(format!("Invalid `consumer`: {other}"))),
    };
    let mut f = Filter {
        batch_ids: value_batch_ids(input.batch_id)?,
        client_batch_ids: value_string_list(input.client_batch_id, "client_batch_id")?,
        contains: match_type(input.client_batch_id_match_type.as_deref())?,
        ..Filter::default()
    };
    if f.batch_ids.as_ref().is_some_and(Vec::is_empty) {
        f.batch_ids = None;
    }
    let mut st = emu.write();
    let pr = st.project_mut(p).ok_or_else(|| project_not_found(p))?;
    let cursor = pr.cursors.get(&consumer).copied().unwrap_or(0);
    let (entries, last) = scan_log(pr, &f, cursor, None, 0, limit);
    // A full page stops right after its last entry; otherwise everything up to the end of the
    // log has been seen (filtered-out entries are skipped for this consumer).
    let next = if entries.len() == limit {
        last.unwrap_or(cursor)
    } else {
        pr.log.len()
    };
    pr.cursors.insert(consumer, next.max(cursor));
    Ok(deliveries_response(pr, entries))
}

/// A 200 answer listing delivery-log entries, each with the answers delivered then.
fn deliveries_response(pr: &Project, entries: Vec<LogEntry>) -> Response {
    let body = wire::tasks_body(entries.into_iter().map(|e| TaskRender {
        project: pr,
        idx: e.task,
        omit_answers: false,
        delivery: Some(e),
    }));
    json_response(StatusCode::OK, body)
}
