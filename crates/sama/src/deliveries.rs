//! Delivered pages (`GET`/`POST projects/{p}/tasks/delivered.json`) decoded into core
//! [`Delivery`]s, once, on the task that fetched the page.
//!
//! The page body becomes one shared text (`Arc<String>`: the body itself, not a copy); each
//! delivery's `raw` and `answers` are [`RawJson`] slices of it, and the few typed fields (`id`,
//! `project_id`, `batch_id`, `delivered_at`, the external key inside `data`) are read by
//! reference. No `Value` tree is built.
//!
//! Two decoders, which give the same deliveries (a table test checks it on the same inputs):
//! - the **fast path** recognises the shape Sama sends, `{"tasks": [{...}, ...]}` with ids and
//!   fields as strings or integers;
//! - the **general decoder** ([`mapping::delivery_from_value`]) takes everything else the
//!   adapter accepts: the `{"task": {...}}` envelope, a bare array, "no content" bodies, ids as
//!   floats, non-UTF-8 bodies, and reports malformed tasks. A page the fast path does not
//!   recognise goes to it whole; a task it does not recognise goes to it alone.

use crate::mapping;
use crate::provider::SamaOptions;
use crate::wire;
use bytes::Bytes;
use labelmux_core::{lenient, BatchId, Delivery, DeliveryId, ProjectId, RawJson, Result, TaskId};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Memory a waiting delivery costs beyond its share of the page text: the struct and its small
/// strings (ids, external key), an estimate used to weigh pages for the read-ahead budget.
const DELIVERY_OVERHEAD: usize = std::mem::size_of::<Delivery>() + 160;

/// One decoded page.
#[derive(Debug)]
pub(crate) struct DeliveryPage {
    /// The deliveries, in page order.
    pub deliveries: Vec<Delivery>,
    /// Tasks the page held (a full page means more may follow).
    pub tasks: usize,
    /// What the page costs in memory while it waits.
    pub bytes: usize,
}

/// Decode one delivered page (fast path, else the general decoder). The body becomes the
/// page's text without a copy (when the caller held the only reference to it).
pub(crate) fn decode_page(
    body: Bytes,
    project: &ProjectId,
    options: &SamaOptions,
) -> Result<DeliveryPage> {
    let external_key_input = options.external_key_input.as_deref();
    let page = match String::from_utf8(Vec::from(body)) {
        Ok(text) => Arc::new(text),
        Err(e) => return general_page(e.as_bytes(), project, options),
    };
    let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(&page) else {
        return general_page(page.as_bytes(), project, options);
    };
    let mut deliveries = Vec::with_capacity(envelope.tasks.len());
    for task in &envelope.tasks {
        let d = match fast_task(&page, task, project, external_key_input) {
            Some(d) => d,
            None => general_task(RawJson::in_page(&page, task), project, options)?,
        };
        deliveries.push(d);
    }
    Ok(DeliveryPage {
        bytes: page.len() + deliveries.len() * DELIVERY_OVERHEAD,
        tasks: envelope.tasks.len(),
        deliveries,
    })
}

/// The general decoder for a whole page: any envelope the adapter accepts.
pub(crate) fn general_page(
    body: &[u8],
    project: &ProjectId,
    options: &SamaOptions,
) -> Result<DeliveryPage> {
    let tasks: Vec<Box<RawValue>> = wire::task_list_from_slice(body)?;
    let n = tasks.len();
    let deliveries = tasks
        .into_iter()
        .map(|t| general_task(RawJson::from(t), project, options))
        .collect::<Result<Vec<_>>>()?;
    Ok(DeliveryPage {
        bytes: body.len() + n * DELIVERY_OVERHEAD,
        tasks: n,
        deliveries,
    })
}

/// The general decoder for one task: its text parsed into a `Value`, read by
/// [`mapping::delivery_from_value`]; `raw` stays the task's text.
fn general_task(raw: RawJson, project: &ProjectId, options: &SamaOptions) -> Result<Delivery> {
    let value: Value = serde_json::from_str(raw.as_str()).map_err(|e| {
        labelmux_core::Error::decode(format!("unexpected delivered task from Sama: {e}"))
    })?;
    mapping::delivery_from_value(&value, raw, project, options)
}

