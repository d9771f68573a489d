//! Time helpers every vendor emulator needs: the clock in epoch milliseconds and its ISO-8601
//! rendering.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` (ISO-8601 UTC with milliseconds and `Z`) of epoch milliseconds.
pub(crate) fn iso_millis_z(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_render_with_z() {
        assert_eq!(iso_millis_z(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert!(now_ms() > 1_714_564_800_123);
    }
}
