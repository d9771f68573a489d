//! Serde types of Segments.ai's JSON, lenient by design (through [`labelmux_core::lenient`]):
//! explicit `null` means absent, a member of an unexpected type becomes absent rather than an
//! error, unknown members are ignored, timestamps that do not parse become `None`, unknown enum
//! values are kept as [`LabelStatus::Other`] (and the like) instead of failing, and every decoded
//! object keeps its JSON unchanged in `raw`. Only what the official SDK itself cannot do without
//! is required (a sample's `uuid` and `name`, a dataset's `name`, a label's `sample_uuid`, ...).
//!
//! Sample and label `attributes` are typed per task type ([`SampleAttributes`],
//! [`LabelAttributes`]); decoding them never fails (an unknown shape is kept as `Other`), and the
//! JSON as sent is always in the owning object's `raw`.

use chrono::{DateTime, Utc};
use labelmux_core::{lenient, Error, JsonMap, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// Decoding helpers
// ---------------------------------------------------------------------------------------------

use labelmux_core::impl_with_raw as with_raw;
pub use labelmux_core::lenient::WithRaw;

/// Decode `value` as `T` and keep `value` in it; `what` names the object in errors.
pub fn decode<T: DeserializeOwned + WithRaw>(value: Value, what: &str) -> Result<T> {
    if !value.is_object() {
        return Err(Error::decode(format!(
            "expected a {what} object from Segments.ai, got {}",
            lenient::json_kind(&value)
        )));
    }
    labelmux_core::lenient::decode_with_raw("Segments.ai", value, what)
}

/// Decode a JSON array of `T`s (Segments' lists are bare arrays; a non-array is a decode error).
pub fn decode_list<T: DeserializeOwned + WithRaw>(value: Value, what: &str) -> Result<Vec<T>> {
    match value {
        Value::Array(items) => items.into_iter().map(|v| decode(v, what)).collect(),
        other => Err(Error::decode(format!(
            "expected a list of {what}s from Segments.ai, got {}",
            lenient::json_kind(&other)
        ))),
    }
}

fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn f64_or_zero<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(opt_f64(d)?.unwrap_or(0.0))
}

// ---------------------------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------------------------

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version of labelmux does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// Every known value, in the SDK's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),*];

            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Other(s) => s,
                }
            }

            /// The value for a wire string (unknown strings become `Other`).
            pub fn parse(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let v = Value::deserialize(d)?;
                Ok($name::parse(&lenient::scalar_string(&v).unwrap_or_default()))
            }
        }
    };
}

string_enum! {
    /// The nine label statuses.
    LabelStatus {
        /// Reviewed and accepted.
        Reviewed => "REVIEWED",
        /// Being reviewed.
        ReviewingInProgress => "REVIEWING_IN_PROGRESS",
        /// Labeled, awaiting review.
        Labeled => "LABELED",
        /// Being labeled.
        LabelingInProgress => "LABELING_IN_PROGRESS",
        /// Rejected by a reviewer.
        Rejected => "REJECTED",
        /// Pre-labeled (e.g. model predictions), awaiting a labeler.
        Prelabeled => "PRELABELED",
        /// Skipped by the labeler.
        Skipped => "SKIPPED",
        /// Verified (only with the dataset's `enable_label_status_verified`).
        Verified => "VERIFIED",
        /// No label (what a sample without label counts as).
        Unlabeled => "UNLABELED",
    }
}

string_enum! {
    /// Dataset task types (the SDK's enum; the empty string is a valid value).
    TaskType {
        /// Image segmentation, bitmap labels.
        SegmentationBitmap => "segmentation-bitmap",
        /// High-resolution image segmentation.
        SegmentationBitmapHighres => "segmentation-bitmap-highres",
        /// Image sequence segmentation.
        ImageSegmentationSequence => "image-segmentation-sequence",
        /// Bounding boxes.
        Bboxes => "bboxes",
        /// Image vector shapes (boxes, polygons, polylines, points).
        Vector => "vector",
        /// Image sequence vector shapes.
        ImageVectorSequence => "image-vector-sequence",
        /// Keypoints.
        Keypoints => "keypoints",
        /// Point-cloud cuboids.
        PointcloudCuboid => "pointcloud-cuboid",
        /// Point-cloud cuboid sequences.
        PointcloudCuboidSequence => "pointcloud-cuboid-sequence",
        /// Point-cloud segmentation.
        PointcloudSegmentation => "pointcloud-segmentation",
        /// Point-cloud segmentation sequences.
        PointcloudSegmentationSequence => "pointcloud-segmentation-sequence",
        /// Point-cloud vector shapes.
        PointcloudVector => "pointcloud-vector",
        /// Point-cloud vector sequences.
        PointcloudVectorSequence => "pointcloud-vector-sequence",
        /// Multi-sensor sequences.
        MultisensorSequence => "multisensor-sequence",
        /// No task type.
        Empty => "",
    }
}

