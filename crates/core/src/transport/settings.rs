//! How duration settings are read: a number in the key's unit (`timeout_secs = 30`,
//! `initial_backoff_ms = 500`, `connect_timeout = 10` in seconds) or a string with its unit
//! (`"30s"`, `"500ms"`, `"2m"`, `"1h 30m"`).

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;
use std::time::Duration;

/// A setting's value: a number (in the key's unit) or a duration string.
enum Raw {
    Number(f64),
    Text(Duration),
}

struct RawVisitor;

impl Visitor<'_> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a number or a duration such as "30s", "500ms" or "2m""#)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Number(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        parse_duration(v).map(Raw::Text).map_err(E::custom)
    }
}

/// Parse `"30s"`, `"500ms"`, `"2m"`, `"1h 30m"` (units: ns, us, ms, s, m, h, d, and their long
/// forms); a bare number is not accepted here (the key's unit applies to numbers).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("{text:?} is not a duration such as \"30s\", \"500ms\" or \"2m\" ({e})")
    })
}

/// Seconds as a finite number, from a number of seconds or a duration string.
pub(crate) fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match d.deserialize_any(RawVisitor)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(t) => Ok(t.as_secs_f64()),
    }
}

/// Whole milliseconds, from a number of milliseconds or a duration string.
pub(crate) fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match d.deserialize_any(RawVisitor)? {
        Raw::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= u64::MAX as f64 => Ok(n as u64),
        Raw::Number(n) => Err(de::Error::custom(format!(
            "{n} is not a whole, non-negative number of milliseconds"
        ))),
        Raw::Text(t) => {
            u64::try_from(t.as_millis()).map_err(|_| de::Error::custom("the duration is too long"))
        }
    }
}

/// A [`Duration`] setting: a number of seconds or a duration string; written as a string.
pub(crate) mod duration {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match d.deserialize_any(RawVisitor)? {
            Raw::Text(t) => Ok(t),
            Raw::Number(n) => Duration::try_from_secs_f64(n).map_err(|_| {
                de::Error::custom(format!("{n} is not a valid non-negative number of seconds"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::TransportConfig;
    use super::*;
    use serde_json::json;

    fn read(v: serde_json::Value) -> Result<TransportConfig, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_are_numbers_in_the_keys_unit_or_strings_with_a_unit() {
        let c = read(json!({
            "timeout_secs": "1m",
            "deadline_secs": 90.5,
            "initial_backoff_ms": "2s",
            "max_backoff_ms": 750,
            "max_retry_after_secs": "500ms",
            "connect_timeout": 5,
            "read_idle_timeout": "1m 30s",
        }))
        .unwrap();
        assert_eq!(c.timeout_secs, 60.0);
        assert_eq!(c.deadline_secs, 90.5);
        assert_eq!(c.initial_backoff_ms, 2000);
        assert_eq!(c.max_backoff_ms, 750);
        assert_eq!(c.max_retry_after_secs, 0.5);
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.read_idle_timeout, Duration::from_secs(90));
        assert_eq!(
            read(json!({"connect_timeout": 0.25}))
                .unwrap()
                .connect_timeout,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn bad_durations_say_what_is_expected() {
        for (key, value) in [
            ("timeout_secs", json!("soon")),
            ("connect_timeout", json!("10 parsecs")),
            ("connect_timeout", json!(-1)),
            ("initial_backoff_ms", json!(1.5)),
            ("max_backoff_ms", json!(-5)),
            ("read_idle_timeout", json!(true)),
        ] {
            let err = read(json!({ key: value.clone() })).unwrap_err();
            assert!(
                err.contains("duration") || err.contains("milliseconds") || err.contains("seconds"),
                "{key} = {value}: {err}"
            );
        }
    }

    #[test]
    fn settings_round_trip_through_their_serialized_form() {
        let c = TransportConfig {
            connect_timeout: Duration::from_millis(1500),
            read_idle_timeout: Duration::from_secs(120),
            ..TransportConfig::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["connect_timeout"], "1s 500ms");
        assert_eq!(v["read_idle_timeout"], "2m");
        assert_eq!(read(v).unwrap(), c);
        // The keys that existed before keep reading numbers.
        let old =
            read(json!({"timeout_secs": 5, "max_attempts": 3, "initial_backoff_ms": 10})).unwrap();
        assert_eq!(
            (old.timeout_secs, old.max_attempts, old.initial_backoff_ms),
            (5.0, 3, 10)
        );
    }

    #[test]
    fn parse_duration_takes_the_usual_units() {
        for (text, want) in [
            ("30s", Duration::from_secs(30)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            (" 1h 30m ", Duration::from_secs(5400)),
        ] {
            assert_eq!(parse_duration(text).unwrap(), want, "{text}");
        }
        assert!(
            parse_duration("30").is_err(),
            "a unit is required in strings"
        );
    }
}
