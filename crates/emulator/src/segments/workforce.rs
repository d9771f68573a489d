//! The emulated workforce (segments.md §8, "lifecycle"): a sample is labeled (annotations drawn
//! from the dataset's categories, shaped for its task type, §5.7), then reviewed; a rejected
//! label is labeled again. Every step is a workunit.

use super::state::{IssueRec, LabelRec, Store, WorkunitRec, LABELER, REVIEWER};
use super::wire::fmt_ts;
use crate::framework::compact::CompactJson;
use crate::framework::drawing::Drawing;
use chrono::Utc;
use serde_json::{json, Value};
use std::time::Instant;

/// A 2×2 RGBA PNG whose every pixel is instance id 1 (R=1, G=0, B=0, A=255): the segmentation
/// bitmap of lifecycle labels of segmentation datasets.
pub(crate) const INSTANCE_1_PNG: [u8; 74] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06, 0x00, 0x00, 0x00, 0x72, 0xb6, 0x0d,
    0x24, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x64, 0x60, 0xf8,
    0x0f, 0xc2, 0x0c, 0x30, 0x06, 0x00, 0x1e, 0x1e, 0x04, 0x01, 0x1f, 0xd4, 0xdd, 0xc1, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
/// Storage key of [`INSTANCE_1_PNG`].
pub(crate) const INSTANCE_1_KEY: &str = "labels/emulator/instance-1.png";

impl Store {
    /// Move the ground-truth labels of a dataset's samples one step: `unlabeled` → labeled
    /// (`UNLABELED`, `PRELABELED`, `REJECTED`, `LABELING_IN_PROGRESS` → `LABELED`) when
    /// `label` is set, `LABELED` / `REVIEWING_IN_PROGRESS` → `REVIEWED` when `review` is set
    /// (one step per sample per call). Pending releases finish. Returns how many samples moved.
    pub(crate) fn step(&mut self, di: usize, label: bool, review: bool) -> usize {
        let now = Utc::now();
        for r in &mut self.datasets[di].releases {
            r.ready_at = r.ready_at.min(Instant::now());
        }
        let d = &self.datasets[di];
        let gt = d.ground_truth().to_owned();
        let task_type = d.task_type.clone();
        let categories = d.categories();
        let bitmap_url = format!("{}/storage/{INSTANCE_1_KEY}", self.root_url);
        let uuids = d.samples.clone();
        let mut moved = 0;
        let mut units = Vec::new();
        for u in uuids {
            let seq = self.tick();
            let wid = self.uuid();
            let Some(s) = self.samples.get_mut(&u) else {
                continue;
            };
            let status = s.status_in(&gt).to_owned();
            let ts = fmt_ts(now);
            let (work_type, next) = match status.as_str() {
                "UNLABELED" | "PRELABELED" | "REJECTED" | "LABELING_IN_PROGRESS" if label => {
                    // A prelabel is accepted as the labeler's starting point; anything else is
                    // (re)drawn from the categories.
                    let keep = status == "PRELABELED"
                        && s.labels.get(&gt).is_some_and(|l| l.attributes.is_object());
                    let attributes = match s.labels.get(&gt) {
                        Some(l) if keep => l.attributes.clone(),
                        _ => CompactJson::from(generate_label(
                            &task_type,
                            &categories,
                            &s.attributes,
                            seq,
                            &bitmap_url,
                        )),
                    };
                    let created = s
                        .labels
                        .get(&gt)
                        .map(|l| (l.created_at.clone(), l.created_by.clone()));
                    let (created_at, created_by) =
                        created.unwrap_or_else(|| (ts.clone(), LABELER.to_owned()));
                    s.labels.insert(
                        gt.clone(),
                        Box::new(LabelRec {
                            label_status: "LABELED".to_owned(),
                            attributes,
                            score: None,
                            created_at,
                            created_by,
                            updated_at: ts.clone(),
                            updated_by: LABELER.to_owned(),
                            updated_seq: seq,
                            reviewed_at: None,
                            reviewed_by: None,
                        }),
                    );
                    ("label", "LABELED")
                }
                "LABELED" | "REVIEWING_IN_PROGRESS" if review => {
                    if let Some(l) = s.labels.get_mut(&gt) {
                        l.label_status = "REVIEWED".to_owned();
                        l.reviewed_at = Some(ts.clone());
                        l.reviewed_by = Some(REVIEWER.to_owned());
                        l.updated_at = ts.clone();
                        l.updated_by = REVIEWER.to_owned();
                        l.updated_seq = seq;
                    }
                    ("review", "REVIEWED")
                }
                _ => continue,
            };
            moved += 1;
            units.push(WorkunitRec {
                uuid: wid,
                created: now,
                created_by: if work_type == "label" {
                    LABELER
                } else {
                    REVIEWER
                }
                .to_owned(),
                work_type,
                next_label_status: next,
                time_ms: 1000 + seq % 9000,
                sample_uuid: s.uuid.clone(),
                sample_name: s.name.clone(),
            });
        }
        self.datasets[di].workunits.extend(units);
        moved
    }

