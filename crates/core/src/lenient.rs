//! Lenient decoding helpers every adapter's `wire.rs` uses.
//!
//! Vendors send ids as numbers or strings, `null` for "absent", members of an unexpected type,
//! and timestamps in more than one form. The wire types of every adapter decode through these
//! helpers so that such a value becomes absent (or empty) instead of failing the whole object:
//!
//! * `deserialize_with` helpers: [`opt_string`], [`opt_time`], [`opt_time_or_epoch_millis`],
//!   [`opt_i64`], [`opt_u64`], [`u64_or_zero`], [`opt_bool`], [`opt_map`], [`map_or_empty`],
//!   [`opt_value`], [`string_list`], [`or_default`], [`null_as_default`], and the id helpers
//!   [`string_or_number`] / [`opt_string_or_number`];
//! * value readers: [`timestamp`], [`scalar_string`], [`key_string`], [`json_kind`].
//!
//! Each `opt_*` helper is meant for a field marked `#[serde(default, deserialize_with = ...)]`,
//! so that an absent member is `None` too.
//!
//! Typed vendor objects keep the JSON they were decoded from one way: a `raw: Value` field,
//! [`WithRaw`] (implemented with [`impl_with_raw!`](crate::impl_with_raw)) and
//! [`decode_with_raw`] / [`decode_list_with_raw`].

use crate::{Error, JsonMap, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub use crate::ids::{opt_string_or_number, string_or_number};

// ---------------------------------------------------------------------------------------------
// Value readers
// ---------------------------------------------------------------------------------------------

/// Parse a vendor timestamp leniently; `None` if it is in no known form.
///
/// Accepted: RFC 3339 with any fraction and `Z` or an offset (`2023-09-02T10:23:36.5367Z`,
/// `...+02:00`); a naive ISO date-time taken as UTC, with `T` or a space and an optional
/// trailing `Z` (`2023-09-02 10:23:36.123`); a space-separated date-time with a numeric offset
/// (`2023-09-02 10:23:36 +0200`); the legacy compact forms `20130715T04:45:57` and
/// `20130715T044557`; and a bare date (`2023-09-02`, midnight UTC). Surrounding whitespace is
/// ignored.
pub fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    const NAIVE: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y%m%dT%H:%M:%S%.f",
        "%Y%m%dT%H%M%S%.f",
    ];
    let trimmed = s.strip_suffix('Z').unwrap_or(s);
    for fmt in NAIVE {
        if let Ok(t) = NaiveDateTime::parse_from_str(trimmed, fmt) {
            return Some(t.and_utc());
        }
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A scalar as a string (strings as they are, numbers and booleans as written); `None` for
/// `null`, arrays and objects.
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value usable as a key (an external key, an idempotency key): a non-empty string, or a
/// number as written. `None` for empty strings, booleans, `null`, arrays and objects, which
/// identify nothing.
pub fn key_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Put `value` at `key` in a request body being built from task inputs, unless the inputs
/// already hold a *different* value there (an equal value is fine). Returns the clashing value
/// on conflict, leaving the map unchanged, so the adapter can say which input clashed.
pub fn insert_unless_conflict(map: &mut JsonMap, key: &str, value: Value) -> Result<(), Value> {
    match map.get(key) {
        Some(existing) if *existing != value => Err(existing.clone()),
        _ => {
            map.insert(key.to_owned(), value);
            Ok(())
        }
    }
}

/// What kind of JSON value `v` is, with an article, for error messages: `null`, `a boolean`,
/// `a number`, `a string`, `an array` or `an object`.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A finite number sent as a JSON number or as numeric text (`12.5`, `" 3 "`); vendors'
/// coordinates arrive both ways.
pub fn finite_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn i64_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            // An integral float (`3.0`) is the integer; the bound keeps the cast exact.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn u64_of(v: &Value) -> Option<u64> {
    match v {
        // A non-negative float is truncated (`3.9` counts as 3); negatives are absent.
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn time_of(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(timestamp)
}

// ---------------------------------------------------------------------------------------------
// `deserialize_with` helpers
// ---------------------------------------------------------------------------------------------

/// A scalar as a string (see [`scalar_string`]); `null`, arrays and objects give `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(scalar_string(&Value::deserialize(d)?))
}

/// A timestamp string in any form [`timestamp`] accepts; anything else (`null`, a number, an
/// unparseable string) gives `None`.
pub fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(time_of(&Value::deserialize(d)?))
}

/// Like [`opt_time`], but an integer is taken as milliseconds since the Unix epoch (for
/// vendors whose gateways have been seen to send them).
pub fn opt_time_or_epoch_millis<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().and_then(DateTime::<Utc>::from_timestamp_millis),
        v => time_of(&v),
    })
}