/// The page envelope Sama sends (other members ignored).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    tasks: Vec<&'a RawValue>,
}

/// The fields of a delivered task the model needs, borrowed from the page.
#[derive(Deserialize)]
struct FastTask<'a> {
    #[serde(borrow)]
    id: Scalar<'a>,
    #[serde(default, borrow)]
    project_id: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    batch_id: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    delivered_at: Option<Scalar<'a>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    answers: Option<&'a RawValue>,
}

/// A task through the fast path; `None` when it has a shape the fast path leaves to the
/// general decoder (not an object, an id or field of another type, a duplicate member, ...).
fn fast_task(
    page: &Arc<String>,
    task: &RawValue,
    project: &ProjectId,
    external_key_input: Option<&str>,
) -> Option<Delivery> {
    // (A derived struct would also read an array, positionally; a task is an object.)
    if !task.get().starts_with('{') {
        return None;
    }
    let t: FastTask<'_> = serde_json::from_str(task.get()).ok()?;
    let external_key = match (external_key_input, t.data) {
        (Some(input), Some(data)) if data.get().starts_with('{') => {
            let mut seed = PickKey { key: input };
            let mut de = serde_json::Deserializer::from_str(data.get());
            de::DeserializeSeed::deserialize(&mut seed, &mut de).ok()?
        }
        _ => None,
    };
    let id = t.id.into_id()?;
    let answers = match t.answers {
        Some(a) => RawJson::in_page(page, a),
        None => RawJson::null(),
    };
    Some(Delivery {
        id: DeliveryId::new(id.clone()),
        task_id: TaskId::new(id),
        external_key,
        project_id: match t.project_id {
            Some(p) => ProjectId::new(p.into_id()?),
            None => project.clone(),
        },
        batch_id: match t.batch_id {
            Some(b) => Some(BatchId::new(b.into_id()?)),
            None => None,
        },
        labelset: None,
        review: None,
        delivered_at: t
            .delivered_at
            .as_ref()
            .and_then(Scalar::as_str)
            .and_then(lenient::timestamp),
        updated_at: None,
        answers,
        raw: RawJson::in_page(page, task),
        checkpoint: None,
    })
}

/// A JSON string (borrowed when it has no escapes) or integer; any other type is left to the
/// general decoder (its error ends the fast decoding of the task).
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
}

impl Scalar<'_> {
    /// As an id: the string, or the integer's digits.
    fn into_id(self) -> Option<String> {
        Some(match self {
            Scalar::Str(s) => s.into_owned(),
            Scalar::Int(i) => i.to_string(),
            Scalar::UInt(u) => u.to_string(),
        })
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an integer")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(Scalar::UInt(v))
    }
}

/// Reads one member of the `data` object: the external key, as
/// [`lenient::key_string`] reads it (a non-empty string or an integer; the last occurrence of
/// a repeated member wins, as in a `Value`). A type the fast path leaves to the general
/// decoder (a float) is an error.
struct PickKey<'k> {
    key: &'k str,
}

impl<'de> de::DeserializeSeed<'de> for &mut PickKey<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut PickKey<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the task's data object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if name == self.key {
                found = Some(map.next_value::<KeyValue>()?.0);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found.flatten())
    }
}

/// The external key's value: a non-empty string or an integer is a key; an empty string,
/// `null`, a boolean, an array or an object is none.
struct KeyValue(Option<String>);