    /// Reviewers reject labels: `sample` alone (labeled or reviewed), or every `LABELED` one.
    /// Non-empty `reasons` become an open issue on each rejected sample.
    pub(crate) fn reject(
        &mut self,
        di: usize,
        sample: Option<&str>,
        reasons: &[String],
    ) -> Result<usize, String> {
        let d = &self.datasets[di];
        let gt = d.ground_truth().to_owned();
        let full = d.full_name();
        let targets: Vec<String> = match sample {
            Some(id) => {
                let uuid = if self.samples.get(id).is_some_and(|s| s.dataset == full) {
                    id.to_owned()
                } else {
                    d.by_name
                        .get(id)
                        .cloned()
                        .ok_or_else(|| format!("no sample {id} in dataset {full}"))?
                };
                let status = self
                    .samples
                    .get(&uuid)
                    .map_or("UNLABELED", |s| s.status_in(&gt));
                if !matches!(status, "LABELED" | "REVIEWED" | "VERIFIED") {
                    return Err(format!(
                        "sample {id} is {status}; only LABELED, REVIEWED or VERIFIED labels can be rejected"
                    ));
                }
                vec![uuid]
            }
            None => d
                .samples
                .iter()
                .filter(|u| {
                    self.samples
                        .get(*u)
                        .is_some_and(|s| s.status_in(&gt) == "LABELED")
                })
                .cloned()
                .collect(),
        };
        let ts = fmt_ts(Utc::now());
        for u in &targets {
            let seq = self.tick();
            if let Some(l) = self.samples.get_mut(u).and_then(|s| s.labels.get_mut(&gt)) {
                l.label_status = "REJECTED".to_owned();
                l.reviewed_at = Some(ts.clone());
                l.reviewed_by = Some(REVIEWER.to_owned());
                l.updated_at = ts.clone();
                l.updated_by = REVIEWER.to_owned();
                l.updated_seq = seq;
            }
            if !reasons.is_empty() {
                let id = self.uuid();
                self.issues.insert(
                    id.clone(),
                    IssueRec {
                        uuid: id.clone(),
                        sample_uuid: u.clone(),
                        dataset: full.clone(),
                        description: reasons.join("; "),
                        status: "OPEN".to_owned(),
                        anchor: Value::Null,
                        created_at: ts.clone(),
                        updated_at: ts.clone(),
                        created_by: REVIEWER.to_owned(),
                        updated_by: REVIEWER.to_owned(),
                    },
                );
                self.issue_order.push(id);
            }
        }
        Ok(targets.len())
    }
}