string_enum! {
    /// A collaborator's role.
    Role {
        /// Labels samples.
        Labeler => "labeler",
        /// Reviews labels.
        Reviewer => "reviewer",
        /// Manages the dataset.
        Manager => "manager",
        /// Full control.
        Admin => "admin",
    }
}

string_enum! {
    /// Status of an issue.
    IssueStatus {
        /// Open.
        Open => "OPEN",
        /// Closed.
        Closed => "CLOSED",
    }
}

string_enum! {
    /// Status of a release.
    ReleaseStatus {
        /// The release file is being built.
        Pending => "PENDING",
        /// The release file is ready at `attributes.url`.
        Succeeded => "SUCCEEDED",
        /// Building the release failed.
        Failed => "FAILED",
    }
}

/// The shape family of a task type's sample and label attributes (spec 5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeFamily {
    /// Image samples, segmentation-bitmap labels.
    ImageSegmentation,
    /// Image samples, vector labels (`bboxes`, `vector`, `keypoints`).
    ImageVector,
    /// Image-sequence samples, per-frame segmentation labels.
    ImageSequenceSegmentation,
    /// Image-sequence samples, per-frame vector labels.
    ImageSequenceVector,
    /// Point-cloud samples, cuboid labels.
    PointcloudCuboid,
    /// Point-cloud samples, vector labels.
    PointcloudVector,
    /// Point-cloud samples, per-point segmentation labels.
    PointcloudSegmentation,
    /// Point-cloud-sequence samples, per-frame cuboid labels.
    PointcloudSequenceCuboid,
    /// Point-cloud-sequence samples, per-frame vector labels.
    PointcloudSequenceVector,
    /// Point-cloud-sequence samples, per-frame segmentation labels.
    PointcloudSequenceSegmentation,
    /// Multi-sensor samples and labels.
    MultiSensor,
}

impl TaskType {
    /// The attribute shapes of this task type; `None` for the empty and unknown task types.
    pub fn family(&self) -> Option<AttributeFamily> {
        use AttributeFamily as F;
        Some(match self {
            TaskType::SegmentationBitmap | TaskType::SegmentationBitmapHighres => {
                F::ImageSegmentation
            }
            TaskType::Bboxes | TaskType::Vector | TaskType::Keypoints => F::ImageVector,
            TaskType::ImageSegmentationSequence => F::ImageSequenceSegmentation,
            TaskType::ImageVectorSequence => F::ImageSequenceVector,
            TaskType::PointcloudCuboid => F::PointcloudCuboid,
            TaskType::PointcloudVector => F::PointcloudVector,
            TaskType::PointcloudSegmentation => F::PointcloudSegmentation,
            TaskType::PointcloudCuboidSequence => F::PointcloudSequenceCuboid,
            TaskType::PointcloudVectorSequence => F::PointcloudSequenceVector,
            TaskType::PointcloudSegmentationSequence => F::PointcloudSequenceSegmentation,
            TaskType::MultisensorSequence => F::MultiSensor,
            TaskType::Empty | TaskType::Other(_) => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Users, datasets, collaborators, labelsets
// ---------------------------------------------------------------------------------------------

/// A user or an organization (`GET /user`, `GET /users/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The user (or organization) name.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub username: String,
    /// E-mail address.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub email: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Whether this is an organization.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_organization: Option<bool>,
    /// Subscription (`FREE`, `STANDARD`, `ENTERPRISE`, `ACADEMIC`, `TRIAL`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub subscription: Option<String>,
    /// Organizations the user belongs to.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub organizations: Vec<Value>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// The owner of a dataset, as embedded in it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Owner {
    /// User or organization name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub username: Option<String>,
    /// E-mail address.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub email: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
}

fn owner_lenient<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Owner, D::Error> {
    // The old API page shows the owner as a bare user name.
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Owner {
            username: Some(s),
            ..Owner::default()
        },
        v @ Value::Object(_) => serde_json::from_value(v).unwrap_or_default(),
        _ => Owner::default(),
    })
}

/// Label counts per status of a dataset (`label_stats`): the nine statuses plus `TOTAL`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LabelStats {
    /// Count per status (missing statuses are absent).
    pub by_status: BTreeMap<LabelStatus, u64>,
    /// `TOTAL`, when sent.
    pub total: Option<u64>,
}

impl LabelStats {
    /// The count of one status (0 when absent).
    pub fn count(&self, status: &LabelStatus) -> u64 {
        self.by_status.get(status).copied().unwrap_or(0)
    }
}

impl<'de> Deserialize<'de> for LabelStats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut stats = LabelStats::default();
        if let Value::Object(m) = Value::deserialize(d)? {
            for (k, v) in m {
                let n = match &v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                let Some(n) = n else { continue };
                if k == "TOTAL" {
                    stats.total = Some(n);
                } else {
                    stats.by_status.insert(LabelStatus::parse(&k), n);
                }
            }
        }
        Ok(stats)
    }
}

/// A category of a dataset's `task_attributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCategory {
    /// Category id (labels refer to it as `category_id`).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    /// Name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// RGB(A) colour.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub color: Vec<u8>,
    /// Whether objects of this category have instances.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub has_instances: Option<bool>,
    /// Object-level attributes (name, `input_type`, values, ...), vendor JSON.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub attributes: Vec<Value>,
}

