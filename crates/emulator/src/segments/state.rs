//! The in-memory store of the Segments.ai emulator: users and organizations, datasets keyed by
//! `(owner, name)` with their labelsets, collaborators, releases and workunits, samples with
//! their labels (one per labelset), issues and stored files (assets, release files)
//! (segments.md §4, §5, §8). The workforce that moves labels lives in `workforce.rs`.

use super::wire::{fmt_release_ts, fmt_ts, new_uuid};
use super::workforce::{INSTANCE_1_KEY, INSTANCE_1_PNG};
use crate::framework::compact::CompactJson;
use crate::framework::drawing::{BOX_CLASS, POINT_CLASS, POLYGON_CLASS};
use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// A JSON object.
pub(crate) type Obj = Map<String, Value>;

/// The user the emulator's API key belongs to.
pub(crate) const CALLER: &str = "labelmux";
/// A second user: owner of the datasets the caller cannot see or may only label.
pub(crate) const OTHER_USER: &str = "other-user";
/// An organization the caller administers.
pub(crate) const ORGANIZATION: &str = "labelmux-org";
/// The emulated workforce (authors of lifecycle labels and reviews).
pub(crate) const LABELER: &str = "emulator-labeler";
pub(crate) const REVIEWER: &str = "emulator-reviewer";
/// A private dataset of [`OTHER_USER`] without collaborators: invisible to the caller (404).
pub(crate) const INVISIBLE_DATASET: &str = "private-dataset";
/// A private dataset of [`OTHER_USER`] where the caller is a `labeler`: readable, but managing it
/// answers 403.
pub(crate) const LABELER_DATASET: &str = "shared-dataset";

/// The default labelset every dataset starts with.
pub(crate) const GROUND_TRUTH: &str = "ground-truth";

/// How long a release stays `PENDING` before its file is served (a lifecycle step finishes it
/// at once).
pub(crate) const RELEASE_BUILD_TIME: Duration = Duration::from_millis(300);

/// Every `LabelStatus` (§4), in the order `label_stats` lists them.
pub(crate) const LABEL_STATUSES: [&str; 9] = [
    "REVIEWED",
    "REVIEWING_IN_PROGRESS",
    "LABELED",
    "LABELING_IN_PROGRESS",
    "REJECTED",
    "PRELABELED",
    "SKIPPED",
    "VERIFIED",
    "UNLABELED",
];

/// Every `TaskType` of the SDK (§4).
pub(crate) const TASK_TYPES: [&str; 15] = [
    "segmentation-bitmap",
    "segmentation-bitmap-highres",
    "image-segmentation-sequence",
    "bboxes",
    "vector",
    "image-vector-sequence",
    "keypoints",
    "pointcloud-cuboid",
    "pointcloud-cuboid-sequence",
    "pointcloud-segmentation",
    "pointcloud-segmentation-sequence",
    "pointcloud-vector",
    "pointcloud-vector-sequence",
    "multisensor-sequence",
    "",
];

/// Collaborator roles, weakest first.
pub(crate) const ROLES: [&str; 4] = ["labeler", "reviewer", "manager", "admin"];

/// Dataset categories (§4).
pub(crate) const CATEGORIES: [&str; 8] = [
    "street_scenery",
    "garden",
    "agriculture",
    "satellite",
    "people",
    "medical",
    "fruit",
    "other",
];

/// How much a caller's role allows on a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Access {
    /// Read anything (public datasets, every collaborator).
    Read,
    /// Write labels and issues (every collaborator role).
    Label,
    /// Samples, labelsets, releases, settings, collaborators (manager, admin).
    Manage,
    /// Delete the dataset (admin).
    Admin,
}

/// What a role allows.
pub(crate) fn role_allows(role: &str, need: Access) -> bool {
    match need {
        Access::Read | Access::Label => ROLES.contains(&role),
        Access::Manage => matches!(role, "manager" | "admin"),
        Access::Admin => role == "admin",
    }
}

