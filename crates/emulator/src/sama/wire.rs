//! JSON shapes the Sama emulator emits (task objects §4.1, batch status §4.4, envelopes) and
//! parsing of wire values (timestamps, booleans).

use super::fixture::{default_answers, generated_answers};
use super::state::{Batch, LogEntry, Project, TaskState, NO_TASK, NO_TS};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// A timestamp rendered as ISO 8601 UTC with milliseconds, e.g. `2023-02-23T20:59:35.210Z`.
#[derive(Clone, Copy)]
pub(crate) struct Ts(pub i64);

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == NO_TS {
            return s.serialize_none();
        }
        match chrono::DateTime::from_timestamp_millis(self.0) {
            Some(dt) => s.collect_str(&dt.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
            None => s.serialize_none(),
        }
    }
}

/// A project id as a JSON number when numeric, else a string.
pub(crate) struct ProjectIdOut<'a>(pub &'a Project);

impl Serialize for ProjectIdOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.numeric_id {
            Some(n) => s.serialize_u64(n),
            None => s.serialize_str(&self.0.id),
        }
    }
}

struct Display<T>(T);
impl<T: std::fmt::Display> Serialize for Display<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct Submitters(bool);
impl Serialize for Submitters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if self.0 {
            m.serialize_entry("Step A", &13204)?;
        }
        m.end()
    }
}

struct EmptyObject;
impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

/// One task object as status and delivery endpoints show it.
pub(crate) struct TaskRender<'a> {
    pub project: &'a Project,
    pub idx: u32,
    pub omit_answers: bool,
    /// When rendering a delivery-log entry: its time and the answers delivered then.
    pub delivery: Option<LogEntry>,
}

impl Serialize for TaskRender<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.project;
        let t = &p.tasks[self.idx as usize];
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &Display(p.task_id(self.idx)))?;
        m.serialize_entry("project_id", &ProjectIdOut(p))?;
        m.serialize_entry("batch_id", &t.batch_id)?;
        if let Some(cb) = &t.client_batch_id {
            m.serialize_entry("client_batch_id", &**cb)?;
        }
        m.serialize_entry("state", t.state.name())?;
        m.serialize_entry("priority", &t.priority)?;
        m.serialize_entry("created_at", &Ts(t.created_at))?;
        m.serialize_entry("completed_at", &Ts(t.completed_at))?;
        let delivered_at = self.delivery.map_or(t.delivered_at, |d| d.at);
        m.serialize_entry("delivered_at", &Ts(delivered_at))?;
        m.serialize_entry("data", &*t.data)?;
        if !self.omit_answers {
            // Answers are generated on the fly (not stored): completion answers for worked
            // tasks, default (pre-annotation) answers otherwise (incl. rejected tasks).
            let worked = match self.delivery {
                Some(d) => !d.submitted,
                None => t.state.has_work_answers() && !t.submitted,
            };
            let answers: Box<RawValue> = if worked {
                generated_answers(&t.data, t.has_output, self.idx as u64)
            } else {
                default_answers(&t.data, t.has_output)
            };
            m.serialize_entry("answers", &*answers)?;
        }
        let worked_state = self.delivery.is_some() || t.state.has_work_answers();
        m.serialize_entry("submitter_ids_by_step", &Submitters(worked_state))?;
        m.serialize_entry("_extras", &EmptyObject)?;
        if let Some(r) = &t.reasons {
            if t.state == TaskState::Rejected {
                m.serialize_entry("rejection_reasons", &**r)?;
            }
        }
        m.end()
    }
}

/// Serialize `{"tasks": [...]}` to bytes, one task at a time (no intermediate values).
pub(crate) fn tasks_body<'a>(renders: impl Iterator<Item = TaskRender<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"tasks\":[");
    for (i, r) in renders.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if serde_json::to_writer(&mut out, &r).is_err() {
            out.extend_from_slice(b"null");
        }
    }
    out.extend_from_slice(b"]}");
    out
}

/// Batch status (§4.4) with one page of entries.
pub(crate) struct BatchRender<'a> {
    pub project: &'a Project,
    pub batch: &'a Batch,
    /// Entry range of the page; `None` omits `tasks` (page_size=0).
    pub page: Option<std::ops::Range<usize>>,
    pub omit_failed_task_data: bool,
}

