//! [`Capabilities`]: which [`Operation`]s an adapter supports and which [`Property`]s it has.
//! Each adapter computes them without credentials, so `labelmux capabilities` works before a
//! key is configured, and the contract suite gates its tests on the enum (a misspelt capability
//! is a compile error, not a silent skip).

use super::TaskState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The snake_case name used in tables, docs and skip messages.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// An operation of the `Provider` trait.
    Operation {
        /// `create_batch`.
        CreateBatch => "create_batch",
        /// `batch_status`.
        BatchStatus => "batch_status",
        /// `list_batches`.
        ListBatches => "list_batches",
        /// `cancel_batch`.
        CancelBatch => "cancel_batch",
        /// `get_task`.
        GetTask => "get_task",
        /// `find_task` (look-up by external key).
        FindTask => "find_task",
        /// `list_tasks`.
        ListTasks => "list_tasks",
        /// `deliveries` with `DeliverySince::Beginning` / `DeliverySince::Timestamp`.
        DeliveriesSince => "deliveries_since",
        /// `deliveries` with `DeliverySince::LastCall`.
        DeliveriesSinceLastCall => "deliveries_since_last_call",
        /// `reject_tasks` / `reject_task`.
        RejectTasks => "reject_tasks",
        /// `set_priority`.
        SetPriority => "set_priority",
        /// `delete_tasks`.
        DeleteTasks => "delete_tasks",
        /// `project`.
        ProjectInfo => "project_info",
        /// `project_stats`.
        ProjectStats => "project_stats",
        /// `task_schema`.
        TaskSchema => "task_schema",
    }
);

named_enum!(
    /// A property of an adapter's behaviour.
    Property {
        /// The vendor keeps the consumer cursor itself (Sama); otherwise labelmux keeps it locally
        /// and callers commit `Delivery::checkpoint` with `commit_consumer`.
        ServerSideConsumer => "server_side_consumer",
        /// Re-submitting a task with the same external key does not create a duplicate.
        IdempotentCreate => "idempotent_create",
        /// Pre-annotations are sent to the vendor.
        PreAnnotations => "pre_annotations",
        /// A task can have several deliveries (consensus labels, labelsets, revisions).
        SeveralDeliveriesPerTask => "several_deliveries_per_task",
        /// Batches report labeling progress (counts by state) beside their creation job.
        BatchLabelingProgress => "batch_labeling_progress",
        /// `create_batch` with [`BatchSpec::name`](crate::BatchSpec::name) set to an existing
        /// batch of the project (its id) adds the tasks to that batch and starts it, rather
        /// than opening another: an interrupted batch is finished by sending what is missing
        /// under its id (Scale, whose batch name is its id).
        ResumableBatches => "resumable_batches",
    }
);

/// What an adapter supports, and how it behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Supported operations.
    pub operations: BTreeSet<Operation>,
    /// Properties the adapter has.
    pub properties: BTreeSet<Property>,
    /// The state in which a task's label becomes a delivery (Sama `delivered`, Scale
    /// `completed`, Segments the configured label status).
    pub delivers_at: TaskState,
}

impl Capabilities {
    /// These operations and properties; deliveries happen at `delivers_at`.
    pub fn new(
        operations: impl IntoIterator<Item = Operation>,
        properties: impl IntoIterator<Item = Property>,
        delivers_at: TaskState,
    ) -> Self {
        Capabilities {
            operations: operations.into_iter().collect(),
            properties: properties.into_iter().collect(),
            delivers_at,
        }
    }

    /// Nothing supported (a test double's starting point).
    pub fn none() -> Self {
        Capabilities::new([], [], TaskState::Delivered)
    }

    /// Whether `operation` is supported.
    pub fn supports(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }

    /// Whether the adapter has `property`.
    pub fn has(&self, property: Property) -> bool {
        self.properties.contains(&property)
    }

    /// The same, without `operation` (for layers that hide an operation).
    pub fn without(mut self, operation: Operation) -> Self {
        self.operations.remove(&operation);
        self
    }

    /// `(name, supported)` for every operation and property, for tables and docs.
    pub fn entries(&self) -> Vec<(&'static str, bool)> {
        Operation::ALL
            .iter()
            .map(|o| (o.as_str(), self.supports(*o)))
            .chain(Property::ALL.iter().map(|p| (p.as_str(), self.has(*p))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_list_every_operation_and_property_once() {
        let caps = Capabilities::new(
            [Operation::CreateBatch, Operation::ListTasks],
            [Property::IdempotentCreate],
            TaskState::Completed,
        );
        let entries = caps.entries();
        assert_eq!(entries.len(), Operation::ALL.len() + Property::ALL.len());
        let on: Vec<_> = entries.iter().filter(|e| e.1).map(|e| e.0).collect();
        assert_eq!(on, ["create_batch", "list_tasks", "idempotent_create"]);
        assert!(!caps
            .clone()
            .without(Operation::ListTasks)
            .supports(Operation::ListTasks));
    }
}
