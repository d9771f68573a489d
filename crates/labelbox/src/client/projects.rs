//! Projects, ontologies and the editor connection (spec §6, §7).

use super::{op_err, required, Endpoint, LabelboxClient};
use crate::ops;
use crate::wire::{
    self, decode, decode_list, Label, LabelingFrontend, MediaType, Ontology, Project,
    ProjectWorkflow,
};
use futures::stream::BoxStream;
use labelmux_core::paginate::key_of;
use labelmux_core::transport::{Method, RetryMode};
use labelmux_core::{Error, ErrorKind, Result};
use serde_json::{json, Value};

/// Quality settings of a new project (the SDK's `quality_modes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QualityMode {
    /// Benchmark and consensus (the SDK's default): 3 labels, 0 % audited.
    #[default]
    BenchmarkAndConsensus,
    /// Benchmark only: 1 label, 100 % audited.
    Benchmark,
    /// Consensus only: 3 labels, 0 % audited.
    Consensus,
}

impl QualityMode {
    /// `(autoAuditNumberOfLabels, autoAuditPercentage, isBenchmarkEnabled,
    /// isConsensusEnabled)` as the SDK sends them.
    fn audit(self) -> (i64, f64, bool, bool) {
        match self {
            QualityMode::BenchmarkAndConsensus => (3, 0.0, true, true),
            QualityMode::Benchmark => (1, 1.0, true, false),
            QualityMode::Consensus => (3, 0.0, false, true),
        }
    }
}

/// A project to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProject {
    /// Name (not blank).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Media type, fixed for the project's life.
    pub media_type: MediaType,
    /// Quality settings.
    pub quality: QualityMode,
}

impl NewProject {
    /// A project with the SDK's default quality settings.
    pub fn new(name: impl Into<String>, media_type: MediaType) -> Self {
        NewProject {
            name: name.into(),
            description: None,
            media_type,
            quality: QualityMode::default(),
        }
    }
}

/// Changes to a project; unset fields keep their value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

fn project_list(data: Value) -> Result<Vec<Project>> {
    decode_list(
        data.get("projects").cloned().unwrap_or(Value::Null),
        "project",
    )
}

impl LabelboxClient {
    /// Create a project.
    pub async fn create_project(&self, project: &NewProject) -> Result<Project> {
        const OP: &str = "create_project";
        if project.name.trim().is_empty() {
            return Err(op_err(
                Error::validation("the project name must not be blank"),
                OP,
            ));
        }
        let (labels, pct, benchmark, consensus) = project.quality.audit();
        let data = self
            .run::<ops::CreateProject>(
                Endpoint::Main,
                OP,
                ops::create_project::Variables {
                    name: project.name.clone(),
                    description: project.description.clone(),
                    allowed_media_type: ops::create_project::MediaType::Other(
                        project.media_type.as_str().to_owned(),
                    ),
                    auto_audit_percentage: pct,
                    auto_audit_number_of_labels: labels,
                    is_benchmark_enabled: benchmark,
                    is_consensus_enabled: consensus,
                },
                // Creating twice would make two projects.
                RetryMode::OnlyIfNotProcessed,
            )
            .await?;
        decode(required(data, &["createProject"], OP)?, "project").map_err(|e| op_err(e, OP))
    }

    /// A project by id (`NotFound` for an unknown or malformed id).
    pub async fn get_project(&self, project_id: &str) -> Result<Project> {
        const OP: &str = "get_project";
        let data = self
            .query::<ops::GetProject>(
                Endpoint::Main,
                OP,
                ops::get_project::Variables {
                    project_id: project_id.to_owned(),
                },
            )
            .await?;
        decode(required(data, &["project"], OP)?, "project").map_err(|e| op_err(e, OP))
    }