/// An integer from a JSON integer, an integral float (`3.0`) or a numeric string (`"-5"`);
/// anything else gives `None`.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(i64_of(&Value::deserialize(d)?))
}

/// A non-negative integer from a JSON integer, a non-negative float (truncated) or a numeric
/// string (`"12"`); negatives and anything else give `None`.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(u64_of(&Value::deserialize(d)?))
}

/// Like [`opt_u64`], with 0 for anything it would give `None` for (counts a vendor omits).
pub fn u64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(u64_of(&Value::deserialize(d)?).unwrap_or(0))
}

/// A boolean from `true`/`false` or the strings `"true"`/`"false"` (any case); anything else
/// gives `None`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(bool_of(&Value::deserialize(d)?))
}

/// A JSON object; anything else (`null` included) gives `None`.
pub fn opt_map<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JsonMap>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(m) => Some(m),
        _ => None,
    })
}

/// A JSON object; anything else (`null` included) gives an empty map.
pub fn map_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<JsonMap, D::Error> {
    Ok(opt_map(d)?.unwrap_or_default())
}

/// Any JSON value, with `null` meaning absent.
pub fn opt_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        v => Some(v),
    })
}

/// A list of strings: the scalars of an array, stringified (other elements are skipped); a
/// single string is a one-element list; anything else is an empty list.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items.iter().filter_map(scalar_string).collect(),
        Value::String(s) => vec![s],
        _ => Vec::new(),
    })
}

/// A `T` if the value decodes as one; otherwise (`null`, or any value of the wrong shape,
/// anywhere inside) `T::default()`.
pub fn or_default<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).unwrap_or_default())
}

/// A `T`, with `null` meaning `T::default()`. Unlike [`or_default`], a value of the wrong shape
/// is still an error: for members whose content must not be silently dropped.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Objects that keep the JSON they were decoded from (in a `raw` field).
pub trait WithRaw {
    /// Store the JSON the object was decoded from.
    fn set_raw(&mut self, raw: Value);
}

/// Implement [`WithRaw`] for types with a `raw: serde_json::Value` field.
#[macro_export]
macro_rules! impl_with_raw {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::lenient::WithRaw for $t {
            fn set_raw(&mut self, raw: $crate::reexports::serde_json::Value) {
                self.raw = raw;
            }
        }
    )*};
}

/// Decode `value` as `T` and keep `value` in it; `what` names the object and `source` the
/// vendor (`"Scale"`) in errors.
pub fn decode_with_raw<T: DeserializeOwned + WithRaw>(
    source: &str,
    value: Value,
    what: &str,
) -> Result<T> {
    let mut t = T::deserialize(&value)
        .map_err(|e| Error::decode(format!("unexpected {what} from {source}: {e}")))?;
    t.set_raw(value);
    Ok(t)
}

