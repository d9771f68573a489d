//! Fault injection for vendor-API requests: injected error statuses, bursts of 429, dropped
//! connections (before the handler acts, or after it acted: the answer lost or cut short), added
//! latency, optionally only for one method or path, reproducible with a seed.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

/// Which faults the emulator injects into vendor-API requests (never into `/_emulator/` control
/// routes). Rates are fractions in `[0, 1]`; out-of-range or NaN values are clamped. Faults are
/// decided before the vendor handler runs. Every kind but the "after" kinds (`drop_after_rate`,
/// `drop_after_next`, `truncate_after_rate`) answers instead of the handler, so the request has
/// no effect on the store; those let the handler act and then lose its answer, as a proxy or
/// network failing on the way back does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Fraction of vendor-API requests answered 503.
    pub unavailable_rate: f64,
    /// Fraction answered 500.
    pub internal_rate: f64,
    /// Fraction answered 429 with a `Retry-After` header.
    pub throttle_rate: f64,
    /// Fraction answered with a success status (200) whose body reports throttling, for vendors
    /// whose servers signal a throttle that way (Segments' SDK raises `APILimitError` on it).
    pub soft_throttle_rate: f64,
    /// `Retry-After` value (seconds, fractional allowed, e.g. 0.05) sent with injected 429s.
    pub retry_after_secs: f64,
    /// The next N vendor-API requests get 429 (a burst); counts down as requests arrive.
    pub burst_429: u32,
    /// Fraction whose TCP connection is closed without any response.
    pub drop_rate: f64,
    /// Fraction the vendor handler acts on, whose connection is then closed without the
    /// response: an answer lost *after* the vendor acted (a create done, a cursor moved).
    pub drop_after_rate: f64,
    /// The next N vendor-API requests (in scope) are acted on, then their answer is lost as with
    /// `drop_after_rate`; counts down as requests arrive, after any `burst_429`.
    pub drop_after_next: u32,
    /// Fraction the vendor handler acts on whose response is cut short: the head (with the full
    /// `Content-Length`) and half of the body are sent, then the connection is closed.
    pub truncate_after_rate: f64,
    /// Only requests with this method (e.g. `"POST"`, any case) are faulted; others pass
    /// untouched and use up no random draw or burst. All methods when absent.
    pub only_method: Option<String>,
    /// Only requests whose path contains this text (e.g. `"batches.json"`) are faulted; others
    /// pass untouched. All paths when absent.
    pub only_path_containing: Option<String>,
    /// Milliseconds added to every vendor-API request.
    pub latency_ms: u64,
    /// Seed that makes the fault sequence reproducible (random when absent).
    pub seed: Option<u64>,
}

/// What to do with one vendor-API request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FaultAction {
    /// Let the vendor handler answer.
    Pass,
    /// Answer with this status (429 carries `retry_after`).
    Status {
        status: u16,
        retry_after: Option<f64>,
    },
    /// Close the connection without a response.
    Drop,
    /// Let the vendor handler act, then close the connection without its response.
    DropAfter,
    /// Let the vendor handler act, then send half of its response and close the connection.
    TruncateAfter,
}

struct FaultState {
    config: FaultConfig,
    rng: fastrand::Rng,
    burst_left: u32,
    drop_after_left: u32,
}

/// Thread-safe fault decision maker shared by all connections.
pub(crate) struct FaultInjector {
    state: Mutex<FaultState>,
}

fn clamp_rate(r: f64) -> f64 {
    if r.is_nan() {
        0.0
    } else {
        r.clamp(0.0, 1.0)
    }
}

fn sanitize(mut c: FaultConfig) -> FaultConfig {
    c.unavailable_rate = clamp_rate(c.unavailable_rate);
    c.internal_rate = clamp_rate(c.internal_rate);
    c.throttle_rate = clamp_rate(c.throttle_rate);
    c.soft_throttle_rate = clamp_rate(c.soft_throttle_rate);
    c.drop_rate = clamp_rate(c.drop_rate);
    c.drop_after_rate = clamp_rate(c.drop_after_rate);
    c.truncate_after_rate = clamp_rate(c.truncate_after_rate);
    if !c.retry_after_secs.is_finite() || c.retry_after_secs < 0.0 {
        c.retry_after_secs = 0.0;
    }
    c
}

