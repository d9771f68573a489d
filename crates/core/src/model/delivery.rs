//! Deliveries: finished labels ([`Delivery`]) and how to pull them ([`DeliveryQuery`]).

use super::{string_enum_serde, BatchRef, Extensions, RawJson};
use crate::{BatchId, DeliveryId, ProjectId, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The review verdict a label carried when it was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReviewState {
    /// Not reviewed (yet), or the vendor has no review step.
    Unreviewed,
    /// Accepted by a reviewer.
    Approved,
    /// Rejected by a reviewer.
    Rejected,
    /// A vendor verdict labelmux does not know; kept as sent.
    Other(String),
}

impl ReviewState {
    /// Canonical lower-case name.
    pub fn as_str(&self) -> &str {
        match self {
            ReviewState::Unreviewed => "unreviewed",
            ReviewState::Approved => "approved",
            ReviewState::Rejected => "rejected",
            ReviewState::Other(s) => s,
        }
    }
    /// Parse a canonical or common vendor word; unknown strings become [`ReviewState::Other`].
    pub fn parse(s: &str) -> ReviewState {
        match s.trim().to_ascii_lowercase().as_str() {
            "unreviewed" | "none" | "pending" | "" => ReviewState::Unreviewed,
            "approved" | "accepted" | "reviewed" | "accept" => ReviewState::Approved,
            "rejected" | "declined" | "reject" => ReviewState::Rejected,
            _ => ReviewState::Other(s.to_owned()),
        }
    }
}

string_enum_serde!(ReviewState);

/// A finished label, ready to be taken by the client. One task can have several deliveries: one
/// per label under consensus (Labelbox), one per labelset (Segments), and a new revision each
/// time a label is updated; [`Delivery::id`] with [`Delivery::updated_at`] tells them apart.
///
/// `answers` and `raw` are the vendor's JSON as text ([`RawJson`]): read them with
/// [`RawJson::to_value`] or [`RawJson::parse`]. Adapters decode a page of deliveries at once,
/// and a delivery's `answers` and `raw` are slices of that page's text, so keeping one delivery
/// keeps its page (a few hundred KB) in memory; call [`Delivery::detach`] before storing
/// deliveries for long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The label delivered (the task id on Sama and Scale).
    pub id: DeliveryId,
    /// The task (data row, sample) the label belongs to.
    pub task_id: TaskId,
    /// The caller's external key, if the vendor kept one.
    pub external_key: Option<String>,
    /// The project.
    pub project_id: ProjectId,
    /// The batch, if known.
    pub batch_id: Option<BatchId>,
    /// The labelset or stage the label belongs to, where the vendor has several (Segments
    /// labelsets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labelset: Option<String>,
    /// The review verdict at delivery, where the vendor reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewState>,
    /// When it was delivered (vendors may omit it: Sama's own examples carry `null`).
    pub delivered_at: Option<DateTime<Utc>>,
    /// The label's revision: when it was last changed, where the vendor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The answers, vendor-native JSON (`null` when the vendor sent none).
    pub answers: RawJson,
    /// The vendor's JSON record of the label, unchanged (it includes the answers).
    pub raw: RawJson,
    /// For client-side consumer cursors: the position to commit once this delivery is safely
    /// stored (see `Provider::commit_consumer`). `None` where the vendor keeps the cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

impl Delivery {
    /// What makes this delivery unique: the label and its revision. A consumer that has seen a
    /// revision has seen this delivery.
    pub fn revision(&self) -> (&DeliveryId, Option<DateTime<Utc>>) {
        (&self.id, self.updated_at.or(self.delivered_at))
    }

    /// Copy `answers` and `raw` out of the page they were decoded from, so that keeping this
    /// delivery no longer keeps the page in memory (one allocation, the size of `raw`, when the
    /// answers lie inside `raw`; nothing when already detached). See [`RawJson`].
    pub fn detach(&mut self) {
        RawJson::detach_pair(&mut self.raw, &mut self.answers);
    }

    /// Whether this delivery falls before `until` ([`DeliveryQuery::until`], exclusive); one
    /// without a delivery time, or any delivery when there is no bound, does.
    pub fn delivered_before(&self, until: Option<DateTime<Utc>>) -> bool {
        match (until, self.delivered_at) {
            (Some(until), Some(at)) => at < until,
            _ => true,
        }
    }
}

/// An opaque consumer-cursor position; pass it back to `Provider::commit_consumer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(pub Value);

/// Where a delivery query starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliverySince {
    /// Every delivery the vendor still lists.
    Beginning,
    /// Deliveries at or after this instant.
    Timestamp(DateTime<Utc>),
    /// Deliveries since this named consumer's last call. Two consumers are independent.
    LastCall {
        /// The consumer's name.
        consumer: String,
    },
}