pub(crate) struct UserRec {
    pub username: String,
    pub email: String,
    pub created_at: String,
    pub is_organization: bool,
    /// Organization members and their roles.
    pub members: Vec<(String, String)>,
}

impl UserRec {
    fn new(username: &str, is_organization: bool) -> Self {
        UserRec {
            username: username.to_owned(),
            email: format!("{username}@emulator.invalid"),
            created_at: "2024-01-01T00:00:00.000000Z".to_owned(),
            is_organization,
            members: Vec::new(),
        }
    }

    /// The `User` shape (§5.1); the caller's own record carries its account details.
    pub(crate) fn render(&self, st: &Store, own: bool) -> Value {
        let mut v = json!({
            "username": self.username,
            "created_at": self.created_at,
            "is_organization": self.is_organization,
            "email": self.email,
        });
        if own {
            v["webhooks_enabled"] = json!(false);
            v["private_upload_count"] = json!(0);
            v["public_upload_count"] = json!(0);
            v["subscription"] = json!("ENTERPRISE");
            v["is_trial_expired"] = json!(false);
            v["insights_urls"] = json!({});
            let orgs: Vec<Value> = st
                .users
                .iter()
                .filter(|u| u.is_organization && u.members.iter().any(|(m, _)| m == &self.username))
                .map(|u| {
                    let role = u
                        .members
                        .iter()
                        .find(|(m, _)| m == &self.username)
                        .map(|(_, r)| r.clone());
                    json!({
                        "username": u.username,
                        "created_at": u.created_at,
                        "is_organization": true,
                        "email": u.email,
                        "organization_role": role,
                    })
                })
                .collect();
            v["organizations"] = json!(orgs);
        }
        v
    }

    fn owner(&self) -> Value {
        json!({"username": self.username, "email": self.email, "created_at": self.created_at})
    }
}

pub(crate) struct LabelsetRec {
    pub name: String,
    pub description: String,
    pub is_groundtruth: bool,
    pub created_at: String,
}

impl LabelsetRec {
    pub(crate) fn render(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "is_groundtruth": self.is_groundtruth,
            "created_at": self.created_at,
        })
    }
}

pub(crate) struct ReleaseRec {
    pub uuid: String,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub samples_count: usize,
    /// When the file is served and the status reads `SUCCEEDED`.
    pub ready_at: Instant,
    /// Storage key of the release file.
    pub file_key: String,
}

impl ReleaseRec {
    pub(crate) fn ready(&self) -> bool {
        Instant::now() >= self.ready_at
    }

    pub(crate) fn render(&self, root_url: &str) -> Value {
        let (status, attributes) = if self.ready() {
            (
                "SUCCEEDED",
                json!({"url": format!("{root_url}/storage/{}", self.file_key)}),
            )
        } else {
            ("PENDING", json!({}))
        };
        json!({
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "release_type": "JSON",
            "attributes": attributes,
            "status": status,
            "created_at": self.created_at,
            "samples_count": self.samples_count,
        })
    }
}

pub(crate) struct DatasetRec {
    pub owner: String,
    pub name: String,
    /// Every scalar / free-form setting (description, category, public, flags, metadata, …).
    pub fields: Obj,
    pub task_type: String,
    pub task_attributes: Value,
    pub created_at: String,
    pub cloned_from: Option<String>,
    pub labelsets: Vec<LabelsetRec>,
    /// `(username, role)`.
    pub collaborators: Vec<(String, String)>,
    pub releases: Vec<ReleaseRec>,
    pub workunits: Vec<WorkunitRec>,
    /// Sample UUIDs in creation order.
    pub samples: Vec<String>,
    /// Sample name → UUID.
    pub by_name: HashMap<String, String>,
}