struct EntriesRender<'a> {
    r: &'a BatchRender<'a>,
    range: std::ops::Range<usize>,
}

impl Serialize for EntriesRender<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.r.batch;
        let mut seq = s.serialize_seq(Some(self.range.len()))?;
        for i in self.range.clone() {
            let e = b.entries[i];
            seq.serialize_element(&EntryRender {
                r: self.r,
                index: i as u32,
                task: e.task,
                status: e.status.name(),
            })?;
        }
        seq.end()
    }
}

struct EntryRender<'a> {
    r: &'a BatchRender<'a>,
    index: u32,
    task: u32,
    status: &'static str,
}

impl Serialize for EntryRender<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("index", &self.index)?;
        if self.task != NO_TASK {
            m.serialize_entry("id", &Display(self.r.project.task_id(self.task)))?;
        }
        m.serialize_entry("status", self.status)?;
        if let Some(f) = self.r.batch.failures.get(&self.index) {
            if !self.r.omit_failed_task_data {
                m.serialize_entry("data", &*f.data)?;
            }
            m.serialize_entry("errors", &f.errors)?;
        }
        m.end()
    }
}

impl Serialize for BatchRender<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.batch;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("batch_id", &b.id)?;
        m.serialize_entry("project_id", &ProjectIdOut(self.project))?;
        m.serialize_entry("status", b.status.name())?;
        m.serialize_entry("tasks_file_name", &b.tasks_file_name)?;
        m.serialize_entry("notification_email", &b.notification_email)?;
        m.serialize_entry("created_at", &Ts(b.created_at))?;
        m.serialize_entry("tasks_total", &b.entries.len())?;
        m.serialize_entry("tasks_created", &b.created)?;
        m.serialize_entry("tasks_failed", &b.failed)?;
        m.serialize_entry("tasks_canceled", &b.canceled)?;
        let queued = b.entries.len() - b.created - b.failed - b.canceled;
        m.serialize_entry("tasks_queued", &queued)?;
        m.serialize_entry("messages", &b.messages)?;
        if let Some(range) = &self.page {
            m.serialize_entry(
                "tasks",
                &EntriesRender {
                    r: self,
                    range: range.clone(),
                },
            )?;
        }
        m.end()
    }
}

/// Parse a wire timestamp to epoch milliseconds: RFC 3339 with any fractional precision and
/// `Z` or an offset, a date-time without offset (UTC), or a bare date (midnight UTC).
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let try_one = |s: &str| -> Option<i64> {
        if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
            return Some(dt.timestamp_millis());
        }
        for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(ndt) = chrono::NaiveDateTime::parse_from_str(s, f) {
                return Some(ndt.and_utc().timestamp_millis());
            }
        }
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|ndt| ndt.and_utc().timestamp_millis())
    };
    try_one(s).or_else(|| {
        // An unencoded `+hh:mm` offset arrives as a space after form decoding.
        if s.len() > 19 && s[19..].contains(' ') {
            let fixed = format!("{}{}", &s[..19], s[19..].replace(' ', "+"));
            try_one(&fixed)
        } else {
            None
        }
    })
}

/// Booleans `true`/`false`, case-insensitive (also `1`/`0`).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_leniently() {
        let base = parse_time("2023-09-02T10:23:36.536Z").unwrap();
        assert_eq!(parse_time("2023-09-02T10:23:36.536167366Z"), Some(base));
        assert_eq!(parse_time("2023-09-02T12:23:36.536+02:00"), Some(base));
        assert_eq!(parse_time("2023-09-02T12:23:36.536 02:00"), Some(base));
        assert_eq!(parse_time("2023-09-02T10:23:36.536"), Some(base));
        assert_eq!(parse_time("2023-09-02"), parse_time("2023-09-02T00:00:00Z"));
        assert_eq!(parse_time("yesterday"), None);
        let out = serde_json::to_string(&Ts(base)).unwrap();
        assert_eq!(out, "\"2023-09-02T10:23:36.536Z\"");
        assert_eq!(serde_json::to_string(&Ts(NO_TS)).unwrap(), "null");
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }
}