/// Which deliveries to pull.
///
/// ```
/// use labelmux_core::DeliveryQuery;
/// let q = DeliveryQuery::since_last_call("etl").with_batch_name("2026-11-street-signs");
/// assert!(q.batch.is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryQuery {
    /// Where to start.
    pub since: DeliverySince,
    /// Deliveries before this instant only (an upper time bound).
    pub until: Option<DateTime<Utc>>,
    /// Only this batch.
    pub batch: Option<BatchRef>,
    /// Only this task.
    pub task_id: Option<TaskId>,
    /// Only labels of this labelset / stage (default: the adapter's configured one).
    pub labelset: Option<String>,
    /// Vendor-specific options; each adapter documents the keys it reads.
    pub extensions: Extensions,
}

impl Default for DeliveryQuery {
    fn default() -> Self {
        DeliveryQuery::all()
    }
}

impl DeliveryQuery {
    /// Deliveries at or after `ts`.
    pub fn since(ts: DateTime<Utc>) -> Self {
        Self::starting(DeliverySince::Timestamp(ts))
    }
    /// Every delivery.
    pub fn all() -> Self {
        Self::starting(DeliverySince::Beginning)
    }
    /// Deliveries since `consumer`'s last call.
    pub fn since_last_call(consumer: impl Into<String>) -> Self {
        Self::starting(DeliverySince::LastCall {
            consumer: consumer.into(),
        })
    }
    /// Deliveries from `since`.
    pub fn starting(since: DeliverySince) -> Self {
        DeliveryQuery {
            since,
            until: None,
            batch: None,
            task_id: None,
            labelset: None,
            extensions: Extensions::default(),
        }
    }
    /// Restrict to one batch id.
    pub fn batch(self, batch: impl Into<BatchId>) -> Self {
        self.with_batch(batch)
    }
    /// Restrict to one batch id.
    pub fn with_batch(mut self, batch: impl Into<BatchId>) -> Self {
        self.batch = Some(BatchRef::Id(batch.into()));
        self
    }
    /// Restrict to the batch created under this name.
    pub fn with_batch_name(mut self, name: impl Into<String>) -> Self {
        self.batch = Some(BatchRef::Name(name.into()));
        self
    }
    /// Restrict to one task.
    pub fn with_task(mut self, task: impl Into<TaskId>) -> Self {
        self.task_id = Some(task.into());
        self
    }
    /// Only deliveries before `until`.
    pub fn with_until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }
    /// Only labels of this labelset.
    pub fn with_labelset(mut self, labelset: impl Into<String>) -> Self {
        self.labelset = Some(labelset.into());
        self
    }
    /// Set a vendor-specific option.
    pub fn with_extension(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extensions.insert(key, value);
        self
    }
    /// The consumer, for since-last-call queries.
    pub fn consumer(&self) -> Option<&str> {
        match &self.since {
            DeliverySince::LastCall { consumer } => Some(consumer),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn review_states_parse_vendor_words() {
        assert_eq!(ReviewState::parse("Accepted"), ReviewState::Approved);
        assert_eq!(ReviewState::parse("REJECTED"), ReviewState::Rejected);
        assert_eq!(
            ReviewState::parse("escalated"),
            ReviewState::Other("escalated".into())
        );
        let r: ReviewState = serde_json::from_value(json!("approved")).unwrap();
        assert_eq!(r, ReviewState::Approved);
    }

    #[test]
    fn a_revision_is_the_label_and_its_update_time() {
        let t0 = "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let t1 = "2026-01-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut d = Delivery {
            id: DeliveryId::new("label-1"),
            task_id: TaskId::new("row-1"),
            external_key: None,
            project_id: ProjectId::new("p"),
            batch_id: None,
            labelset: None,
            review: None,
            delivered_at: Some(t0),
            updated_at: None,
            answers: RawJson::null(),
            raw: RawJson::null(),
            checkpoint: None,
        };
        assert_eq!(d.revision(), (&DeliveryId::new("label-1"), Some(t0)));
        d.updated_at = Some(t1);
        assert_eq!(d.revision().1, Some(t1));
        assert!(d.delivered_before(None) && d.delivered_before(Some(t1)));
        assert!(!d.delivered_before(Some(t0)), "the bound is exclusive");
        d.delivered_at = None;
        assert!(d.delivered_before(Some(t0)));
    }
}
