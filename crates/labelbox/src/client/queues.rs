//! Task queues, queue moves, queue priority and the project overview (spec §11).

use super::{op_err, required, Endpoint, LabelboxClient};
use crate::ops;
use crate::wire::{
    decode_list, decode_plain, LbTask, ProjectOverview, QueueCount, QueueType, StateCount,
    TaskQueue,
};
use labelmux_core::transport::RetryMode;
use labelmux_core::{Error, ErrorKind, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Data rows named by Labelbox id or by global key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataRowIdentifiers {
    /// Data row ids (`idType: ID`).
    Ids(Vec<String>),
    /// Global keys (`idType: GKEY`).
    GlobalKeys(Vec<String>),
}

impl DataRowIdentifiers {
    fn parts(&self) -> (Vec<String>, &'static str) {
        match self {
            DataRowIdentifiers::Ids(v) => (v.clone(), "ID"),
            DataRowIdentifiers::GlobalKeys(v) => (v.clone(), "GKEY"),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            DataRowIdentifiers::Ids(v) | DataRowIdentifiers::GlobalKeys(v) => v.is_empty(),
        }
    }
}

/// What an overview counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OverviewScope {
    /// The whole project (issues included).
    #[default]
    Project,
    /// Only these batches.
    Batches(Vec<String>),
}

impl LabelboxClient {
    /// A project's task queues (a new project has three: initial labeling, review, rework).
    pub async fn task_queues(&self, project_id: &str) -> Result<Vec<TaskQueue>> {
        const OP: &str = "task_queues";
        let data = self
            .query::<ops::GetTaskQueues>(
                Endpoint::Experimental,
                OP,
                ops::get_task_queues::Variables {
                    project_id: project_id.to_owned(),
                },
            )
            .await?;
        decode_list(
            required(data, &["project", "taskQueues"], OP)?,
            "task queue",
        )
        .map_err(|e| op_err(e, OP))
    }

    /// The project's queue of a kind (e.g. [`QueueType::ManualRework`]).
    pub async fn task_queue_of_type(
        &self,
        project_id: &str,
        queue_type: &QueueType,
    ) -> Result<TaskQueue> {
        self.task_queues(project_id)
            .await?
            .into_iter()
            .find(|q| q.queue_type.as_ref() == Some(queue_type))
            .ok_or_else(|| {
                op_err(
                    Error::new(
                        ErrorKind::NotFound,
                        format!("project {project_id} has no {queue_type} task queue"),
                    ),
                    "task_queues",
                )
            })
    }

    /// Move data rows into a task queue (`None`: to Done) and wait for the move Task to
    /// complete.
    pub async fn move_data_rows_to_queue(
        &self,
        project_id: &str,
        queue_id: Option<&str>,
        rows: &DataRowIdentifiers,
    ) -> Result<LbTask> {
        const OP: &str = "move_data_rows_to_queue";
        if rows.is_empty() {
            return Err(op_err(Error::validation("no data rows to move"), OP));
        }
        let (ids, id_type) = rows.parts();
        let id_type = match id_type {
            "GKEY" => ops::move_data_rows_to_task_queue::IdType::GKEY,
            _ => ops::move_data_rows_to_task_queue::IdType::ID,
        };
        let data = self
            .run::<ops::MoveDataRowsToTaskQueue>(
                Endpoint::Experimental,
                OP,
                ops::move_data_rows_to_task_queue::Variables {
                    project_id: project_id.to_owned(),
                    queue_id: queue_id.map(str::to_owned),
                    data_row_identifiers:
                        ops::move_data_rows_to_task_queue::AddRowsToTaskQueueViaDataRowIdentifiersInput {
                            ids,
                            id_type,
                        },
                },
                // Moving rows where they already are changes nothing.
                RetryMode::Idempotent,
            )
            .await?;
        let task_id = labelmux_core::lenient::key_string(&required(
            data,
            &["project", "createBulkAddRowsToQueueTask", "taskId"],
            OP,
        )?)
        .ok_or_else(|| op_err(Error::decode("Labelbox answered an empty Task id"), OP))?;
        self.wait_for_task_success(&task_id, OP, self.poll.task)
            .await
    }

    /// Change the queue priority of data rows (any 32-bit integer, lower = earlier; `None`
    /// rows: the whole project) and wait for the Task.
    pub async fn update_queue_priority(
        &self,
        project_id: &str,
        priority: i32,
        rows: Option<&DataRowIdentifiers>,
    ) -> Result<LbTask> {
        const OP: &str = "update_queue_priority";
        let identifiers = rows.map(|r| {
            let (ids, id_type) = r.parts();
            ops::update_queue_priority::QueuePriorityUpdateDataRowIdentifiersInput {
                ids,
                id_type: match id_type {
                    "GKEY" => ops::update_queue_priority::IdType::GKEY,
                    _ => ops::update_queue_priority::IdType::ID,
                },
            }
        });
        let data = self
            .run::<ops::UpdateQueuePriority>(
                Endpoint::Experimental,
                OP,
                ops::update_queue_priority::Variables {
                    priority: i64::from(priority),
                    project_id: project_id.to_owned(),
                    data_row_identifiers: identifiers,
                },
                RetryMode::Idempotent,
            )
            .await?;
        let task_id = labelmux_core::lenient::key_string(&required(
            data,
            &["project", "createQueuePriorityUpdateTask", "taskId"],
            OP,
        )?)
        .ok_or_else(|| op_err(Error::decode("Labelbox answered an empty Task id"), OP))?;
        self.wait_for_task_success(&task_id, OP, self.poll.task)
            .await
    }

    /// Counts per workflow state and per queue, of the whole project or of some batches.
    pub async fn project_overview(
        &self,
        project_id: &str,
        scope: &OverviewScope,
    ) -> Result<ProjectOverview> {
        const OP: &str = "project_overview";
        let variables = match scope {
            OverviewScope::Project => ops::project_overview::Variables {
                project_id: project_id.to_owned(),
                batch_ids: None,
                count_input: None,
                include_issues: true,
            },
            OverviewScope::Batches(ids) => ops::project_overview::Variables {
                project_id: project_id.to_owned(),
                batch_ids: Some(ids.clone()),
                count_input: Some(ops::project_overview::DataRowCountQueryInput {
                    search_query: Some(json!({
                        "scope": {"projectId": project_id},
                        "query": [{"ids": ids, "operator": "is", "type": "batch"}],
                    })),
                }),
                include_issues: false,
            },
        };
        let data = self
            .query::<ops::ProjectOverview>(Endpoint::Experimental, OP, variables)
            .await?;
        let project = required(data, &["project"], OP)?;
        let counts: Vec<StateCount> = decode_plain(
            project
                .get("workstreamStateCounts")
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
            "state counts",
        )
        .map_err(|e| op_err(e, OP))?;
        let states: BTreeMap<String, u64> = counts
            .into_iter()
            .filter_map(|c| Some((c.state?, c.count.unwrap_or(0))))
            .collect();
        let queues: Vec<QueueCount> = match project.get("taskQueues") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|q| serde_json::from_value(q.clone()).ok())
                .collect(),
            _ => Vec::new(),
        };
        Ok(ProjectOverview {
            states,
            queues,
            issues: project
                .pointer("/issues/totalCount")
                .and_then(Value::as_u64),
            completed_data_row_count: project.get("completedDataRowCount").and_then(Value::as_u64),
            raw: project,
        })
    }
}