impl<'de> Deserialize<'de> for KeyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an external key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<KeyValue, E> {
                Ok(KeyValue((!v.is_empty()).then(|| v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<KeyValue, E> {
                Ok(KeyValue(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<KeyValue, E> {
                Ok(KeyValue(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<KeyValue, E> {
                Ok(KeyValue(None))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<KeyValue, E> {
                Ok(KeyValue(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<KeyValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(KeyValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<KeyValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(KeyValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::ErrorKind;
    use serde_json::json;

    fn project() -> ProjectId {
        ProjectId::new("1001")
    }

    /// The deliveries of `body` through the general decoder only.
    fn general(body: &str, options: &SamaOptions) -> Result<Vec<Delivery>> {
        general_page(body.as_bytes(), &project(), options).map(|p| p.deliveries)
    }

    /// Whether every task of `body` goes through the fast path.
    fn all_fast(body: &str, options: &SamaOptions) -> bool {
        let page = Arc::new(body.to_owned());
        match serde_json::from_str::<Envelope<'_>>(&page) {
            Ok(env) => env.tasks.iter().all(|t| {
                fast_task(&page, t, &project(), options.external_key_input.as_deref()).is_some()
            }),
            Err(_) => false,
        }
    }

    fn options() -> Vec<SamaOptions> {
        vec![
            SamaOptions::default(),
            SamaOptions {
                external_key_input: Some("my key".into()),
                ..SamaOptions::default()
            },
            SamaOptions {
                external_key_input: None,
                ..SamaOptions::default()
            },
        ]
    }

    /// Pages of every shape; each decodes the same way through both decoders.
    fn pages() -> Vec<(String, bool)> {
        let task = json!({
            "id": "63f7d35730412f0057220a64", "project_id": 13470, "batch_id": 9,
            "state": "delivered", "priority": 0,
            "created_at": "2023-02-23T20:59:35.210Z", "completed_at": null,
            "delivered_at": "2023-02-24T10:00:00.5Z",
            "data": {"url": "https://x/1.jpg", "external_id": "img-1", "my key": 77,
                     "output_label": "{\"a\": 1}"},
            "answers": {"label": "dog", "boxes": [{"x": 1.5, "y": -2}], "note": "a \"quote\""},
            "submitter_ids_by_step": {"Step A": 13204}, "_extras": {}
        });
        let mut rows: Vec<(String, bool)> = vec![
            // (body, expected to take the fast path for every task)
            (json!({"tasks": [task, {"id": 5}]}).to_string(), true),
            (
                serde_json::to_string_pretty(&json!({"page": 1, "tasks": [task]})).unwrap(),
                true,
            ),
            (r#"{"tasks":[]}"#.into(), true),
            // Escaped strings in ids and keys.
            (
                r#"{"tasks":[{"id":"a\u0062c","project_id":"p\n1","data":{"external\u005fid":"k\"1","my key":"x"},"answers":null}]}"#.into(),
                true,
            ),
            // Delivered_at null, absent, not a string, not a time.
            (
                r#"{"tasks":[{"id":"a","delivered_at":null},{"id":"b"},{"id":"c","delivered_at":17},{"id":"d","delivered_at":"soon"}]}"#.into(),
                true,
            ),
            // External keys that are none: empty, null, objects, booleans; data not an object.
            (
                r#"{"tasks":[{"id":"a","data":{"external_id":""}},{"id":"b","data":{"external_id":null}},{"id":"c","data":{"external_id":{"k":1}}},{"id":"d","data":{"external_id":true}},{"id":"e","data":[1]},{"id":"f","data":null},{"id":"g","data":{"external_id":[1]}}]}"#.into(),
                true,
            ),
            // A repeated data member: the last one counts.
            (
                r#"{"tasks":[{"id":"a","data":{"external_id":"first","external_id":"last"}}]}"#.into(),
                true,
            ),
            // Negative and large integer ids.
            (
                r#"{"tasks":[{"id":-3,"batch_id":18446744073709551615,"project_id":0}]}"#.into(),
                true,
            ),
            // Left to the general decoder, task by task: float ids and keys, boolean fields.
            (
                r#"{"tasks":[{"id":1.5},{"id":"ok","project_id":true},{"id":"k","data":{"external_id":2.5}},{"id":"b","batch_id":false}]}"#.into(),
                false,
            ),
            // A repeated member of the task.
            (r#"{"tasks":[{"id":"a","id":"b"}]}"#.into(), false),
            // Left to the general decoder, whole page: other envelopes and no content.
            (r#"{"task":{"id":"x","answers":{"a":1}}}"#.into(), false),
            (r#"{"task":{"id":"x"},"tasks":[{"id":"y"}]}"#.into(), true),
            (r#"[{"id":"a1","state":"new"}]"#.into(), false),
            (r#"{"tasks":null}"#.into(), false),
            ("{}".into(), false),
            ("null".into(), false),
            ("".into(), false),
            ("<html>oops</html>".into(), false),
            (r#"{"tasks":[{"id":"a"}"#.into(), false),
        ];
        // A page of the emulator's shape, many tasks.
        let many: Vec<Value> = (0..50)
            .map(|i| {
                let mut t = task.clone();
                t["id"] = json!(format!("t{i:03}"));
                t["data"]["external_id"] = json!(format!("ext-{i}"));
                t
            })
            .collect();
        rows.push((json!({ "tasks": many }).to_string(), true));
        rows
    }

    #[test]
    fn fast_and_general_decoders_agree_on_every_page_shape() {
        for options in options() {
            for (body, fast) in pages() {
                let general = general(&body, &options).unwrap();
                let got = decode_page(Bytes::from(body.clone()), &project(), &options).unwrap();
                assert_eq!(got.deliveries, general, "{body}");
                assert_eq!(got.tasks, general.len(), "{body}");
                assert_eq!(all_fast(&body, &options), fast, "{body}");
                for (d, g) in got.deliveries.iter().zip(&general) {
                    // The same text, not only the same meaning.
                    assert_eq!(d.raw.as_str(), g.raw.as_str(), "{body}");
                    assert_eq!(d.external_key, g.external_key, "{body}");
                    assert_eq!(d.delivered_at, g.delivered_at, "{body}");
                }
            }
        }
    }

    #[test]
    fn fast_path_reads_fields_and_slices_the_page() {
        let body = r#"{"tasks":[{"id":"t1","project_id":13470,"batch_id":"9","delivered_at":"2023-02-24T10:00:00Z","data":{"external_id":"img-1"},"answers":{"label":"dog"}}]}"#;
        let page = decode_page(
            Bytes::from_static(body.as_bytes()),
            &project(),
            &SamaOptions::default(),
        )
        .unwrap();
        let d = &page.deliveries[0];
        assert_eq!(d.id.as_str(), "t1");
        assert_eq!(d.task_id.as_str(), "t1");
        assert_eq!(d.project_id.as_str(), "13470");
        assert_eq!(d.batch_id.as_ref().map(BatchId::as_str), Some("9"));
        assert_eq!(d.external_key.as_deref(), Some("img-1"));
        assert_eq!(
            d.delivered_at.map(|t| t.to_rfc3339()),
            Some("2023-02-24T10:00:00+00:00".to_owned())
        );
        assert_eq!(d.answers.as_str(), r#"{"label":"dog"}"#);
        assert_eq!(d.raw.as_str(), &body[10..body.len() - 2]);
        // Both are slices of the one page text.
        assert_eq!(d.raw.pinned_bytes(), body.len());
        assert!(!d.answers.is_detached());
        assert!(page.bytes >= body.len());
        let mut kept = d.clone();
        kept.detach();
        // Only the delivery's own record is kept (the answers point into its copy).
        assert!(kept.raw.is_detached());
        assert_eq!(kept.answers.pinned_bytes(), kept.raw.len());
        assert_eq!(&kept, d);
    }

    #[test]
    fn malformed_tasks_are_decode_errors_through_either_path() {
        for body in [
            r#"{"tasks":[{"state":"new"}]}"#,
            r#"{"tasks":[[1]]}"#,
            r#"{"tasks":[{"id":null}]}"#,
            r#"{"tasks":[{"id":[1]}]}"#,
            r#"{"tasks":"oops"}"#,
        ] {
            let err = decode_page(
                Bytes::from_static(body.as_bytes()),
                &project(),
                &SamaOptions::default(),
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{body}");
            assert!(general(body, &SamaOptions::default()).is_err(), "{body}");
        }
    }
}