/// A dataset's labeling configuration (`task_attributes`); unknown members stay in `raw` of the
/// dataset.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskAttributes {
    /// Format version (`"0.1"`), as a string.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub format_version: Option<String>,
    /// Categories (at least one on a valid dataset).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub categories: Vec<TaskCategory>,
    /// Sample-level attributes, vendor JSON.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub image_attributes: Vec<Value>,
    /// Warning rules, vendor JSON.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub warning_rules: Vec<Value>,
}

/// A labelset of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labelset {
    /// Name (unique per dataset; `ground-truth` is the default one).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub name: String,
    /// Description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Whether this is the ground-truth labelset.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_groundtruth: Option<bool>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// A dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Name (unique per owner).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub name: String,
    /// `owner/name`, the dataset identifier.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub full_name: Option<String>,
    /// The owner (user or organization).
    #[serde(default, deserialize_with = "owner_lenient")]
    pub owner: Owner,
    /// Description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Category (`other`, `street_scenery`, ...).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub category: Option<String>,
    /// Whether anyone may see it.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub public: Option<bool>,
    /// Whether it is archived.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub archived: Option<bool>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Task type (absent when not sent).
    #[serde(default)]
    pub task_type: Option<TaskType>,
    /// Labeling configuration.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub task_attributes: TaskAttributes,
    /// Labelsets.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub labelsets: Vec<Labelset>,
    /// Label counts per status.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub label_stats: LabelStats,
    /// Number of samples (sent as an int or a string).
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub samples_count: Option<u64>,
    /// Number of collaborators.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub collaborators_count: Option<u64>,
    /// The caller's role in the dataset.
    #[serde(default)]
    pub role: Option<Role>,
    /// Readme (markdown).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub readme: Option<String>,
    /// Metadata.
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub metadata: JsonMap,
    /// The dataset this one was cloned from.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cloned_from: Option<String>,
    /// Whether the `VERIFIED` label status is enabled.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub enable_label_status_verified: Option<bool>,
    /// The JSON as received (every setting flag is there).
    #[serde(skip)]
    pub raw: Value,
}

impl Dataset {
    /// The dataset identifier `owner/name` (from `full_name`, else owner and name).
    pub fn identifier(&self) -> String {
        match (&self.full_name, &self.owner.username) {
            (Some(f), _) if !f.is_empty() => f.clone(),
            (_, Some(o)) => format!("{o}/{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// A collaborator of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collaborator {
    /// The user (a full user object; a bare user name is accepted too).
    #[serde(deserialize_with = "user_lenient")]
    pub user: User,
    /// The role.
    #[serde(default)]
    pub role: Option<Role>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

fn user_lenient<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<User, D::Error> {
    let v = Value::deserialize(d)?;
    let user = match &v {
        Value::String(s) => User {
            username: s.clone(),
            email: None,
            created_at: None,
            is_organization: None,
            subscription: None,
            organizations: Vec::new(),
            raw: v.clone(),
        },
        _ => {
            let mut u = User::deserialize(&v).map_err(serde::de::Error::custom)?;
            u.raw = v.clone();
            u
        }
    };
    Ok(user)
}

// ---------------------------------------------------------------------------------------------
// Sample attributes
// ---------------------------------------------------------------------------------------------

/// An asset reference: `url` and, with `include_signed_urls`, `signed_url`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AssetRef {
    /// The asset URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub url: Option<String>,
    /// A pre-signed URL for private buckets.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub signed_url: Option<String>,
}

/// One frame of an image sequence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageFrame {
    /// The image.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub image: AssetRef,
    /// Frame name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Timestamp (string or number, kept as text).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub timestamp: Option<String>,
}

/// A point-cloud file reference.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCloudFile {
    /// URL of the file.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub url: Option<String>,
    /// Pre-signed URL.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub signed_url: Option<String>,
    /// Format (`pcd`, `binary-xyzi`, `kitti`, ...).
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub file_type: Option<String>,
}

/// One point-cloud frame (also the whole sample of single-frame point-cloud datasets).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCloudFrame {
    /// The point cloud.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub pcd: PointCloudFile,
    /// Calibrated camera images, vendor JSON (`url`, `intrinsics`, `extrinsics`, ...).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub images: Vec<Value>,
    /// Ego pose, vendor JSON.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub ego_pose: Option<Value>,
    /// Frame name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Timestamp (kept as text).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub timestamp: Option<String>,
}

/// One sensor of a multi-sensor sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensor {
    /// Sensor name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Task type of the sensor.
    #[serde(default)]
    pub task_type: Option<TaskType>,
    /// The sensor's attributes (sample or label shape, by context), vendor JSON.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub attributes: Option<Value>,
}

