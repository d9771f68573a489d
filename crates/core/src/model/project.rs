//! Projects: information ([`Project`]) and counts ([`ProjectStats`]).

use crate::ProjectId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The project id.
    pub id: ProjectId,
    /// Its name.
    pub name: Option<String>,
    /// Its state (e.g. `active`), as the vendor says.
    pub state: Option<String>,
    /// Its type (e.g. `image_annotation`).
    pub kind: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// The vendor's JSON, unchanged.
    pub raw: Value,
}

/// Task counts of a project, by state, over an optional window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectStats {
    /// The project.
    pub project_id: ProjectId,
    /// Count per unified state (canonical names).
    pub tasks_by_state: std::collections::BTreeMap<String, u64>,
    /// The vendor's JSON, unchanged.
    pub raw: Value,
}

impl ProjectStats {
    /// Total tasks over all states.
    pub fn total(&self) -> u64 {
        self.tasks_by_state.values().sum()
    }
}

/// Options of [`crate::Provider::project_stats`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatsOptions {
    /// Count tasks changed at or after this instant, where the vendor can.
    pub from: Option<DateTime<Utc>>,
    /// Count tasks changed before this instant, where the vendor can.
    pub to: Option<DateTime<Utc>>,
}

impl StatsOptions {
    /// Over the window `[from, to)`; either end may be open.
    pub fn window(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        StatsOptions { from, to }
    }
}