/// Decode a JSON array of `T`s with [`decode_with_raw`]; `null` is an empty list when
/// `null_is_empty`, anything else that is not an array a decode error.
pub fn decode_list_with_raw<T: DeserializeOwned + WithRaw>(
    source: &str,
    value: Value,
    what: &str,
    null_is_empty: bool,
) -> Result<Vec<T>> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|v| decode_with_raw(source, v, what))
            .collect(),
        Value::Null if null_is_empty => Ok(Vec::new()),
        other => Err(Error::decode(format!(
            "expected a list of {what} from {source}, got {}",
            json_kind(&other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use serde::de::IntoDeserializer;
    use serde_json::json;

    /// Run a `deserialize_with` helper on one JSON value.
    fn run<T>(
        f: fn(Value) -> Result<T, serde_json::Error>,
        v: Value,
    ) -> Result<T, serde_json::Error> {
        f(v)
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn timestamps_parse_in_every_known_form() {
        let base = at(2023, 9, 2, 10, 23, 36);
        let cases = [
            ("2023-09-02T10:23:36Z", Some(base)),
            (
                "2023-09-02T10:23:36.536167366Z",
                Some(base + Duration::nanoseconds(536_167_366)),
            ),
            (
                "2023-09-02T10:23:36.5Z",
                Some(base + Duration::milliseconds(500)),
            ),
            ("2023-09-02T12:23:36+02:00", Some(base)),
            ("2023-09-02T10:23:36.000+00:00", Some(base)),
            ("  2023-09-02T10:23:36Z \n", Some(base)),
            ("2023-09-02T10:23:36", Some(base)),
            ("2023-09-02 10:23:36", Some(base)),
            ("2023-09-02 10:23:36Z", Some(base)),
            (
                "2023-09-02 10:23:36.25",
                Some(base + Duration::milliseconds(250)),
            ),
            ("2023-09-02 12:23:36 +0200", Some(base)),
            ("20230902T10:23:36", Some(base)),
            ("20230902T102336", Some(base)),
            ("2023-09-02", Some(at(2023, 9, 2, 0, 0, 0))),
            ("", None),
            ("   ", None),
            ("yesterday", None),
            ("2023-13-45T99:00:00Z", None),
            ("2023-02-30", None),
            ("1693650216", None),
        ];
        for (s, want) in cases {
            assert_eq!(timestamp(s), want, "{s:?}");
        }
    }

    #[test]
    fn scalars_keys_and_kinds() {
        let cases = [
            (json!("a"), Some("a"), Some("a"), "a string"),
            (json!(""), Some(""), None, "a string"),
            (json!(42), Some("42"), Some("42"), "a number"),
            (json!(-1.5), Some("-1.5"), Some("-1.5"), "a number"),
            (json!(true), Some("true"), None, "a boolean"),
            (json!(null), None, None, "null"),
            (json!([1]), None, None, "an array"),
            (json!({"a": 1}), None, None, "an object"),
        ];
        for (v, scalar, key, kind) in cases {
            assert_eq!(scalar_string(&v).as_deref(), scalar, "{v}");
            assert_eq!(key_string(&v).as_deref(), key, "{v}");
            assert_eq!(json_kind(&v), kind, "{v}");
        }
    }

    #[test]
    fn opt_string_keeps_scalars_only() {
        let cases = [
            (json!("x"), Some("x")),
            (json!(117), Some("117")),
            (json!(false), Some("false")),
            (json!(null), None),
            (json!(["x"]), None),
            (json!({}), None),
        ];
        for (v, want) in cases {
            assert_eq!(run(opt_string, v.clone()).unwrap().as_deref(), want, "{v}");
        }
    }

    #[test]
    fn opt_time_reads_strings_and_optionally_epoch_millis() {
        let t = at(2016, 6, 23, 9, 9, 34) + Duration::milliseconds(752);
        let cases = [
            (json!("2016-06-23T09:09:34.752Z"), Some(t), Some(t)),
            (json!(t.timestamp_millis()), None, Some(t)),
            (
                json!(12),
                None,
                Some(DateTime::from_timestamp_millis(12).unwrap()),
            ),
            (json!(1.5), None, None),
            (json!("soon"), None, None),
            (json!(null), None, None),
            (json!({"t": 1}), None, None),
        ];
        for (v, strict, millis) in cases {
            assert_eq!(run(opt_time, v.clone()).unwrap(), strict, "{v}");
            assert_eq!(
                run(opt_time_or_epoch_millis, v.clone()).unwrap(),
                millis,
                "{v}"
            );
        }
    }

    #[test]
    fn integers_from_numbers_floats_and_strings() {
        let cases: [(Value, Option<i64>, Option<u64>); 14] = [
            (json!(5), Some(5), Some(5)),
            (json!(-5), Some(-5), None),
            (json!(3.0), Some(3), Some(3)),
            (json!(3.9), None, Some(3)),
            (json!(-3.0), Some(-3), None),
            (json!(" 12 "), Some(12), Some(12)),
            (json!("-5"), Some(-5), None),
            (json!("3.5"), None, None),
            (json!("many"), None, None),
            (json!(u64::MAX), None, Some(u64::MAX)),
            (json!(1.0e20), None, Some(u64::MAX)),
            (json!(true), None, None),
            (json!(null), None, None),
            (json!([1]), None, None),
        ];
        for (v, i, u) in cases {
            assert_eq!(run(opt_i64, v.clone()).unwrap(), i, "{v}");
            assert_eq!(run(opt_u64, v.clone()).unwrap(), u, "{v}");
            assert_eq!(run(u64_or_zero, v.clone()).unwrap(), u.unwrap_or(0), "{v}");
        }
    }

    #[test]
    fn booleans_from_bools_and_strings() {
        let cases = [
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!("TRUE"), Some(true)),
            (json!("false"), Some(false)),
            (json!("yes"), None),
            (json!(1), None),
            (json!(null), None),
        ];
        for (v, want) in cases {
            assert_eq!(run(opt_bool, v.clone()).unwrap(), want, "{v}");
        }
    }

    #[test]
    fn maps_values_and_lists() {
        let obj = json!({"a": 1});
        let map = obj.as_object().unwrap().clone();
        let cases = [
            (obj.clone(), Some(map.clone())),
            (json!({}), Some(JsonMap::new())),
            (json!(null), None),
            (json!("not an object"), None),
            (json!([{"a": 1}]), None),
        ];
        for (v, want) in cases {
            assert_eq!(run(opt_map, v.clone()).unwrap(), want, "{v}");
            assert_eq!(
                run(map_or_empty, v.clone()).unwrap(),
                want.unwrap_or_default(),
                "{v}"
            );
        }

        assert_eq!(run(opt_value, json!(null)).unwrap(), None);
        assert_eq!(run(opt_value, json!(0)).unwrap(), Some(json!(0)));
        assert_eq!(run(opt_value, json!(false)).unwrap(), Some(json!(false)));

        let lists = [
            (
                json!(["a", 2, true, null, {"x": 1}]),
                vec!["a", "2", "true"],
            ),
            (json!("solo"), vec!["solo"]),
            (json!(7), vec![]),
            (json!(null), vec![]),
            (json!({"a": "b"}), vec![]),
        ];
        for (v, want) in lists {
            assert_eq!(run(string_list, v.clone()).unwrap(), want, "{v}");
        }
    }

    #[test]
    fn or_default_drops_wrong_shapes_and_null_as_default_rejects_them() {
        assert_eq!(
            run(or_default::<_, Vec<i64>>, json!([1, 2])).unwrap(),
            [1, 2]
        );
        assert!(run(or_default::<_, Vec<i64>>, json!([1, "x"]))
            .unwrap()
            .is_empty());
        assert!(run(or_default::<_, Vec<i64>>, json!(null))
            .unwrap()
            .is_empty());
        assert_eq!(run(or_default::<_, Option<i64>>, json!("3")).unwrap(), None);
        assert!(!run(or_default::<_, bool>, json!("true")).unwrap());

        assert_eq!(
            run(null_as_default::<_, Vec<i64>>, json!([1, 2])).unwrap(),
            [1, 2]
        );
        assert!(run(null_as_default::<_, Vec<i64>>, json!(null))
            .unwrap()
            .is_empty());
        assert!(run(null_as_default::<_, Vec<i64>>, json!("x")).is_err());
        assert!(run(null_as_default::<_, Vec<i64>>, json!([1, "x"])).is_err());
    }

    #[test]
    fn helpers_work_as_deserialize_with_on_absent_and_unknown_members() {
        #[derive(Debug, Deserialize)]
        struct Wire {
            #[serde(default, deserialize_with = "opt_string_or_number")]
            id: Option<String>,
            #[serde(default, deserialize_with = "opt_string")]
            name: Option<String>,
            #[serde(default, deserialize_with = "opt_time")]
            at: Option<DateTime<Utc>>,
            #[serde(default, deserialize_with = "opt_u64")]
            count: Option<u64>,
            #[serde(default, deserialize_with = "map_or_empty")]
            data: JsonMap,
            #[serde(default, deserialize_with = "string_list")]
            tags: Vec<String>,
        }
        let w: Wire = serde_json::from_value(json!({
            "id": 7, "name": null, "at": "20130715T04:45:57", "count": "3",
            "data": [], "tags": "t", "unknown_extra": {"x": [1]}
        }))
        .unwrap();
        assert_eq!(w.id.as_deref(), Some("7"));
        assert_eq!(w.name, None);
        assert_eq!(w.at, Some(at(2013, 7, 15, 4, 45, 57)));
        assert_eq!(w.count, Some(3));
        assert!(w.data.is_empty());
        assert_eq!(w.tags, ["t"]);
        let empty: Wire = serde_json::from_value(json!({})).unwrap();
        assert!(empty.id.is_none() && empty.at.is_none() && empty.tags.is_empty());
        // The helpers also run on any other deserializer, not only `serde_json::Value`.
        let s: Option<String> =
            opt_string(IntoDeserializer::<serde::de::value::Error>::into_deserializer(5u8))
                .unwrap();
        assert_eq!(s.as_deref(), Some("5"));
    }

    #[test]
    fn insert_unless_conflict_keeps_the_first_different_value() {
        let mut m = JsonMap::new();
        m.insert("a".into(), Value::from(1));
        assert_eq!(insert_unless_conflict(&mut m, "a", Value::from(1)), Ok(()));
        assert_eq!(
            insert_unless_conflict(&mut m, "a", Value::from(2)),
            Err(Value::from(1))
        );
        assert_eq!(m["a"], Value::from(1));
        assert_eq!(insert_unless_conflict(&mut m, "b", Value::from(3)), Ok(()));
        assert_eq!(m["b"], Value::from(3));
    }
}