/// A sample's `attributes`, typed by shape (spec 5.6).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SampleAttributes {
    /// `{"image": {"url": ...}}`.
    Image {
        /// The image.
        image: AssetRef,
    },
    /// `{"frames": [{"image": ...}, ...]}`.
    ImageSequence {
        /// The frames.
        frames: Vec<ImageFrame>,
    },
    /// `{"pcd": {...}, "images": [...], ...}`.
    PointCloud(PointCloudFrame),
    /// `{"frames": [{"pcd": ...}, ...]}`.
    PointCloudSequence {
        /// The frames.
        frames: Vec<PointCloudFrame>,
    },
    /// `{"sensors": [...]}`.
    MultiSensor {
        /// The sensors.
        sensors: Vec<Sensor>,
    },
    /// Any other shape, as sent.
    Other(Value),
}

impl Default for SampleAttributes {
    fn default() -> Self {
        SampleAttributes::Other(Value::Null)
    }
}

impl SampleAttributes {
    /// Type `value` by its shape; never fails (an unknown shape is `Other`).
    pub fn from_value(value: &Value) -> SampleAttributes {
        let Some(obj) = value.as_object() else {
            return SampleAttributes::Other(value.clone());
        };
        let typed = || -> Option<SampleAttributes> {
            if let Some(image) = obj.get("image") {
                return Some(SampleAttributes::Image {
                    image: serde_json::from_value(image.clone()).ok()?,
                });
            }
            if obj.contains_key("pcd") {
                return Some(SampleAttributes::PointCloud(
                    serde_json::from_value(value.clone()).ok()?,
                ));
            }
            if let Some(Value::Array(sensors)) = obj.get("sensors") {
                return Some(SampleAttributes::MultiSensor {
                    sensors: serde_json::from_value(Value::Array(sensors.clone())).ok()?,
                });
            }
            if let Some(Value::Array(frames)) = obj.get("frames") {
                let pcd = frames.iter().any(|f| f.get("pcd").is_some());
                let frames_v = Value::Array(frames.clone());
                return Some(if pcd {
                    SampleAttributes::PointCloudSequence {
                        frames: serde_json::from_value(frames_v).ok()?,
                    }
                } else {
                    SampleAttributes::ImageSequence {
                        frames: serde_json::from_value(frames_v).ok()?,
                    }
                });
            }
            None
        };
        typed().unwrap_or_else(|| SampleAttributes::Other(value.clone()))
    }

    /// Every asset URL the attributes name (images, point clouds), in order.
    pub fn asset_urls(&self) -> Vec<&str> {
        let mut out = Vec::new();
        match self {
            SampleAttributes::Image { image } => out.extend(image.url.as_deref()),
            SampleAttributes::ImageSequence { frames } => {
                out.extend(frames.iter().filter_map(|f| f.image.url.as_deref()))
            }
            SampleAttributes::PointCloud(f) => out.extend(f.pcd.url.as_deref()),
            SampleAttributes::PointCloudSequence { frames } => {
                out.extend(frames.iter().filter_map(|f| f.pcd.url.as_deref()))
            }
            SampleAttributes::MultiSensor { .. } | SampleAttributes::Other(_) => {}
        }
        out
    }
}

impl<'de> Deserialize<'de> for SampleAttributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(SampleAttributes::from_value(&Value::deserialize(d)?))
    }
}

// ---------------------------------------------------------------------------------------------
// Label attributes
// ---------------------------------------------------------------------------------------------

/// A 3-vector (`{"x", "y", "z"}`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Xyz {
    /// x.
    #[serde(default, deserialize_with = "f64_or_zero")]
    pub x: f64,
    /// y.
    #[serde(default, deserialize_with = "f64_or_zero")]
    pub y: f64,
    /// z.
    #[serde(default, deserialize_with = "f64_or_zero")]
    pub z: f64,
}

/// A quaternion (`{"qx", "qy", "qz", "qw"}`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Quaternion {
    /// qx.
    #[serde(default, deserialize_with = "f64_or_zero")]
    pub qx: f64,
    /// qy.
    #[serde(default, deserialize_with = "f64_or_zero")]
    pub qy: f64,
    /// qz.
    #[serde(default, deserialize_with = "f64_or_zero")]
    pub qz: f64,
    /// qw.
    #[serde(default, deserialize_with = "f64_or_zero")]
    pub qw: f64,
}

/// One annotation of any label type: the members that apply to its type are set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Annotation {
    /// Object (instance) id, > 0.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub id: Option<i64>,
    /// Category id (see the dataset's `task_attributes.categories`).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub category_id: Option<i64>,
    /// Shape: `bbox`, `polygon`, `polyline`, `point`, `cuboid`, `cuboid-sync`; absent for
    /// segmentation annotations.
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub shape: Option<String>,
    /// Vertices (`[[x, y], ...]` in images, `[[x, y, z], ...]` in point clouds).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub points: Vec<Vec<f64>>,
    /// Track id (sequences).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub track_id: Option<i64>,
    /// Whether this frame is a keyframe (sequences).
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_keyframe: Option<bool>,
    /// Frame index (sequences).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub index: Option<i64>,
    /// Cuboid centre.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub position: Option<Xyz>,
    /// Cuboid size (x length, y width, z height).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub dimensions: Option<Xyz>,
    /// Cuboid heading about z, radians.
    #[serde(default, deserialize_with = "opt_f64")]
    pub yaw: Option<f64>,
    /// Cuboid rotation (with 3D rotation enabled).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub rotation: Option<Quaternion>,
    /// Object-level attribute values.
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub attributes: JsonMap,
}

