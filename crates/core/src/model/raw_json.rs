//! [`RawJson`]: vendor JSON kept as its text, parsed only on demand.

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// The struct name serde_json's serializers and deserializers recognise as "raw JSON text":
/// the same name `serde_json::value::RawValue` uses (serde_json keeps it private). A test below
/// checks that serde_json still writes such text verbatim and still parses it into a `Value`.
const RAW_TOKEN: &str = "$serde_json::private::RawValue";

/// One JSON value (object, array, string, number, boolean or `null`) held as its text.
///
/// Vendors' answers and raw records are passed through far more often than they are read, so
/// labelmux keeps them as the text the vendor sent instead of a `serde_json::Value` tree (a
/// 500-byte task becomes dozens of small allocations as a `Value`). Read it with
/// [`RawJson::to_value`] or [`RawJson::parse`] (into your own type), or take the text with
/// [`RawJson::as_str`]. Serialising it with serde_json writes the text verbatim.
///
/// **Page sharing.** Adapters decode a page of results once and hand out `RawJson`s that are
/// slices of that page's text (cloning one is a reference-count increment). While any of them is
/// alive, the whole page (typically a few hundred KB) stays in memory. A consumer that keeps a
/// few items for a long time should call [`RawJson::detach`] (or
/// [`Delivery::detach`](crate::Delivery::detach)), which copies just this value's text;
/// [`RawJson::pinned_bytes`] tells how much text a value keeps alive.
///
/// **Equality** is by JSON meaning: `{"a":1}` equals `{ "a": 1 }` (texts that differ are parsed
/// and compared as `Value`s, so key order and whitespace do not matter; `1` and `1.0` differ, as
/// they do for `Value`). A `RawJson` also compares with a `serde_json::Value`.
///
/// `Debug` and `Display` show the JSON text.
///
/// ```
/// use labelmux_core::RawJson;
/// use serde_json::json;
///
/// let answers: RawJson = r#"{"label": "cat", "boxes": [1, 2]}"#.parse()?;
/// assert_eq!(answers, json!({"boxes": [1, 2], "label": "cat"}));
/// assert_eq!(answers.to_value()["label"], "cat");
///
/// #[derive(serde::Deserialize)]
/// struct Mine { label: String }
/// assert_eq!(answers.parse::<Mine>()?.label, "cat");
///
/// // Written back verbatim by serde_json.
/// assert_eq!(serde_json::to_string(&answers)?, r#"{"label": "cat", "boxes": [1, 2]}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone)]
pub struct RawJson {
    /// The text this value is a part of (a whole page, or just this value). A `String` (not a
    /// `str`) so that a response body becomes a page without being copied.
    text: Arc<String>,
    /// Where this value's text is in `text`.
    range: Range<usize>,
}

impl RawJson {
    /// `null`.
    pub fn null() -> RawJson {
        RawJson::owned("null")
    }

    fn owned(text: &str) -> RawJson {
        RawJson {
            range: 0..text.len(),
            text: Arc::new(text.to_owned()),
        }
    }

    /// The text of `value` (compact).
    pub fn from_value(value: &Value) -> RawJson {
        RawJson::owned(&value.to_string())
    }

