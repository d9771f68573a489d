//! Printing results: tables for humans (comfy-table), JSON documents for scripts.

use comfy_table::{presets, ContentArrangement, Table};
use labelmux::{Batch, Capabilities, Task};
use serde::Serialize;
use serde_json::Value;
use std::io::Write;

/// Print one JSON document (pretty) on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) {
    let mut out = std::io::stdout().lock();
    // Through a `Value`, so vendor JSON kept as text (`RawJson`) is indented like the rest.
    let _ = match serde_json::to_value(value) {
        Ok(v) => serde_json::to_writer_pretty(&mut out, &v),
        Err(_) => serde_json::to_writer_pretty(&mut out, value),
    };
    let _ = writeln!(out);
    let _ = out.flush();
}

fn styled() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    // Wrap cells to the terminal's width, unless the width is unknown or implausibly small
    // (pipes, pseudo-terminals without a size): then lines are left whole.
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if !matches!(t.width(), Some(w) if w >= 60) {
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
    t
}

/// Text made safe for a terminal: every control character but the line break becomes a space,
/// so text from a vendor or a server (ids, names, messages) can neither clear the screen, move
/// the cursor nor set the title. Rendered tables hold no control character of their own.
pub fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// Print a table (or any rendered text) on stdout through [`terminal_safe`].
pub fn print_table(t: &impl std::fmt::Display) {
    println!("{}", terminal_safe(&t.to_string()));
}

/// A table with the CLI's look.
pub fn table(header: &[&str]) -> Table {
    let mut t = styled();
    t.set_header(header.to_vec());
    t
}

/// A two-column "field | value" table.
pub fn fields(rows: &[(&str, String)]) -> Table {
    let mut t = styled();
    for (k, v) in rows {
        t.add_row(vec![(*k).to_owned(), v.clone()]);
    }
    t
}

/// `n` with `one` or `many` after it: "1 row", "2 rows".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `Some(x)` as text, `None` as "-".
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".to_owned())
}

/// The row of a task in `tasks list`.
pub fn task_row(t: &Task) -> Vec<String> {
    vec![
        t.id.to_string(),
        t.state.to_string(),
        opt(t.external_key.as_deref()),
        opt(t.batch_id.as_ref()),
        opt(t.priority),
        opt(t.created_at.map(|c| c.to_rfc3339())),
    ]
}

/// Header matching [`task_row`].
pub const TASK_HEADER: [&str; 6] = [
    "task",
    "state",
    "external key",
    "batch",
    "priority",
    "created",
];

/// Field table of one task.
pub fn task_fields(t: &Task) -> Table {
    let mut rows = vec![
        ("task", t.id.to_string()),
        ("project", t.project_id.to_string()),
        ("state", format!("{} (vendor: {})", t.state, t.vendor_state)),
        ("external key", opt(t.external_key.as_deref())),
        ("batch", opt(t.batch_id.as_ref())),
        ("priority", opt(t.priority)),
        ("created", opt(t.created_at.map(|c| c.to_rfc3339()))),
        ("completed", opt(t.completed_at.map(|c| c.to_rfc3339()))),
        ("delivered", opt(t.delivered_at.map(|c| c.to_rfc3339()))),
        ("inputs", pretty(&Value::Object(t.inputs.clone()))),
    ];
    if let Some(a) = &t.answers {
        rows.push(("answers", pretty(&a.to_value())));
    }
    fields(&rows)
}

/// Field table of a batch, and a table of its failures when there are some.
pub fn batch_tables(b: &Batch, line_of: impl Fn(u64) -> Option<u64>) -> Vec<Table> {
    let c = &b.counts;
    let mut rows = vec![
        ("batch", b.id.to_string()),
        ("project", b.project_id.to_string()),
        (
            "status",
            format!("{} (vendor: {})", b.status, b.vendor_status),
        ),
        ("name", opt(b.name.as_deref())),
        ("submitted", opt(c.submitted)),
        ("created", c.created.to_string()),
        ("failed", c.failed.to_string()),
        ("pending", c.pending.to_string()),
        ("canceled", c.canceled.to_string()),
    ];
    if let Some(l) = &b.labeling {
        for (state, n) in &l.by_state {
            rows.push((state.as_str(), n.to_string()));
        }
    }
    if !b.messages.is_empty() {
        rows.push(("messages", b.messages.join("\n")));
    }
    let mut tables = vec![fields(&rows)];
    if !b.failures.is_empty() {
        // Without the task file (`batches status`) no row has a line: leave the column out
        // rather than fill it with dashes.
        let with_lines = b
            .failures
            .iter()
            .any(|f| f.index.and_then(&line_of).is_some());
        let header: &[&str] = if with_lines {
            &["row", "line", "external key", "errors"]
        } else {
            &["row", "external key", "errors"]
        };
        let mut t = table(header);
        for f in &b.failures {
            let mut row = vec![opt(f.index.map(|i| i + 1))];
            if with_lines {
                row.push(opt(f.index.and_then(&line_of)));
            }
            row.push(opt(f.external_key.as_deref()));
            row.push(f.errors.join("; "));
            t.add_row(row);
        }
        tables.push(t);
    }
    tables
}

/// Capabilities as a table.
pub fn capabilities_table(caps: &Capabilities) -> Table {
    let mut t = table(&["operation", "supported"]);
    for (name, ok) in caps.entries() {
        t.add_row(vec![name, if ok { "yes" } else { "no" }]);
    }
    t
}

/// Compact pretty JSON for table cells.
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux::{BatchCounts, BatchId, BatchStatus, ProjectId, TaskCreationFailure};
    use serde_json::json;

    #[test]
    fn batch_failures_show_their_file_line() {
        let b = Batch {
            id: BatchId::new("9"),
            project_id: ProjectId::new("1001"),
            name: None,
            status: BatchStatus::Created,
            vendor_status: "completed".into(),
            labeling: None,
            counts: BatchCounts {
                created: 1,
                failed: 1,
                ..Default::default()
            },
            failures: vec![TaskCreationFailure {
                index: Some(1),
                external_key: Some("k2".into()),
                data: None,
                errors: vec!["Invalid seeded output name(s): colour".into()],
            }],
            messages: vec![],
            raw: json!({}),
        };
        let tables = batch_tables(&b, |i| Some(i + 10));
        assert_eq!(tables.len(), 2);
        let text = tables[1].to_string();
        assert!(
            text.contains("11") && text.contains("colour") && text.contains("k2"),
            "{text}"
        );
        assert!(tables[0].to_string().contains("completed"));
    }

    #[test]
    fn capabilities_table_lists_every_operation() {
        let caps = Capabilities::new(
            [labelmux::Operation::CreateBatch],
            [],
            labelmux::TaskState::Delivered,
        );
        let text = capabilities_table(&caps).to_string();
        assert_eq!(text.matches("yes").count(), 1);
        assert_eq!(
            text.matches(" no ").count(),
            labelmux::Operation::ALL.len() + labelmux::Property::ALL.len() - 1
        );
    }
}
