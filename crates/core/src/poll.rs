//! Waiting for asynchronous server jobs (Labelbox Tasks, Segments releases): probe, wait a
//! growing interval, give up after a timeout with an error that says what to do.

use crate::{Error, ErrorKind, Result, Vendor};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How often and how long [`poll_until`] probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollOptions {
    /// Wait after the first probe (at least 10 ms is used); grows ×1.5 per probe.
    pub interval: Duration,
    /// Longest wait between two probes.
    pub max_interval: Duration,
    /// Give up once this much time has passed since the first probe (one last probe is made
    /// at that moment).
    pub timeout: Duration,
}

impl Default for PollOptions {
    /// Every 2 s (Labelbox's minimum), growing to 30 s, for up to 5 minutes.
    fn default() -> Self {
        PollOptions {
            interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(300),
        }
    }
}

impl PollOptions {
    /// Set the first wait.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Set the longest wait.
    pub fn with_max_interval(mut self, max_interval: Duration) -> Self {
        self.max_interval = max_interval;
        self
    }

    /// Set how long to wait in all.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq)]
pub enum PollStatus<T> {
    /// The job finished with this result (which may itself describe a failure).
    Done(T),
    /// Still running; with a progress note (e.g. `"45%"`, `"IN_PROGRESS"`) when there is one.
    Pending(Option<String>),
}

/// Smallest wait between probes, so a zero interval cannot spin.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Call `probe` until it returns [`PollStatus::Done`], waiting `interval` after the first
/// probe, then ×1.5 each time up to `max_interval`. A probe's error is returned as is. When
/// `timeout` has passed, the error is of kind [`ErrorKind::Timeout`], names the vendor, the
/// operation and the last progress note, and says what to do.
pub async fn poll_until<T, F, Fut>(
    vendor: Vendor,
    operation: &'static str,
    options: PollOptions,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<PollStatus<T>>>,
{
    let started = Instant::now();
    let max_interval = options.max_interval.max(MIN_INTERVAL);
    let mut interval = options.interval.clamp(MIN_INTERVAL, max_interval);
    let mut note: Option<String> = None;
    let mut probes = 0u64;
    loop {
        probes += 1;
        match probe().await? {
            PollStatus::Done(result) => return Ok(result),
            PollStatus::Pending(n) => note = n.or(note),
        }
        let elapsed = started.elapsed();
        if elapsed >= options.timeout {
            return Err(timeout_error(vendor, operation, &options, note, probes));
        }
        tokio::time::sleep(interval.min(options.timeout - elapsed)).await;
        // Saturating: a huge configured interval must not overflow (`mul_f64` would panic).
        interval = Duration::try_from_secs_f64(interval.as_secs_f64() * 1.5)
            .unwrap_or(max_interval)
            .min(max_interval);
    }
}

fn timeout_error(
    vendor: Vendor,
    operation: &str,
    options: &PollOptions,
    note: Option<String>,
    probes: u64,
) -> Error {
    let progress = match note {
        Some(n) => format!("last progress: {n}"),
        None => "no progress reported".to_owned(),
    };
    Error::new(
        ErrorKind::Timeout,
        format!(
            "the {vendor} job is still running after {} ({probes} checks, {progress}); it may \
             still finish: wait longer (raise the poll timeout) or check its status later",
            human(options.timeout)
        ),
    )
    .with_vendor(vendor)
    .with_operation(operation)
}

/// `1.5 s`, `300 s`, `250 ms`.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Probes answer `Pending` with a note until the n-th, which is `Done`; records when each
    /// probe ran (paused clock, so the times are exact).
    fn scripted(
        done_at: usize,
        times: Arc<Mutex<Vec<Duration>>>,
        started: Instant,
    ) -> impl FnMut() -> std::future::Ready<Result<PollStatus<&'static str>>> {
        move || {
            let mut t = times.lock().unwrap();
            t.push(started.elapsed());
            let n = t.len();
            std::future::ready(Ok(if n == done_at {
                PollStatus::Done("COMPLETE")
            } else if n % 2 == 0 {
                PollStatus::Pending(None)
            } else {
                PollStatus::Pending(Some(format!("{}%", n * 10)))
            }))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn intervals_grow_by_half_up_to_the_maximum() {
        let times = Arc::new(Mutex::new(Vec::new()));
        let options = PollOptions::default()
            .with_interval(Duration::from_secs(2))
            .with_max_interval(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(600));
        let got = poll_until(
            Vendor::Labelbox,
            "wait_task",
            options,
            scripted(6, times.clone(), Instant::now()),
        )
        .await
        .unwrap();
        assert_eq!(got, "COMPLETE");
        let gaps: Vec<f64> = times
            .lock()
            .unwrap()
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        assert_eq!(gaps, [2.0, 3.0, 4.5, 5.0, 5.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_names_vendor_operation_and_last_note_and_probes_at_the_deadline() {
        let times = Arc::new(Mutex::new(Vec::new()));
        let options = PollOptions::default()
            .with_interval(Duration::from_secs(2))
            .with_max_interval(Duration::from_secs(4))
            .with_timeout(Duration::from_secs(8));
        let err = poll_until(
            Vendor::Segments,
            "create_release",
            options,
            scripted(usize::MAX, times.clone(), Instant::now()),
        )
        .await
        .unwrap_err();
        let times: Vec<f64> = times
            .lock()
            .unwrap()
            .iter()
            .map(Duration::as_secs_f64)
            .collect();
        // 0, +2, +3, then a wait cut short so that the last probe is exactly at the deadline.
        assert_eq!(times, [0.0, 2.0, 5.0, 8.0]);
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(err.vendor(), Some(Vendor::Segments));
        assert_eq!(err.operation(), Some("create_release"));
        let text = err.to_string();
        // The fourth probe had no note: the last note seen (third probe) is kept.
        assert!(text.contains("last progress: 30%"), "{text}");
        assert!(
            text.contains("after 8 s") && text.contains("wait longer"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_error_is_returned_unchanged_and_done_at_once_needs_no_wait() {
        let started = Instant::now();
        let got = poll_until(Vendor::Labelbox, "op", PollOptions::default(), || async {
            Ok(PollStatus::Done(7))
        })
        .await
        .unwrap();
        assert_eq!(got, 7);
        assert_eq!(started.elapsed(), Duration::ZERO);
        let err =
            poll_until::<(), _, _>(Vendor::Labelbox, "op", PollOptions::default(), || async {
                Err(Error::new(ErrorKind::Unauthorized, "bad key"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert_eq!(err.message(), "bad key");
    }

    #[tokio::test(start_paused = true)]
    async fn zero_and_huge_intervals_neither_spin_nor_panic() {
        let times = Arc::new(Mutex::new(Vec::new()));
        let options = PollOptions {
            interval: Duration::ZERO,
            max_interval: Duration::ZERO,
            timeout: Duration::from_millis(35),
        };
        let err = poll_until(
            Vendor::Labelbox,
            "op",
            options,
            scripted(usize::MAX, times.clone(), Instant::now()),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(times.lock().unwrap().len(), 5, "every 10 ms, then at 35 ms");
        let options = PollOptions {
            interval: Duration::MAX,
            max_interval: Duration::MAX,
            timeout: Duration::from_secs(1),
        };
        let times = Arc::new(Mutex::new(Vec::new()));
        poll_until(
            Vendor::Labelbox,
            "op",
            options,
            scripted(3, times.clone(), Instant::now()),
        )
        .await
        .unwrap_err();
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_secs(300)), "300 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    }
}