/// A link between two objects.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Link {
    /// Source object id.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub from_id: Option<i64>,
    /// Target object id.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub to_id: Option<i64>,
    /// Track-level link attributes.
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub attributes: JsonMap,
}

/// The label of one image or one frame: annotations, plus the bitmap for segmentation,
/// per-point ids for point-cloud segmentation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameLabel {
    /// Format version (as text).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub format_version: Option<String>,
    /// Annotations.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub annotations: Vec<Annotation>,
    /// Segmentation bitmap (32-bit RGBA PNG, `id = R + 256·G + 65536·B`).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub segmentation_bitmap: Option<AssetRef>,
    /// Point-cloud segmentation: the annotation id of each point (0 = none).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub point_annotations: Vec<i64>,
    /// Sample-level attribute values.
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub image_attributes: JsonMap,
    /// Frame timestamp (sequences; kept as text).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub timestamp: Option<String>,
    /// Links (point clouds and vector sequences).
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub links: Vec<Link>,
}

/// A label's `attributes`, typed by the label's task type (spec 5.7).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LabelAttributes {
    /// Single image or single point cloud (every non-sequence task type).
    Single(FrameLabel),
    /// Image or point-cloud sequences: one [`FrameLabel`] per sample frame.
    Sequence {
        /// Format version.
        format_version: Option<String>,
        /// One label per frame.
        frames: Vec<FrameLabel>,
        /// Links.
        links: Vec<Link>,
    },
    /// Multi-sensor: one label per sensor (`attributes` is `[]` for a sensor without label).
    MultiSensor {
        /// The sensors, in the sample's order.
        sensors: Vec<Sensor>,
        /// Links.
        links: Vec<Link>,
    },
    /// An unknown task type or shape, as sent.
    Other(Value),
}

impl LabelAttributes {
    /// Type `value` for a label of `task_type` (by shape when the task type is unknown); never
    /// fails (an unexpected shape is `Other`).
    pub fn from_value(task_type: Option<&TaskType>, value: &Value) -> LabelAttributes {
        use AttributeFamily as F;
        let Some(obj) = value.as_object() else {
            return LabelAttributes::Other(value.clone());
        };
        let family = task_type.and_then(TaskType::family);
        let sequence = match family {
            Some(
                F::ImageSequenceSegmentation
                | F::ImageSequenceVector
                | F::PointcloudSequenceCuboid
                | F::PointcloudSequenceVector
                | F::PointcloudSequenceSegmentation,
            ) => true,
            Some(F::MultiSensor) => false,
            Some(_) => false,
            None => obj.contains_key("frames"),
        };
        let multi =
            family == Some(F::MultiSensor) || (family.is_none() && obj.contains_key("sensors"));
        let links = || -> Vec<Link> {
            obj.get("links")
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default()
        };
        let typed = if multi {
            obj.get("sensors")
                .and_then(|s| serde_json::from_value::<Vec<Sensor>>(s.clone()).ok())
                .map(|sensors| LabelAttributes::MultiSensor {
                    sensors,
                    links: links(),
                })
        } else if sequence {
            obj.get("frames")
                .and_then(|f| serde_json::from_value::<Vec<FrameLabel>>(f.clone()).ok())
                .map(|frames| LabelAttributes::Sequence {
                    format_version: obj.get("format_version").and_then(lenient::scalar_string),
                    frames,
                    links: links(),
                })
        } else {
            serde_json::from_value::<FrameLabel>(value.clone())
                .ok()
                .map(LabelAttributes::Single)
        };
        typed.unwrap_or_else(|| LabelAttributes::Other(value.clone()))
    }