    /// `value` serialised as JSON.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<RawJson> {
        Ok(RawJson::owned(&serde_json::to_string(value)?))
    }

    /// A copy of `raw`'s text.
    pub fn from_raw_value(raw: &RawValue) -> RawJson {
        RawJson::owned(raw.get())
    }

    /// `text` checked to be one JSON value (surrounding whitespace is dropped).
    pub fn from_text(text: &str) -> serde_json::Result<RawJson> {
        let raw: &RawValue = serde_json::from_str(text)?;
        Ok(RawJson::from_raw_value(raw))
    }

    /// `part`, a value decoded (borrowed) from `page`, as a slice of `page`: no copy, and `page`
    /// stays alive as long as the result does (see the type's docs). A `part` that does not
    /// lie inside `page` is copied instead.
    ///
    /// ```
    /// use labelmux_core::RawJson;
    /// use serde_json::value::RawValue;
    /// use std::sync::Arc;
    ///
    /// let page = Arc::new(r#"{"tasks": [{"id": 1}, {"id": 2}]}"#.to_owned());
    /// #[derive(serde::Deserialize)]
    /// struct Page<'a> {
    ///     #[serde(borrow)]
    ///     tasks: Vec<&'a RawValue>,
    /// }
    /// let parsed: Page = serde_json::from_str(&page)?;
    /// let second = RawJson::in_page(&page, parsed.tasks[1]);
    /// assert_eq!(second.as_str(), r#"{"id": 2}"#);
    /// assert_eq!(second.pinned_bytes(), page.len());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn in_page(page: &Arc<String>, part: &RawValue) -> RawJson {
        match span_in(page, part.get()) {
            Some(range) => RawJson {
                text: Arc::clone(page),
                range,
            },
            None => RawJson::from_raw_value(part),
        }
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.text[self.range.clone()]
    }

    /// Length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Never true (the shortest JSON text is one digit); present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// Whether this is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.as_str() == "null"
    }

    /// Whether this is a JSON object.
    pub fn is_object(&self) -> bool {
        self.as_str().starts_with('{')
    }

    /// Whether this is a JSON array.
    pub fn is_array(&self) -> bool {
        self.as_str().starts_with('[')
    }

    /// Parse into a `serde_json::Value` (a new tree each call).
    pub fn to_value(&self) -> Value {
        // The text was valid JSON when this value was made and is never changed; `Null` is only
        // a guard (serde_json's recursion limit of 128 nested levels could, in principle, refuse
        // a value another decoder accepted).
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }

    /// Parse into `T` (any `Deserialize` type, e.g. your own struct for a vendor's answers).
    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.as_str())
    }

    /// Parse into `T`, which may borrow strings from this value's text.
    pub fn parse_borrowed<'a, T: Deserialize<'a>>(&'a self) -> serde_json::Result<T> {
        serde_json::from_str(self.as_str())
    }

    /// Bytes of text this value keeps alive: its own length once detached, the whole page while
    /// it is a slice of one.
    pub fn pinned_bytes(&self) -> usize {
        self.text.len()
    }

    /// Whether this value holds only its own text (it pins no page).
    pub fn is_detached(&self) -> bool {
        self.range.len() == self.text.len()
    }

    /// Copy this value's text out of the page it shares, so keeping this value no longer keeps
    /// the page alive. Costs one allocation and a copy of [`RawJson::len`] bytes; does nothing
    /// when the value is already detached.
    pub fn detach(&mut self) {
        if !self.is_detached() {
            *self = RawJson::owned(self.as_str());
        }
    }

    /// Detach `outer`, and re-point `inner` into `outer`'s new copy when `inner` is a part of
    /// `outer` (e.g. a delivery's answers inside its raw record), so the text is copied once.
    pub(crate) fn detach_pair(outer: &mut RawJson, inner: &mut RawJson) {
        if outer.is_detached() {
            inner.detach();
            return;
        }
        let nested = Arc::ptr_eq(&outer.text, &inner.text)
            && outer.range.start <= inner.range.start
            && inner.range.end <= outer.range.end;
        let offset = outer.range.start;
        outer.detach();
        if nested {
            *inner = RawJson {
                text: Arc::clone(&outer.text),
                range: inner.range.start - offset..inner.range.end - offset,
            };
        } else {
            inner.detach();
        }
    }
}

/// Where `part` lies in `page`, if it is a subslice of it.
fn span_in(page: &str, part: &str) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(page.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= page.len()).then_some(start..end)
}