/// One image's vector annotations from the shared drawing of `reference` (the image URL):
/// `vector` draws its box, polygon and point with the first three categories (the same work as
/// on the other vendors' emulators); `bboxes` a box per category, `keypoints` a point per
/// category (the drawing of `reference#i` for the i-th).
fn image_vector_annotations(
    task_type: &str,
    categories: &[(i64, String)],
    reference: &str,
    track: bool,
) -> Vec<Value> {
    let pairs = |points: &[(i64, i64)]| -> Vec<Value> {
        points.iter().map(|&(x, y)| json!([x, y])).collect()
    };
    let mut out = Vec::new();
    for (i, (cat, _)) in categories.iter().take(3).enumerate() {
        let id = i as i64 + 1;
        let vector = matches!(task_type, "vector" | "image-vector-sequence");
        let d = if vector || i == 0 {
            Drawing::of(reference)
        } else {
            Drawing::of(&format!("{reference}#{i}"))
        };
        let mut a = match (task_type, i) {
            ("keypoints", _) => {
                json!({"id": id, "category_id": cat, "type": "point", "points": pairs(&[d.point()])})
            }
            (_, 2) if vector => {
                json!({"id": id, "category_id": cat, "type": "point", "points": pairs(&[d.point()])})
            }
            (_, 1) if vector => json!({
                "id": id, "category_id": cat, "type": "polygon", "points": pairs(&d.polygon()),
            }),
            _ => json!({
                "id": id, "category_id": cat, "type": "bbox",
                "points": pairs(&[(d.left, d.top), (d.right(), d.bottom())]),
            }),
        };
        if track {
            a["track_id"] = json!(id);
            a["is_keyframe"] = json!(true);
        }
        out.push(a);
    }
    out
}

/// The image a sample's (or frame's) attributes point at, which the shared drawing is keyed by.
fn image_reference(attributes: &Value, seed: u64) -> String {
    attributes
        .pointer("/image/url")
        .and_then(Value::as_str)
        .map_or_else(|| format!("sample-{seed}"), str::to_owned)
}

fn cuboid(id: i64, cat: i64, seed: u64, track: bool) -> Value {
    let mut a = json!({
        "id": id, "category_id": cat, "type": "cuboid",
        "position": {"x": (seed % 20) as f64, "y": id as f64 * 2.0, "z": 0.5},
        "dimensions": {"x": 4.2, "y": 1.8, "z": 1.5},
        "yaw": 0.5,
    });
    if track {
        a["track_id"] = json!(id);
        a["is_keyframe"] = json!(true);
    }
    a
}