    /// Every annotation, across frames (not across sensors).
    pub fn annotations(&self) -> Vec<&Annotation> {
        match self {
            LabelAttributes::Single(f) => f.annotations.iter().collect(),
            LabelAttributes::Sequence { frames, .. } => {
                frames.iter().flat_map(|f| f.annotations.iter()).collect()
            }
            LabelAttributes::MultiSensor { .. } | LabelAttributes::Other(_) => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Samples and labels
// ---------------------------------------------------------------------------------------------

/// A label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The sample.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sample_uuid: Option<String>,
    /// Task type of the label (the dataset's).
    #[serde(default)]
    pub label_type: Option<TaskType>,
    /// Status.
    #[serde(default)]
    pub label_status: Option<LabelStatus>,
    /// Labelset name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub labelset: Option<String>,
    /// The attributes, typed by `label_type` (set by [`decode`]; JSON as sent in `raw`).
    #[serde(skip)]
    pub attributes: Option<LabelAttributes>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Creator.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Last updater.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_by: Option<String>,
    /// Model score.
    #[serde(default, deserialize_with = "opt_f64")]
    pub score: Option<f64>,
    /// Rating.
    #[serde(default, deserialize_with = "opt_f64")]
    pub rating: Option<f64>,
    /// Review time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Reviewer.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub reviewed_by: Option<String>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

impl WithRaw for Label {
    fn set_raw(&mut self, raw: Value) {
        self.attributes = raw
            .get("attributes")
            .filter(|v| !v.is_null())
            .map(|v| LabelAttributes::from_value(self.label_type.as_ref(), v));
        self.raw = raw;
    }
}

impl Label {
    /// The status, `UNLABELED` when absent.
    pub fn status(&self) -> LabelStatus {
        self.label_status.clone().unwrap_or(LabelStatus::Unlabeled)
    }
}

/// The `label` member of a sample: a summary in lists, the full label with
/// `include_full_label` or on a single sample.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleLabel {
    /// A full label.
    Full(Box<Label>),
    /// A summary: status, score, update time, creator, reviewer.
    Summary(Box<Label>),
}

impl SampleLabel {
    /// The label (fields absent in a summary are `None`).
    pub fn label(&self) -> &Label {
        match self {
            SampleLabel::Full(l) | SampleLabel::Summary(l) => l,
        }
    }
}

/// A sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The sample's UUID.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub uuid: String,
    /// Name (unique per dataset).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub name: String,
    /// Attributes (the data to label), typed by shape.
    #[serde(default)]
    pub attributes: SampleAttributes,
    /// Metadata.
    #[serde(default, deserialize_with = "lenient::map_or_empty")]
    pub metadata: JsonMap,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Creator.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    /// Priority (higher first).
    #[serde(default, deserialize_with = "opt_f64")]
    pub priority: Option<f64>,
    /// Assigned labeler.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub assigned_labeler: Option<String>,
    /// Assigned reviewer.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub assigned_reviewer: Option<String>,
    /// Readme.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub readme: Option<String>,
    /// `owner/name` of the dataset (older answers call it `dataset`).
    #[serde(default, alias = "dataset", deserialize_with = "lenient::opt_string")]
    pub dataset_full_name: Option<String>,
    /// The label in the requested labelset (set by [`decode`] when the answer has one).
    #[serde(skip)]
    pub label: Option<SampleLabel>,
    /// Issues, vendor JSON.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub issues: Vec<Value>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

impl WithRaw for Sample {
    fn set_raw(&mut self, raw: Value) {
        self.label = match raw.get("label") {
            Some(v @ Value::Object(m)) => {
                // A full label names its sample and type; a summary carries only the status
                // and a few review fields.
                let full = m.contains_key("attributes") || m.contains_key("sample_uuid");
                match Label::deserialize(v) {
                    Ok(mut l) => {
                        l.set_raw(v.clone());
                        Some(if full {
                            SampleLabel::Full(Box::new(l))
                        } else {
                            SampleLabel::Summary(Box::new(l))
                        })
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        self.raw = raw;
    }
}

impl Sample {
    /// The status of the attached label; `UNLABELED` without one.
    pub fn label_status(&self) -> LabelStatus {
        self.label
            .as_ref()
            .map(|l| l.label().status())
            .unwrap_or(LabelStatus::Unlabeled)
    }
}

/// Answer of a bulk sample deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteSamplesResponse {
    /// Samples deleted (unknown UUIDs are skipped silently).
    #[serde(default, deserialize_with = "lenient::u64_or_zero")]
    pub deleted_count: u64,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

// ---------------------------------------------------------------------------------------------
// Issues, releases, workunits, assets
// ---------------------------------------------------------------------------------------------

/// A comment of an issue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IssueComment {
    /// Time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Author.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    /// Text.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub text: Option<String>,
}

/// An issue on a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// UUID.
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub uuid: String,
    /// Description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// `OPEN` or `CLOSED`.
    #[serde(default)]
    pub status: Option<IssueStatus>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Creator.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    /// Last updater.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_by: Option<String>,
    /// Comments.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub comments: Vec<IssueComment>,
    /// Anchor (`{"type": "basic" | "track" | "sceneAttribute" | "location", ...}`), vendor JSON.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub anchor: Option<Value>,
    /// The sample.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sample_uuid: Option<String>,
    /// The sample's name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sample_name: Option<String>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// A release of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// UUID.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub uuid: Option<String>,
    /// Name (unique per dataset).
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub name: String,
    /// Description.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Always `JSON`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub release_type: Option<String>,
    /// `PENDING`, `SUCCEEDED` or `FAILED`.
    #[serde(default)]
    pub status: Option<ReleaseStatus>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Samples in the release.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub samples_count: Option<u64>,
    /// `attributes.url` (the release file; absent while pending) and `signed_url`.
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub attributes: AssetRef,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

impl Release {
    /// The URL to download the release file from (the signed one when given).
    pub fn file_url(&self) -> Option<&str> {
        self.attributes
            .signed_url
            .as_deref()
            .or(self.attributes.url.as_deref())
            .filter(|u| !u.is_empty())
    }
}

/// A unit of work (labeling or reviewing session on a sample).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workunit {
    /// UUID.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub uuid: Option<String>,
    /// Time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Worker.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_by: Option<String>,
    /// Kind of work (label / review / normal; casing as sent).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub work_type: Option<String>,
    /// Active time, milliseconds.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub time: Option<i64>,
    /// Inactive time, milliseconds.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub inactive_time: Option<i64>,
    /// The sample.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sample_uuid: Option<String>,
    /// The sample's name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sample_name: Option<String>,
    /// Status the label moved to.
    #[serde(default)]
    pub next_label_status: Option<LabelStatus>,
    /// Rating of the label.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub label_rating: Option<i64>,
    /// Session time metrics (with `include_session_time_metrics`), vendor JSON.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub session_time_metrics: Option<Value>,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

/// Where and how to upload an asset (`presignedPostFields`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PresignedPost {
    /// Storage URL to POST the form to.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub url: Option<String>,
    /// Form fields to send before the file, in the order received.
    #[serde(default, deserialize_with = "ordered_fields")]
    pub fields: Vec<(String, String)>,
}

fn ordered_fields<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<(String, String)>, D::Error> {
    // serde_json's map keeps insertion order only with `preserve_order`; decode straight from
    // the map visitor instead to keep the storage's order.
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of form fields")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, Value>()? {
                if let Some(s) = lenient::scalar_string(&v) {
                    out.push((k, s));
                }
            }
            Ok(out)
        }
        fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

/// An uploaded asset (`POST /assets/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// UUID.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub uuid: Option<String>,
    /// File name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub filename: Option<String>,
    /// Where the asset is served once uploaded (use it in sample or label attributes).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub url: Option<String>,
    /// Creation time.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// The presigned POST.
    #[serde(
        rename = "presignedPostFields",
        default,
        deserialize_with = "lenient::or_default"
    )]
    pub presigned_post: PresignedPost,
    /// The JSON as received.
    #[serde(skip)]
    pub raw: Value,
}