/// Settings a new dataset gets when the request does not send them (§2.2.1, §5.2).
pub(crate) fn dataset_defaults() -> Obj {
    let v = json!({
        "description": "",
        "category": "other",
        "public": false,
        "archived": false,
        "readme": "",
        "metadata": {},
        "labeling_inactivity_timeout_seconds": 300,
        "enable_skip_labeling": true,
        "enable_skip_reviewing": false,
        "enable_ratings": false,
        "enable_interpolation": true,
        "enable_same_dimensions_track_constraint": false,
        "enable_save_button": false,
        "enable_label_status_verified": false,
        "enable_3d_cuboid_rotation": false,
        "enable_3d_region_of_interest": false,
        "enable_confirm_on_submit": false,
        "use_timestamps_for_interpolation": true,
        "enable_object_linking": false,
        "enable_object_link_category_restrictions": false,
        "enable_extrapolation": false,
        "noncollaborator_can_label": false,
        "noncollaborator_can_review": false,
        "region_of_interest": null,
        "data_type": "IMAGE",
    });
    match v {
        Value::Object(o) => o,
        _ => Obj::new(),
    }
}

impl DatasetRec {
    pub(crate) fn new(owner: &str, name: &str, task_type: &str, task_attributes: Value) -> Self {
        let now = fmt_ts(Utc::now());
        DatasetRec {
            owner: owner.to_owned(),
            name: name.to_owned(),
            fields: dataset_defaults(),
            task_type: task_type.to_owned(),
            task_attributes,
            created_at: now.clone(),
            cloned_from: None,
            labelsets: vec![LabelsetRec {
                name: GROUND_TRUTH.to_owned(),
                description: String::new(),
                is_groundtruth: true,
                created_at: now,
            }],
            collaborators: Vec::new(),
            releases: Vec::new(),
            workunits: Vec::new(),
            samples: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    pub(crate) fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub(crate) fn public(&self) -> bool {
        self.fields
            .get("public")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub(crate) fn labelset(&self, name: &str) -> Option<&LabelsetRec> {
        self.labelsets.iter().find(|l| l.name == name)
    }

    /// Name of the ground-truth labelset (the one the lifecycle and `label_stats` follow).
    pub(crate) fn ground_truth(&self) -> &str {
        self.labelsets
            .iter()
            .find(|l| l.is_groundtruth)
            .map_or(GROUND_TRUTH, |l| l.name.as_str())
    }

    /// Category ids and names of the task attributes (at least one: id 1 "object").
    pub(crate) fn categories(&self) -> Vec<(i64, String)> {
        let cats: Vec<(i64, String)> = self
            .task_attributes
            .get("categories")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        Some((
                            c.get("id")?.as_i64()?,
                            c.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if cats.is_empty() {
            vec![(1, "object".to_owned())]
        } else {
            cats
        }
    }

    pub(crate) fn release(&self, name: &str) -> Option<&ReleaseRec> {
        self.releases.iter().find(|r| r.name == name)
    }
}

pub(crate) struct LabelRec {
    pub label_status: String,
    /// As text: a million labels are held (a tree would take several KB each).
    pub attributes: CompactJson,
    pub score: Option<Value>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    /// Store-wide write order (sorting by `gt_label__updated_at`).
    pub updated_seq: u64,
    pub reviewed_at: Option<String>,
    pub reviewed_by: Option<String>,
}

impl LabelRec {
    /// The full `Label` (§5.4).
    pub(crate) fn render(&self, sample_uuid: &str, labelset: &str, label_type: &str) -> Value {
        json!({
            "sample_uuid": sample_uuid,
            "label_type": label_type,
            "label_status": self.label_status,
            "labelset": labelset,
            "attributes": self.attributes,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
            "score": self.score,
            "rating": null,
            "reviewed_at": self.reviewed_at,
            "reviewed_by": self.reviewed_by,
        })
    }

    /// The label summary of sample lists (§5.3).
    pub(crate) fn summary(&self) -> Value {
        json!({
            "label_status": self.label_status,
            "score": self.score,
            "updated_at": self.updated_at,
            "created_by": self.created_by,
            "reviewed_by": self.reviewed_by,
        })
    }
}

pub(crate) struct SampleRec {
    pub uuid: String,
    pub dataset: String,
    pub name: String,
    pub attributes: Value,
    pub metadata: Obj,
    pub created_at: String,
    pub created_by: String,
    pub created_seq: u64,
    pub updated_seq: u64,
    pub readme: String,
    pub assigned_labeler: Option<String>,
    pub assigned_reviewer: Option<String>,
    pub priority: Value,
    /// Labelset name → label (boxed: a B-tree node has room for eleven values).
    pub labels: BTreeMap<String, Box<LabelRec>>,
}

impl SampleRec {
    /// The `Sample` shape (§5.3), without `label`.
    pub(crate) fn render(&self) -> Value {
        json!({
            "uuid": self.uuid,
            "name": self.name,
            "attributes": self.attributes,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "readme": self.readme,
            "assigned_labeler": self.assigned_labeler,
            "assigned_reviewer": self.assigned_reviewer,
            "priority": self.priority,
            "issues": null,
            "dataset_full_name": self.dataset,
            "data_type": "IMAGE",
        })
    }

    /// Status of the label in `labelset`; `UNLABELED` without one.
    pub(crate) fn status_in(&self, labelset: &str) -> &str {
        self.labels
            .get(labelset)
            .map_or("UNLABELED", |l| l.label_status.as_str())
    }
}

pub(crate) struct IssueRec {
    pub uuid: String,
    pub sample_uuid: String,
    pub dataset: String,
    pub description: String,
    pub status: String,
    pub anchor: Value,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: String,
    pub updated_by: String,
}

impl IssueRec {
    pub(crate) fn render(&self, sample_name: &str) -> Value {
        json!({
            "uuid": self.uuid,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "status": self.status,
            "comments": [],
            "anchor": self.anchor,
            "sample_uuid": self.sample_uuid,
            "sample_name": sample_name,
        })
    }
}

pub(crate) struct WorkunitRec {
    pub uuid: String,
    pub created: DateTime<Utc>,
    pub created_by: String,
    pub work_type: &'static str,
    pub next_label_status: &'static str,
    pub time_ms: u64,
    pub sample_uuid: String,
    pub sample_name: String,
}

impl WorkunitRec {
    pub(crate) fn render(&self, with_metrics: bool) -> Value {
        let mut v = json!({
            "uuid": self.uuid,
            "created_at": fmt_ts(self.created),
            "created_by": self.created_by,
            "work_type": self.work_type,
            "next_label_status": self.next_label_status,
            "time": self.time_ms,
            "inactive_time": 0,
            "sample_uuid": self.sample_uuid,
            "sample_name": self.sample_name,
            "label_rating": null,
        });
        if with_metrics {
            v["session_time_metrics"] = json!({"active_time": self.time_ms, "inactive_time": 0});
        }
        v
    }
}

/// A stored file: an uploaded asset or a release file, served without authentication.
pub(crate) struct StoredFile {
    pub bytes: bytes::Bytes,
    pub content_type: &'static str,
}

pub(crate) struct Store {
    pub users: Vec<UserRec>,
    pub datasets: Vec<DatasetRec>,
    pub samples: HashMap<String, SampleRec>,
    pub issues: HashMap<String, IssueRec>,
    /// Issue UUIDs in creation order.
    pub issue_order: Vec<String>,
    /// Storage key → file.
    pub files: HashMap<String, StoredFile>,
    /// Keys handed out by `POST /assets/` and not yet uploaded.
    pub pending_uploads: HashSet<String>,
    pub rng: fastrand::Rng,
    /// `http://127.0.0.1:PORT`, for URLs pointing back at the emulator's storage.
    pub root_url: String,
    seq: u64,
}

/// Settings of a dataset created for a seeded project.
fn seeded_attributes() -> Value {
    json!({
        "format_version": "0.1",
        "categories": [
            {"name": BOX_CLASS, "id": 1, "color": [0, 113, 188]},
            {"name": POLYGON_CLASS, "id": 2, "color": [216, 82, 24]},
            {"name": POINT_CLASS, "id": 3, "color": [237, 177, 32]},
        ],
    })
}

impl Store {
    /// The fixture (users, organization, the other user's datasets) plus one `vector` dataset
    /// per seeded project (`owner/name`, or `name` owned by the caller).
    pub(crate) fn new(projects: &[String], root_url: &str) -> Self {
        let mut caller = UserRec::new(CALLER, false);
        caller.email = "labelmux@emulator.invalid".to_owned();
        let mut org = UserRec::new(ORGANIZATION, true);
        org.members = vec![(CALLER.to_owned(), "admin".to_owned())];
        let mut st = Store {
            users: vec![
                caller,
                UserRec::new(OTHER_USER, false),
                org,
                UserRec::new(LABELER, false),
                UserRec::new(REVIEWER, false),
            ],
            datasets: Vec::new(),
            samples: HashMap::new(),
            issues: HashMap::new(),
            issue_order: Vec::new(),
            files: HashMap::new(),
            pending_uploads: HashSet::new(),
            rng: fastrand::Rng::new(),
            root_url: root_url.to_owned(),
            seq: 0,
        };
        st.files.insert(
            INSTANCE_1_KEY.to_owned(),
            StoredFile {
                bytes: bytes::Bytes::from_static(&INSTANCE_1_PNG),
                content_type: "image/png",
            },
        );
        for p in projects {
            let (owner, name) = split_project(p);
            if st.user(owner).is_none() {
                // An unknown owner becomes an organization the caller administers.
                let mut o = UserRec::new(owner, true);
                o.members = vec![(CALLER.to_owned(), "admin".to_owned())];
                st.users.push(o);
            }
            if st.dataset_idx(owner, name).is_none() {
                st.datasets
                    .push(DatasetRec::new(owner, name, "vector", seeded_attributes()));
            }
        }
        st.datasets.push(DatasetRec::new(
            OTHER_USER,
            INVISIBLE_DATASET,
            "vector",
            seeded_attributes(),
        ));
        let mut shared =
            DatasetRec::new(OTHER_USER, LABELER_DATASET, "vector", seeded_attributes());
        shared
            .collaborators
            .push((CALLER.to_owned(), "labeler".to_owned()));
        st.datasets.push(shared);
        st
    }

    /// The next value of the store-wide write counter.
    pub(crate) fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn uuid(&mut self) -> String {
        new_uuid(&mut self.rng)
    }

    pub(crate) fn user(&self, name: &str) -> Option<&UserRec> {
        self.users.iter().find(|u| u.username == name)
    }

    pub(crate) fn dataset_idx(&self, owner: &str, name: &str) -> Option<usize> {
        self.datasets
            .iter()
            .position(|d| d.owner == owner && d.name == name)
    }

    pub(crate) fn dataset_by_full_name(&self, full: &str) -> Option<usize> {
        let (o, n) = full.split_once('/')?;
        self.dataset_idx(o, n)
    }

    /// A project id (`owner/name`, or `name` of the caller) → dataset index.
    pub(crate) fn project_idx(&self, project: &str) -> Option<usize> {
        let (o, n) = split_project(project);
        self.dataset_idx(o, n)
    }

    /// The caller's role in a dataset: owner or organization role, else collaborator role.
    pub(crate) fn role_of(&self, d: &DatasetRec, user: &str) -> Option<String> {
        if d.owner == user {
            return Some("admin".to_owned());
        }
        if let Some(owner) = self.user(&d.owner) {
            if let Some((_, r)) = owner.members.iter().find(|(m, _)| m == user) {
                return Some(r.clone());
            }
        }
        d.collaborators
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, r)| r.clone())
    }

    /// Whether `user` can see the dataset at all (else it answers 404, §1.2).
    pub(crate) fn visible(&self, d: &DatasetRec, user: &str) -> bool {
        d.public() || self.role_of(d, user).is_some()
    }

    /// Counts of ground-truth label statuses plus `TOTAL` (§5.2).
    pub(crate) fn label_stats(&self, d: &DatasetRec) -> Value {
        let gt = d.ground_truth();
        let mut counts: BTreeMap<&str, usize> = LABEL_STATUSES.iter().map(|s| (*s, 0)).collect();
        for u in &d.samples {
            if let Some(s) = self.samples.get(u) {
                if let Some(c) = counts.get_mut(s.status_in(gt)) {
                    *c += 1;
                }
            }
        }
        let mut o: Obj = counts
            .into_iter()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        o.insert("TOTAL".into(), json!(d.samples.len()));
        Value::Object(o)
    }

    /// The `Dataset` shape (§5.2) as `user` sees it.
    pub(crate) fn render_dataset(&self, d: &DatasetRec, user: &str) -> Value {
        let mut o = d.fields.clone();
        let owner = self.user(&d.owner).map_or_else(
            || json!({"username": d.owner, "created_at": d.created_at}),
            UserRec::owner,
        );
        for (k, v) in [
            ("name", json!(d.name)),
            ("full_name", json!(d.full_name())),
            ("cloned_from", json!(d.cloned_from)),
            ("owner", owner),
            ("created_at", json!(d.created_at)),
            ("task_type", json!(d.task_type)),
            ("task_attributes", d.task_attributes.clone()),
            (
                "labelsets",
                Value::Array(d.labelsets.iter().map(LabelsetRec::render).collect()),
            ),
            ("label_stats", self.label_stats(d)),
            ("samples_count", json!(d.samples.len())),
            ("collaborators_count", json!(d.collaborators.len())),
            ("role", json!(self.role_of(d, user))),
            ("insights_urls", json!({})),
        ] {
            o.insert(k.to_owned(), v);
        }
        Value::Object(o)
    }

    /// Remove a sample with its labels and issues.
    pub(crate) fn remove_sample(&mut self, uuid: &str) -> bool {
        let Some(s) = self.samples.remove(uuid) else {
            return false;
        };
        if let Some(di) = self.dataset_by_full_name(&s.dataset) {
            let d = &mut self.datasets[di];
            d.samples.retain(|u| u != uuid);
            d.by_name.remove(&s.name);
        }
        self.issues.retain(|_, i| i.sample_uuid != uuid);
        let issues = &self.issues;
        self.issue_order.retain(|u| issues.contains_key(u));
        true
    }

    /// Remove a dataset with everything in it.
    pub(crate) fn remove_dataset(&mut self, di: usize) {
        let d = self.datasets.remove(di);
        for u in &d.samples {
            self.samples.remove(u);
        }
        let full = d.full_name();
        self.issues.retain(|_, i| i.dataset != full);
        let issues = &self.issues;
        self.issue_order.retain(|u| issues.contains_key(u));
        for r in &d.releases {
            self.files.remove(&r.file_key);
        }
    }

    /// The release file (§7.2) of the dataset's current samples and labels, as JSON bytes:
    /// every labelset is a key of every sample's `labels`, `null` where the sample is
    /// unlabeled in it. Serialised straight from the store (members in the documented order,
    /// `samples` last), never as a `Value` tree: a release of a million samples would need
    /// several GB as one.
    pub(crate) fn release_file(&self, d: &DatasetRec, name: &str, description: &str) -> Vec<u8> {
        let labelsets: Vec<Value> = d
            .labelsets
            .iter()
            .map(|l| json!({"name": l.name, "description": l.description}))
            .collect();
        let file = ReleaseFile {
            name,
            description,
            created_at: fmt_release_ts(Utc::now()),
            dataset: ReleaseDataset {
                name: &d.name,
                owner: &d.owner,
                task_type: &d.task_type,
                task_attributes: &d.task_attributes,
                labelsets,
                samples: ReleaseSamples { st: self, d },
            },
        };
        // Serialising borrowed store data into a Vec cannot fail.
        serde_json::to_vec(&file).unwrap_or_default()
    }
}

/// A release file (§7.2), borrowing the store.
#[derive(Serialize)]
struct ReleaseFile<'a> {
    name: &'a str,
    description: &'a str,
    created_at: String,
    dataset: ReleaseDataset<'a>,
}

#[derive(Serialize)]
struct ReleaseDataset<'a> {
    name: &'a str,
    owner: &'a str,
    task_type: &'a str,
    task_attributes: &'a Value,
    labelsets: Vec<Value>,
    samples: ReleaseSamples<'a>,
}

/// The dataset's samples, each serialised as it is reached.
struct ReleaseSamples<'a> {
    st: &'a Store,
    d: &'a DatasetRec,
}