    /// Every project not deleted, 100 per request.
    pub fn list_projects(&self) -> BoxStream<'static, Result<Project>> {
        self.orm_stream::<ops::ListProjects, _>(
            "list_projects",
            ops::list_projects::Variables { deleted: false },
            project_list,
            |p: &Project| key_of(&p.id),
        )
    }

    /// Projects with exactly this name (not deleted).
    pub fn projects_named(&self, name: &str) -> BoxStream<'static, Result<Project>> {
        self.orm_stream::<ops::ListProjectsByName, _>(
            "list_projects",
            ops::list_projects_by_name::Variables {
                name: name.to_owned(),
                deleted: false,
            },
            project_list,
            |p: &Project| key_of(&p.id),
        )
    }

    /// Change a project's name and/or description. Labelbox takes both, so an unset one is
    /// read first.
    pub async fn update_project(
        &self,
        project_id: &str,
        update: &ProjectUpdate,
    ) -> Result<Project> {
        const OP: &str = "update_project";
        let (name, description) = match (&update.name, &update.description) {
            (Some(n), Some(d)) => (n.clone(), d.clone()),
            _ => {
                let current = self.get_project(project_id).await?;
                (
                    update.name.clone().or(current.name).unwrap_or_default(),
                    update
                        .description
                        .clone()
                        .or(current.description)
                        .unwrap_or_default(),
                )
            }
        };
        if name.trim().is_empty() {
            return Err(op_err(
                Error::validation("the project name must not be blank"),
                OP,
            ));
        }
        let data = self
            .run::<ops::UpdateProject>(
                Endpoint::Main,
                OP,
                ops::update_project::Variables {
                    name,
                    description,
                    project_id: project_id.to_owned(),
                },
                // Setting the same values again changes nothing.
                RetryMode::Idempotent,
            )
            .await?;
        decode(required(data, &["updateProject"], OP)?, "project").map_err(|e| op_err(e, OP))
    }

    /// Delete a project (Labelbox's soft delete: it disappears from lists).
    pub async fn delete_project(&self, project_id: &str) -> Result<()> {
        const OP: &str = "delete_project";
        let data = self
            .run::<ops::DeleteProject>(
                Endpoint::Main,
                OP,
                ops::delete_project::Variables {
                    project_id: project_id.to_owned(),
                },
                RetryMode::Idempotent,
            )
            .await?;
        required(data, &["updateProject"], OP).map(drop)
    }

    /// Number of labels in a project.
    pub async fn project_label_count(&self, project_id: &str) -> Result<u64> {
        const OP: &str = "project_label_count";
        let data = self
            .query::<ops::ProjectLabelCount>(
                Endpoint::Main,
                OP,
                ops::project_label_count::Variables {
                    project_id: project_id.to_owned(),
                },
            )
            .await?;
        let v = required(data, &["project"], OP)?;
        Ok(labelmux_core::lenient::key_string(&v["labelCount"])
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    /// A project's labels (legacy format, no time filter), 100 per request.
    pub fn project_labels(&self, project_id: &str) -> BoxStream<'static, Result<Label>> {
        self.orm_stream::<ops::GetProjectLabels, _>(
            "project_labels",
            ops::get_project_labels::Variables {
                project_id: project_id.to_owned(),
            },
            |data| {
                decode_list(
                    data.pointer("/project/labels")
                        .cloned()
                        .unwrap_or(Value::Null),
                    "label",
                )
            },
            |l: &Label| key_of(&l.id),
        )
    }

    /// A project's workflow definition.
    pub async fn project_workflow(&self, project_id: &str) -> Result<ProjectWorkflow> {
        const OP: &str = "project_workflow";
        let data = self
            .query::<ops::GetProjectWorkflow>(
                Endpoint::Main,
                OP,
                ops::get_project_workflow::Variables {
                    project_id: project_id.to_owned(),
                },
            )
            .await?;
        decode(required(data, &["projectWorkflow"], OP)?, "workflow").map_err(|e| op_err(e, OP))
    }

    // -----------------------------------------------------------------------------------------
    // Ontologies
    // -----------------------------------------------------------------------------------------

    /// Create an ontology from its normalized form (`{"tools": [...], "classifications":
    /// [...]}`); Labelbox takes it JSON-encoded into a string.
    pub async fn create_ontology(
        &self,
        name: &str,
        normalized: &Value,
        media_type: Option<&MediaType>,
    ) -> Result<Ontology> {
        const OP: &str = "create_ontology";
        if !normalized.is_object() {
            return Err(op_err(
                Error::validation(
                    "the ontology must be a JSON object with `tools` and `classifications`",
                ),
                OP,
            ));
        }
        let data = self
            .run::<ops::UpsertOntology>(
                Endpoint::Main,
                OP,
                ops::upsert_ontology::Variables {
                    data: ops::upsert_ontology::UpsertOntologyInput {
                        name: name.to_owned(),
                        normalized: normalized.to_string(),
                        media_type: media_type
                            .map(|m| ops::upsert_ontology::MediaType::Other(m.as_str().to_owned())),
                        editor_task_type: None,
                    },
                },
                RetryMode::OnlyIfNotProcessed,
            )
            .await?;
        decode(required(data, &["upsertOntology"], OP)?, "ontology").map_err(|e| op_err(e, OP))
    }

    /// An ontology by id.
    pub async fn get_ontology(&self, ontology_id: &str) -> Result<Ontology> {
        const OP: &str = "get_ontology";
        let data = self
            .query::<ops::GetOntology>(
                Endpoint::Main,
                OP,
                ops::get_ontology::Variables {
                    ontology_id: ontology_id.to_owned(),
                },
            )
            .await?;
        decode(required(data, &["ontology"], OP)?, "ontology").map_err(|e| op_err(e, OP))
    }

    /// The ontology connected to a project, if any.
    pub async fn project_ontology(&self, project_id: &str) -> Result<Option<Ontology>> {
        const OP: &str = "project_ontology";
        let data = self
            .query::<ops::GetProjectOntology>(
                Endpoint::Main,
                OP,
                ops::get_project_ontology::Variables {
                    project_id: project_id.to_owned(),
                },
            )
            .await?;
        match required(data, &["project"], OP)?
            .get_mut("ontology")
            .map(Value::take)
        {
            None | Some(Value::Null) => Ok(None),
            Some(v) => decode(v, "ontology").map(Some).map_err(|e| op_err(e, OP)),
        }
    }

    /// Delete an ontology no annotation uses (REST `DELETE /api/v1/ontologies/{id}`).
    pub async fn delete_ontology(&self, ontology_id: &str) -> Result<()> {
        const OP: &str = "delete_ontology";
        let path = format!(
            "api/v1/{}",
            labelmux_core::transport::path(&["ontologies", ontology_id])
        );
        self.transport()
            .request(Method::DELETE, OP, &path)
            .retry(RetryMode::Idempotent)
            .send()
            .await
            .map(drop)
            .map_err(|e| op_err(e, OP))
    }

    /// Connect an ontology to a project by the SDK's sequence (spec §7.2): media types must
    /// match (unless the ontology's is `UNKNOWN`); a project without an editor gets the
    /// standard `Editor` and empty editor options first; then the ontology is connected.
    pub async fn connect_ontology(&self, project_id: &str, ontology_id: &str) -> Result<()> {
        const OP: &str = "connect_ontology";
        let (project, ontology) =
            futures::try_join!(self.get_project(project_id), self.get_ontology(ontology_id))?;
        // As the SDK: equal media types, or an ontology of type UNKNOWN.
        match (&ontology.media_type, &project.allowed_media_type) {
            (Some(MediaType::Unknown), _) => {}
            (o, p) if o == p => {}
            (o, p) => {
                let name = |m: &Option<MediaType>| {
                    m.as_ref()
                        .map_or("unset".to_owned(), |m| m.as_str().to_owned())
                };
                return Err(op_err(
                    Error::validation(format!(
                        "ontology {ontology_id} is for {} data, project {project_id} for {}; they must match unless the ontology's type is UNKNOWN",
                        name(o),
                        name(p)
                    )),
                    OP,
                ));
            }
        }
        let labels = self.project_label_count(project_id).await?;
        if labels > 0 {
            tracing::warn!(
                project_id,
                labels,
                "connecting an ontology to a project that already has labels"
            );
        }
        if self.project_labeling_frontend(project_id).await?.is_none() {
            let editor = self.editor_frontend().await?;
            self.run::<ops::ConnectProjectAndLabelingFrontend>(
                Endpoint::Main,
                OP,
                ops::connect_project_and_labeling_frontend::Variables {
                    project_id: project_id.to_owned(),
                    labeling_frontend_id: editor.id.clone(),
                },
                RetryMode::Idempotent,
            )
            .await?;
            self.run::<ops::CreateLabelingFrontendOptions>(
                Endpoint::Main,
                OP,
                ops::create_labeling_frontend_options::Variables {
                    project: project_id.to_owned(),
                    labeling_frontend: editor.id,
                    customization_options: json!({"tools": [], "classifications": []}).to_string(),
                },
                RetryMode::OnlyIfNotProcessed,
            )
            .await?;
        }
        let data = self
            .run::<ops::ConnectOntology>(
                Endpoint::Main,
                OP,
                ops::connect_ontology::Variables {
                    project_id: project_id.to_owned(),
                    ontology_id: ontology_id.to_owned(),
                },
                RetryMode::Idempotent,
            )
            .await?;
        required(data, &["project", "connectOntology"], OP).map(drop)
    }

    /// The editor connected to a project, if any.
    pub async fn project_labeling_frontend(
        &self,
        project_id: &str,
    ) -> Result<Option<LabelingFrontend>> {
        const OP: &str = "project_labeling_frontend";
        let data = self
            .query::<ops::GetProjectLabelingFrontend>(
                Endpoint::Main,
                OP,
                ops::get_project_labeling_frontend::Variables {
                    project_id: project_id.to_owned(),
                },
            )
            .await?;
        match required(data, &["project"], OP)?
            .get_mut("labelingFrontend")
            .map(Value::take)
        {
            None | Some(Value::Null) => Ok(None),
            Some(v) => decode(v, "labeling frontend")
                .map(Some)
                .map_err(|e| op_err(e, OP)),
        }
    }

    /// The standard editor (the labeling frontend named `Editor`).
    pub async fn editor_frontend(&self) -> Result<LabelingFrontend> {
        const OP: &str = "get_labeling_frontends";
        let data = self
            .orm_page::<ops::GetLabelingFrontends>(
                OP,
                ops::get_labeling_frontends::Variables {
                    name: "Editor".to_owned(),
                    deleted: false,
                },
                0,
            )
            .await?;
        wire::decode_list::<LabelingFrontend>(
            data.get("labelingFrontends")
                .cloned()
                .unwrap_or(Value::Null),
            "labeling frontend",
        )
        .map_err(|e| op_err(e, OP))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            op_err(
                Error::new(
                    ErrorKind::NotFound,
                    "Labelbox lists no editor named `Editor`",
                ),
                OP,
            )
        })
    }
}