impl Asset {
    /// Decode a `POST /assets/` answer from its bytes, keeping the order of the presigned form
    /// fields as the storage sent them (a decoded `Value` would sort them).
    pub fn from_slice(body: &[u8]) -> Result<Asset> {
        #[derive(Deserialize)]
        struct Ordered {
            #[serde(rename = "presignedPostFields", default)]
            presigned_post: Option<PresignedPost>,
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::decode(format!("unexpected asset from Segments.ai: {e}")))?;
        let mut asset: Asset = decode(value, "asset")?;
        if let Ok(Ordered {
            presigned_post: Some(p),
        }) = serde_json::from_slice::<Ordered>(body)
        {
            asset.presigned_post = p;
        }
        Ok(asset)
    }
}

with_raw!(
    User,
    Labelset,
    Dataset,
    Collaborator,
    DeleteSamplesResponse,
    Issue,
    Release,
    Workunit,
    Asset
);

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// Body of `POST /user/datasets/` (or `/organizations/{org}/datasets/`). [`Self::new`] sets the
/// SDK's defaults, all of which are sent as the SDK does; optional members only when set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateDatasetRequest {
    /// Name (unique per owner).
    pub name: String,
    /// Description.
    pub description: String,
    /// Task type.
    pub task_type: TaskType,
    /// Labeling configuration (vendor JSON; unknown keys are kept).
    pub task_attributes: Value,
    /// Category (`other`, ...).
    pub category: String,
    /// Public dataset.
    pub public: bool,
    /// Readme.
    pub readme: String,
    /// Seconds of inactivity before a labeling session ends.
    pub labeling_inactivity_timeout_seconds: u64,
    /// Labelers may skip.
    pub enable_skip_labeling: bool,
    /// Reviewers may skip.
    pub enable_skip_reviewing: bool,
    /// Ratings.
    pub enable_ratings: bool,
    /// Interpolation.
    pub enable_interpolation: bool,
    /// Same dimensions along a track.
    pub enable_same_dimensions_track_constraint: bool,
    /// Save button.
    pub enable_save_button: bool,
    /// The `VERIFIED` label status.
    pub enable_label_status_verified: bool,
    /// 3D cuboid rotation.
    pub enable_3d_cuboid_rotation: bool,
    /// 3D region of interest.
    pub enable_3d_region_of_interest: bool,
    /// Confirm on submit (the SDK's `enable_confirm_on_commit`).
    pub enable_confirm_on_submit: bool,
    /// Archived.
    pub archived: bool,
    /// Always `IMAGE`, as the SDK sends it.
    pub data_type: String,
    /// Metadata (sent only when non-empty).
    #[serde(skip_serializing_if = "JsonMap::is_empty")]
    pub metadata: JsonMap,
    /// Region of interest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_of_interest: Option<Value>,
    /// Object linking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_object_linking: Option<bool>,
    /// Object-link category restrictions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_object_link_category_restrictions: Option<bool>,
    /// Extrapolation (server default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_extrapolation: Option<bool>,
}