impl Serialize for ReleaseSamples<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for s in self.d.samples.iter().filter_map(|u| self.st.samples.get(u)) {
            seq.serialize_element(&ReleaseSample {
                uuid: &s.uuid,
                name: &s.name,
                attributes: &s.attributes,
                metadata: &s.metadata,
                created_at: &s.created_at,
                created_by: &s.created_by,
                assigned_labeler: s.assigned_labeler.as_deref(),
                assigned_reviewer: s.assigned_reviewer.as_deref(),
                priority: &s.priority,
                labels: ReleaseLabels { d: self.d, s },
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct ReleaseSample<'a> {
    uuid: &'a str,
    name: &'a str,
    attributes: &'a Value,
    metadata: &'a Obj,
    created_at: &'a str,
    created_by: &'a str,
    assigned_labeler: Option<&'a str>,
    assigned_reviewer: Option<&'a str>,
    priority: &'a Value,
    labels: ReleaseLabels<'a>,
}

/// Every labelset of the dataset → the sample's label there, or `null`.
struct ReleaseLabels<'a> {
    d: &'a DatasetRec,
    s: &'a SampleRec,
}

impl Serialize for ReleaseLabels<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.d.labelsets.len()))?;
        for l in &self.d.labelsets {
            let label = self.s.labels.get(&l.name).map(|lab| ReleaseLabel {
                label_status: &lab.label_status,
                attributes: &lab.attributes,
                score: lab.score.as_ref(),
                created_at: &lab.created_at,
                created_by: &lab.created_by,
                updated_at: &lab.updated_at,
                reviewed_at: lab.reviewed_at.as_deref(),
                reviewed_by: lab.reviewed_by.as_deref(),
            });
            map.serialize_entry(&l.name, &label)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct ReleaseLabel<'a> {
    label_status: &'a str,
    attributes: &'a CompactJson,
    score: Option<&'a Value>,
    created_at: &'a str,
    created_by: &'a str,
    updated_at: &'a str,
    reviewed_at: Option<&'a str>,
    reviewed_by: Option<&'a str>,
}

/// `owner/name` → (owner, name); a bare `name` belongs to the caller.
pub(crate) fn split_project(p: &str) -> (&str, &str) {
    p.split_once('/').unwrap_or((CALLER, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_and_roles_follow_owner_org_and_collaborators() {
        let st = Store::new(
            &["labelmux/demo".to_owned(), "acme/flowers".to_owned()],
            "http://e",
        );
        let vis = |full: &str| {
            let d = &st.datasets[st.dataset_by_full_name(full).unwrap()];
            (st.visible(d, CALLER), st.role_of(d, CALLER))
        };
        assert_eq!(vis("labelmux/demo"), (true, Some("admin".into())));
        assert_eq!(vis("acme/flowers"), (true, Some("admin".into())));
        assert_eq!(vis("other-user/private-dataset"), (false, None));
        assert_eq!(
            vis("other-user/shared-dataset"),
            (true, Some("labeler".into()))
        );
        assert!(role_allows("labeler", Access::Label));
        assert!(!role_allows("labeler", Access::Manage));
        assert!(!role_allows("manager", Access::Admin));
    }
}