impl FaultState {
    fn new(config: FaultConfig) -> Self {
        let config = sanitize(config);
        let rng = match config.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        FaultState {
            burst_left: config.burst_429,
            drop_after_left: config.drop_after_next,
            config,
            rng,
        }
    }
}

impl FaultInjector {
    pub(crate) fn new(config: FaultConfig) -> Self {
        FaultInjector {
            state: Mutex::new(FaultState::new(config)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        // A panic elsewhere must not disable the emulator: take the state anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace the configuration; restarts the seeded sequence and the 429 burst.
    pub(crate) fn set(&self, config: FaultConfig) {
        *self.lock() = FaultState::new(config);
    }

    pub(crate) fn config(&self) -> FaultConfig {
        let s = self.lock();
        let mut c = s.config.clone();
        c.burst_429 = s.burst_left;
        c.drop_after_next = s.drop_after_left;
        c
    }

    /// Whether a request is in the scope of the faults (`only_method`, `only_path_containing`).
    pub(crate) fn applies_to(&self, method: &str, path: &str) -> bool {
        let s = self.lock();
        let c = &s.config;
        c.only_method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && c.only_path_containing
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }

    /// Decide the fate of the next request: added latency and an action. Exactly one random
    /// draw per request keeps a seeded sequence reproducible for a sequential client.
    pub(crate) fn decide(&self) -> (Duration, FaultAction) {
        let mut s = self.lock();
        let latency = Duration::from_millis(s.config.latency_ms);
        if s.burst_left > 0 {
            s.burst_left -= 1;
            let retry_after = Some(s.config.retry_after_secs);
            return (
                latency,
                FaultAction::Status {
                    status: 429,
                    retry_after,
                },
            );
        }
        if s.drop_after_left > 0 {
            s.drop_after_left -= 1;
            return (latency, FaultAction::DropAfter);
        }
        let c = &s.config;
        let total = c.drop_rate
            + c.drop_after_rate
            + c.truncate_after_rate
            + c.unavailable_rate
            + c.internal_rate
            + c.throttle_rate
            + c.soft_throttle_rate;
        if total <= 0.0 {
            return (latency, FaultAction::Pass);
        }
        let (drop, drop_after, truncate_after) =
            (c.drop_rate, c.drop_after_rate, c.truncate_after_rate);
        let (unavailable, internal, throttle, soft, ra) = (
            c.unavailable_rate,
            c.internal_rate,
            c.throttle_rate,
            c.soft_throttle_rate,
            c.retry_after_secs,
        );
        let r = s.rng.f64();
        let mut edge = drop;
        if r < edge {
            return (latency, FaultAction::Drop);
        }
        edge += drop_after;
        if r < edge {
            return (latency, FaultAction::DropAfter);
        }
        edge += truncate_after;
        if r < edge {
            return (latency, FaultAction::TruncateAfter);
        }
        edge += unavailable;
        if r < edge {
            return (
                latency,
                FaultAction::Status {
                    status: 503,
                    retry_after: None,
                },
            );
        }
        edge += internal;
        if r < edge {
            return (
                latency,
                FaultAction::Status {
                    status: 500,
                    retry_after: None,
                },
            );
        }
        edge += throttle;
        if r < edge {
            return (
                latency,
                FaultAction::Status {
                    status: 429,
                    retry_after: Some(ra),
                },
            );
        }
        edge += soft;
        if r < edge {
            return (
                latency,
                FaultAction::Status {
                    status: 200,
                    retry_after: Some(ra),
                },
            );
        }
        (latency, FaultAction::Pass)
    }
}

/// `Retry-After` header text: whole seconds as an integer, otherwise the shortest decimal.
pub(crate) fn retry_after_header(secs: f64) -> String {
    if secs.fract() == 0.0 && secs < 1e15 {
        format!("{}", secs as u64)
    } else {
        format!("{secs}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(inj: &FaultInjector, n: usize) -> Vec<FaultAction> {
        (0..n).map(|_| inj.decide().1).collect()
    }

    #[test]
    fn seeded_sequences_repeat_and_rates_roughly_hold() {
        let cfg = FaultConfig {
            unavailable_rate: 0.2,
            drop_rate: 0.1,
            throttle_rate: 0.2,
            retry_after_secs: 0.05,
            seed: Some(7),
            ..Default::default()
        };
        let a = FaultInjector::new(cfg.clone());
        let b = FaultInjector::new(cfg.clone());
        let sa = sequence(&a, 500);
        assert_eq!(sa, sequence(&b, 500));
        // set() restarts the sequence
        a.set(cfg);
        assert_eq!(sa, sequence(&a, 500));
        let passes = sa.iter().filter(|x| **x == FaultAction::Pass).count();
        assert!((200..=300).contains(&passes), "passes={passes}");
        assert!(sa.contains(&FaultAction::Drop));
        assert!(sa.contains(&FaultAction::Status {
            status: 429,
            retry_after: Some(0.05)
        }));
    }

    #[test]
    fn answers_lost_after_acting_are_drawn_at_their_rates() {
        let inj = FaultInjector::new(FaultConfig {
            drop_after_rate: 0.2,
            truncate_after_rate: 7.0,
            seed: Some(3),
            ..Default::default()
        });
        // Clamped: 0.2 + 1.0 covers every draw, the first 20% dropped after acting.
        assert_eq!(inj.config().truncate_after_rate, 1.0);
        let s = sequence(&inj, 500);
        let dropped = s.iter().filter(|a| **a == FaultAction::DropAfter).count();
        let truncated = s
            .iter()
            .filter(|a| **a == FaultAction::TruncateAfter)
            .count();
        assert_eq!(dropped + truncated, 500);
        assert!((60..=140).contains(&dropped), "dropped={dropped}");
    }

    #[test]
    fn soft_throttles_answer_200_with_retry_after() {
        let inj = FaultInjector::new(FaultConfig {
            soft_throttle_rate: 1.0,
            retry_after_secs: 2.0,
            ..Default::default()
        });
        assert_eq!(
            inj.decide().1,
            FaultAction::Status {
                status: 200,
                retry_after: Some(2.0)
            }
        );
    }

    #[test]
    fn burst_counts_down_then_passes() {
        let inj = FaultInjector::new(FaultConfig {
            burst_429: 2,
            retry_after_secs: 1.0,
            ..Default::default()
        });
        assert_eq!(inj.config().burst_429, 2);
        let s = sequence(&inj, 3);
        assert!(matches!(s[0], FaultAction::Status { status: 429, .. }));
        assert!(matches!(s[1], FaultAction::Status { status: 429, .. }));
        assert_eq!(s[2], FaultAction::Pass);
        assert_eq!(inj.config().burst_429, 0);
    }

    #[test]
    fn answers_lost_after_the_handler_acted_come_by_count_and_by_rate_within_scope() {
        let inj = FaultInjector::new(FaultConfig {
            drop_after_next: 2,
            only_method: Some("post".into()),
            only_path_containing: Some("batches.json".into()),
            ..Default::default()
        });
        assert!(inj.applies_to("POST", "/v2/projects/1/batches.json"));
        assert!(!inj.applies_to("GET", "/v2/projects/1/batches.json"));
        assert!(!inj.applies_to("POST", "/v2/projects/1/batches/3/continue.json"));
        assert_eq!(inj.config().drop_after_next, 2);
        assert_eq!(
            sequence(&inj, 3),
            vec![
                FaultAction::DropAfter,
                FaultAction::DropAfter,
                FaultAction::Pass
            ]
        );
        assert_eq!(inj.config().drop_after_next, 0);
        let inj = FaultInjector::new(FaultConfig {
            drop_after_rate: 1.0,
            ..Default::default()
        });
        assert!(inj.applies_to("GET", "/anything"));
        assert!(sequence(&inj, 10)
            .iter()
            .all(|a| *a == FaultAction::DropAfter));
    }

    #[test]
    fn bad_rates_are_clamped_and_header_formats() {
        let inj = FaultInjector::new(FaultConfig {
            internal_rate: f64::NAN,
            unavailable_rate: 7.0,
            retry_after_secs: -3.0,
            ..Default::default()
        });
        let c = inj.config();
        assert_eq!(c.internal_rate, 0.0);
        assert_eq!(c.unavailable_rate, 1.0);
        assert_eq!(c.retry_after_secs, 0.0);
        assert!(sequence(&inj, 20).iter().all(|a| *a
            == FaultAction::Status {
                status: 503,
                retry_after: None
            }));
        assert_eq!(retry_after_header(2.0), "2");
        assert_eq!(retry_after_header(0.05), "0.05");
    }
}