impl Default for RawJson {
    /// `null`.
    fn default() -> Self {
        RawJson::null()
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl Eq for RawJson {}

impl PartialEq<Value> for RawJson {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

impl PartialEq<RawJson> for Value {
    fn eq(&self, other: &RawJson) -> bool {
        *self == other.to_value()
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        RawJson::from_value(&value)
    }
}

impl From<&Value> for RawJson {
    fn from(value: &Value) -> Self {
        RawJson::from_value(value)
    }
}

impl From<RawJson> for Value {
    fn from(raw: RawJson) -> Self {
        raw.to_value()
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        RawJson::from_raw_value(&raw)
    }
}

impl std::str::FromStr for RawJson {
    type Err = serde_json::Error;
    fn from_str(text: &str) -> serde_json::Result<RawJson> {
        RawJson::from_text(text)
    }
}

impl AsRef<str> for RawJson {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for RawJson {
    /// serde_json (writers and `to_value`) receives the text as raw JSON and writes it
    /// verbatim, as it does for `Box<RawValue>`; other formats see the same private struct
    /// `RawValue` produces, so convert with [`RawJson::to_value`] for them.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct(RAW_TOKEN, 1)?;
        s.serialize_field(RAW_TOKEN, self.as_str())?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for RawJson {
    /// From any JSON value: serde_json hands over the text as written (copied); other
    /// deserializers are read into a `Value` first.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(RAW_TOKEN, RawJsonVisitor)
    }
}

/// Accepts serde_json's raw-text protocol (a one-entry map keyed by [`RAW_TOKEN`]) and, from
/// other deserializers, any value.
struct RawJsonVisitor;

impl<'de> Visitor<'de> for RawJsonVisitor {
    type Value = RawJson;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<RawJson, D::Error> {
        Ok(RawJson::from_value(&Value::deserialize(d)?))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawJson, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(RawJson::owned("{}"));
        };
        if first == RAW_TOKEN {
            return map.next_value_seed(TextSeed);
        }
        let mut object = serde_json::Map::new();
        object.insert(first, map.next_value()?);
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            object.insert(k, v);
        }
        Ok(RawJson::from_value(&Value::Object(object)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawJson, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(RawJson::from_value(&Value::Array(items)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawJson, E> {
        Ok(RawJson::from_value(&Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawJson, E> {
        Ok(RawJson::from_value(&Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawJson, E> {
        Ok(RawJson::from_value(&Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawJson, E> {
        Ok(RawJson::from_value(&Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawJson, E> {
        Ok(RawJson::from_value(&Value::String(v.to_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawJson, E> {
        Ok(RawJson::null())
    }

    fn visit_none<E: de::Error>(self) -> Result<RawJson, E> {
        Ok(RawJson::null())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawJson, D::Error> {
        RawJson::deserialize(d)
    }
}

/// The value under [`RAW_TOKEN`]: the JSON text itself.
struct TextSeed;

impl<'de> de::DeserializeSeed<'de> for TextSeed {
    type Value = RawJson;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawJson, D::Error> {
        d.deserialize_str(TextSeed)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = RawJson;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("raw JSON text")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<RawJson, E> {
        Ok(RawJson::owned(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_is_by_json_meaning() {
        let a: RawJson = r#"{"a":1,"b":[true,null]}"#.parse().unwrap();
        let b: RawJson = "{ \"b\": [true, null],\n \"a\": 1 }".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a, json!({"a": 1, "b": [true, null]}));
        assert_eq!(json!({"a": 1, "b": [true, null]}), b);
        assert_ne!(a, "{\"a\":2,\"b\":[true,null]}".parse::<RawJson>().unwrap());
        assert_ne!(a, json!({"a": 1}));
        assert_eq!(RawJson::null(), Value::Null);
        assert!(RawJson::default().is_null());
    }

    #[test]
    fn debug_and_display_show_the_json() {
        let a: RawJson = r#"  {"label": "cat"} "#.parse().unwrap();
        assert_eq!(format!("{a:?}"), r#"{"label": "cat"}"#);
        assert_eq!(a.to_string(), r#"{"label": "cat"}"#);
        assert!(a.is_object() && !a.is_array() && !a.is_null());
    }

    #[test]
    fn serde_json_writes_the_text_verbatim_and_reads_any_json() {
        // If serde_json ever renamed its raw-value token, these would fail.
        let text = r#"{"z": 1, "a": [1.50, "x"]}"#;
        let a: RawJson = text.parse().unwrap();
        #[derive(Serialize, Deserialize)]
        struct Line {
            id: u32,
            answers: RawJson,
        }
        let line = serde_json::to_string(&Line {
            id: 7,
            answers: a.clone(),
        })
        .unwrap();
        assert_eq!(line, format!(r#"{{"id":7,"answers":{text}}}"#));
        // Into a Value: parsed, not a string.
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v, json!({"z": 1, "a": [1.5, "x"]}));
        // Pretty output still holds the same value.
        let pretty = serde_json::to_string_pretty(&json!({"k": v})).unwrap();
        assert!(pretty.contains("\"z\": 1"), "{pretty}");

        // Back from text (borrowed and streamed readers) and from a Value.
        let back: Line = serde_json::from_str(&line).unwrap();
        assert_eq!(back.answers.as_str(), text);
        let back: Line = serde_json::from_reader(line.as_bytes()).unwrap();
        assert_eq!(back.answers.as_str(), text);
        let back: Line =
            serde_json::from_value(json!({"id": 1, "answers": [1, {"b": null}]})).unwrap();
        assert_eq!(back.answers, json!([1, {"b": null}]));
        for v in [
            json!(null),
            json!(true),
            json!(-3),
            json!(2.5),
            json!("s"),
            json!({}),
        ] {
            let r: RawJson = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(r, v);
            let r: RawJson = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(r.as_str(), v.to_string());
        }
        // Inside an Option: null is None, as for Value.
        let o: Option<RawJson> = serde_json::from_str("null").unwrap();
        assert!(o.is_none());
        assert!("{".parse::<RawJson>().is_err());
        assert!("1 2".parse::<RawJson>().is_err());
    }

    #[test]
    fn other_deserializers_read_any_value() {
        use serde::de::value::{MapDeserializer, SeqDeserializer};
        let map = MapDeserializer::<_, serde::de::value::Error>::new(
            vec![("a", 1u32), ("b", 2)].into_iter(),
        );
        let r = RawJson::deserialize(map).unwrap();
        assert_eq!(r, json!({"a": 1, "b": 2}));
        let seq = SeqDeserializer::<_, serde::de::value::Error>::new(vec![true, false].into_iter());
        assert_eq!(RawJson::deserialize(seq).unwrap(), json!([true, false]));
    }

    #[test]
    fn page_slices_share_the_page_until_detached() {
        let page = Arc::new(r#"{"tasks":[{"id":"t1","answers":{"x":1}}]}"#.to_owned());
        #[derive(Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            tasks: Vec<&'a RawValue>,
        }
        let parsed: Page<'_> = serde_json::from_str(&page).unwrap();
        let task = RawJson::in_page(&page, parsed.tasks[0]);
        assert_eq!(task.as_str(), r#"{"id":"t1","answers":{"x":1}}"#);
        assert_eq!(task.pinned_bytes(), page.len());
        assert!(!task.is_detached());
        #[derive(Deserialize)]
        struct Task<'a> {
            #[serde(borrow)]
            answers: &'a RawValue,
        }
        let t: Task<'_> = task.parse_borrowed().unwrap();
        let mut answers = RawJson::in_page(&task.text, t.answers);
        assert_eq!(answers.as_str(), r#"{"x":1}"#);
        assert_eq!(Arc::strong_count(&page), 3);

        let mut raw = task.clone();
        RawJson::detach_pair(&mut raw, &mut answers);
        assert!(raw.is_detached() && raw.pinned_bytes() == raw.len());
        assert_eq!(answers.as_str(), r#"{"x":1}"#);
        assert!(
            Arc::ptr_eq(&raw.text, &answers.text),
            "answers re-pointed into raw's copy"
        );
        assert_eq!(
            Arc::strong_count(&page),
            2,
            "only `task` still holds the page"
        );
        let mut t2 = task;
        t2.detach();
        assert_eq!(Arc::strong_count(&page), 1);
        // Not inside the page: copied.
        let elsewhere: Box<RawValue> = RawValue::from_string("[1]".into()).unwrap();
        let copied = RawJson::in_page(&page, &elsewhere);
        assert!(copied.is_detached() && copied.as_str() == "[1]");
    }
}