/// Label attributes for a sample, shaped per task type (§5.7), from the dataset's categories.
pub(crate) fn generate_label(
    task_type: &str,
    categories: &[(i64, String)],
    sample_attributes: &Value,
    seed: u64,
    bitmap_url: &str,
) -> Value {
    let first = categories.first().map_or(1, |c| c.0);
    let frames = sample_attributes
        .get("frames")
        .and_then(Value::as_array)
        .map_or(1, |f| f.len().max(1));
    let bitmap = json!({ "url": bitmap_url });
    match task_type {
        "segmentation-bitmap" | "segmentation-bitmap-highres" => json!({
            "format_version": "0.1",
            "annotations": [{"id": 1, "category_id": first}],
            "segmentation_bitmap": bitmap,
            "image_attributes": {},
        }),
        "image-segmentation-sequence" => json!({
            "format_version": "0.1",
            "frames": (0..frames).map(|_| json!({
                "format_version": "0.1",
                "annotations": [{"id": 1, "category_id": first, "track_id": 1, "is_keyframe": true}],
                "segmentation_bitmap": bitmap,
            })).collect::<Vec<_>>(),
        }),
        "image-vector-sequence" => json!({
            "format_version": "0.2",
            "frames": (0..frames).map(|f| json!({
                "format_version": "0.1",
                "annotations": image_vector_annotations(
                    task_type,
                    categories,
                    &image_reference(
                        sample_attributes.pointer(&format!("/frames/{f}")).unwrap_or(&Value::Null),
                        seed + f as u64,
                    ),
                    true,
                ),
            })).collect::<Vec<_>>(),
        }),
        "pointcloud-cuboid" | "pointcloud-vector" => json!({
            "format_version": "0.2",
            "annotations": [cuboid(1, first, seed, false)],
        }),
        "pointcloud-segmentation" => json!({
            "format_version": "0.1",
            "annotations": [{"id": 1, "category_id": first}],
            "point_annotations": [],
        }),
        "pointcloud-cuboid-sequence" | "pointcloud-vector-sequence" => json!({
            "format_version": "0.2",
            "frames": (0..frames).map(|_| json!({
                "format_version": "0.2",
                "annotations": [cuboid(1, first, seed, true)],
            })).collect::<Vec<_>>(),
        }),
        "pointcloud-segmentation-sequence" => json!({
            "format_version": "0.1",
            "frames": (0..frames).map(|_| json!({
                "annotations": [{"id": 1, "category_id": first, "track_id": 1, "is_keyframe": true}],
                "point_annotations": [],
            })).collect::<Vec<_>>(),
        }),
        "multisensor-sequence" => {
            let sensors: Vec<Value> = sample_attributes
                .get("sensors")
                .and_then(Value::as_array)
                .map(|ss| {
                    ss.iter()
                        .map(|s| {
                            let ty = s.get("task_type").and_then(Value::as_str).unwrap_or("");
                            let attrs = s.get("attributes").cloned().unwrap_or(Value::Null);
                            json!({
                                "name": s.get("name").cloned().unwrap_or(Value::Null),
                                "task_type": ty,
                                "attributes": generate_label(ty, categories, &attrs, seed, bitmap_url),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({"sensors": sensors})
        }
        // bboxes, vector, keypoints (and anything else: the image vector shape)
        _ => json!({
            "format_version": "0.1",
            "annotations": image_vector_annotations(
                task_type,
                categories,
                &image_reference(sample_attributes, seed),
                false,
            ),
            "image_attributes": {},
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segments::state::{Obj, SampleRec, CALLER, GROUND_TRUTH};
    use std::collections::BTreeMap;

    #[test]
    fn generated_vector_labels_use_the_dataset_categories() {
        let cats = vec![(7, "car".to_owned()), (9, "person".to_owned())];
        let v = generate_label("vector", &cats, &json!({"image": {"url": "x"}}), 3, "u");
        let anns = v["annotations"].as_array().unwrap();
        assert_eq!(anns.len(), 2);
        assert_eq!(anns[0]["category_id"], 7);
        assert_eq!(anns[0]["type"], "bbox");
        assert_eq!(anns[1]["category_id"], 9);
        assert_eq!(anns[1]["type"], "polygon");
        let b = generate_label("bboxes", &cats, &Value::Null, 3, "u");
        assert!(b["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["type"] == "bbox" && a["points"].as_array().unwrap().len() == 2));
        let seq = generate_label(
            "image-vector-sequence",
            &cats,
            &json!({"frames": [{}, {}, {}]}),
            1,
            "u",
        );
        assert_eq!(seq["frames"].as_array().unwrap().len(), 3);
        assert_eq!(seq["frames"][0]["annotations"][0]["track_id"], 1);
    }

    #[test]
    fn lifecycle_labels_then_reviews_and_relabels_rejections() {
        let mut st = Store::new(&["labelmux/demo".to_owned()], "http://e");
        let di = st.project_idx("labelmux/demo").unwrap();
        let uuid = st.uuid();
        let s = SampleRec {
            uuid: uuid.clone(),
            dataset: "labelmux/demo".into(),
            name: "a.jpg".into(),
            attributes: json!({"image": {"url": "https://x/a.jpg"}}),
            metadata: Obj::new(),
            created_at: String::new(),
            created_by: CALLER.into(),
            created_seq: 0,
            updated_seq: 0,
            readme: String::new(),
            assigned_labeler: None,
            assigned_reviewer: None,
            priority: json!(0),
            labels: BTreeMap::new(),
        };
        st.samples.insert(uuid.clone(), s);
        st.datasets[di].samples.push(uuid.clone());
        st.datasets[di].by_name.insert("a.jpg".into(), uuid.clone());
        assert_eq!(st.step(di, true, true), 1);
        assert_eq!(st.samples[&uuid].status_in(GROUND_TRUTH), "LABELED");
        assert_eq!(st.step(di, true, true), 1);
        assert_eq!(st.samples[&uuid].status_in(GROUND_TRUTH), "REVIEWED");
        assert_eq!(st.step(di, true, true), 0);
        assert!(st.reject(di, Some("nope"), &[]).is_err());
        assert_eq!(
            st.reject(di, Some("a.jpg"), &["boxes too loose".into()]),
            Ok(1)
        );
        assert_eq!(st.samples[&uuid].status_in(GROUND_TRUTH), "REJECTED");
        assert_eq!(st.issues.len(), 1);
        assert_eq!(st.step(di, true, false), 1);
        assert_eq!(st.samples[&uuid].status_in(GROUND_TRUTH), "LABELED");
        assert_eq!(st.datasets[di].workunits.len(), 3);
        assert_eq!(st.label_stats(&st.datasets[di])["LABELED"], 1);
    }
}