impl CreateDatasetRequest {
    /// A dataset named `name` with the SDK's defaults: task type `segmentation-bitmap`, one
    /// category `object` (id 1), category `other`, private.
    pub fn new(name: impl Into<String>) -> Self {
        CreateDatasetRequest {
            name: name.into(),
            description: String::new(),
            task_type: TaskType::SegmentationBitmap,
            task_attributes: serde_json::json!({
                "format_version": "0.1",
                "categories": [{"name": "object", "id": 1}]
            }),
            category: "other".into(),
            public: false,
            readme: String::new(),
            labeling_inactivity_timeout_seconds: 300,
            enable_skip_labeling: true,
            enable_skip_reviewing: false,
            enable_ratings: false,
            enable_interpolation: true,
            enable_same_dimensions_track_constraint: false,
            enable_save_button: false,
            enable_label_status_verified: false,
            enable_3d_cuboid_rotation: false,
            enable_3d_region_of_interest: false,
            enable_confirm_on_submit: false,
            archived: false,
            data_type: "IMAGE".into(),
            metadata: JsonMap::new(),
            region_of_interest: None,
            enable_object_linking: None,
            enable_object_link_category_restrictions: None,
            enable_extrapolation: None,
        }
    }
}

/// Body of `PATCH /datasets/{owner}/{name}/`: only the members set are sent. Any member the
/// SDK sends can go in `extra` (e.g. `enable_ratings`, `use_timestamps_for_interpolation`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UpdateDatasetRequest {
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Task type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<TaskType>,
    /// Labeling configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_attributes: Option<Value>,
    /// Category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Public.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Readme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
    /// Metadata (replaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
    /// Archived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    /// The `VERIFIED` label status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_label_status_verified: Option<bool>,
    /// Any other setting, by wire name.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Body of `POST /datasets/{owner}/{name}/clone/`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CloneDatasetRequest {
    /// Name of the clone (the client defaults it to `<name>-clone`, as the SDK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Task type of the clone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<TaskType>,
    /// Public clone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Organization to own the clone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Copy labels too (always sent).
    pub clone_labels: bool,
}

/// A sample to create (`POST .../samples/`, and each element of `samples_bulk`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateSampleRequest {
    /// Name (unique per dataset).
    pub name: String,
    /// Attributes (vendor JSON per the dataset's task type, e.g. `{"image": {"url": ...}}`).
    pub attributes: Value,
    /// Metadata (sent only when non-empty).
    #[serde(skip_serializing_if = "JsonMap::is_empty")]
    pub metadata: JsonMap,
    /// Priority (the SDK sends 0 by default).
    pub priority: f64,
    /// Labeler to assign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_labeler: Option<String>,
    /// Reviewer to assign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_reviewer: Option<String>,
    /// Readme (the SDK sends `""` by default).
    pub readme: String,
}

impl CreateSampleRequest {
    /// A sample named `name` with `attributes` and the SDK's defaults.
    pub fn new(name: impl Into<String>, attributes: Value) -> Self {
        CreateSampleRequest {
            name: name.into(),
            attributes,
            metadata: JsonMap::new(),
            priority: 0.0,
            assigned_labeler: None,
            assigned_reviewer: None,
            readme: String::new(),
        }
    }
}

/// Body of `PATCH /samples/{uuid}/`: only members set are sent; `Some(None)` for an assignee
/// sends `null` (un-assigns).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UpdateSampleRequest {
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Value>,
    /// New metadata (replaces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
    /// New priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    /// Labeler (`Some(None)` un-assigns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_labeler: Option<Option<String>>,
    /// Reviewer (`Some(None)` un-assigns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_reviewer: Option<Option<String>>,
    /// Readme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
}

/// Body of `PUT /labels/{sample}/{labelset}/` (create or replace).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PutLabelRequest {
    /// Status (the SDK's default is `PRELABELED`).
    pub label_status: LabelStatus,
    /// Label attributes (vendor JSON per task type).
    pub attributes: Value,
    /// Model score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Body of `PATCH /labels/{sample}/{labelset}/`: only members set are sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UpdateLabelRequest {
    /// New attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Value>,
    /// New status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_status: Option<LabelStatus>,
    /// New score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Body of `POST /samples/{uuid}/issues/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateIssueRequest {
    /// What is wrong.
    pub description: String,
    /// Status (default `OPEN`).
    pub status: IssueStatus,
    /// Anchor (vendor JSON, forwarded as given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Value>,
}

impl CreateIssueRequest {
    /// An open issue with `description`.
    pub fn new(description: impl Into<String>) -> Self {
        CreateIssueRequest {
            description: description.into(),
            status: IssueStatus::Open,
            anchor: None,
        }
    }
}

/// Body of `PATCH /issues/{uuid}/`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UpdateIssueRequest {
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<IssueStatus>,
    /// New anchor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Value>,
}

#[cfg(test)]
mod tests;
