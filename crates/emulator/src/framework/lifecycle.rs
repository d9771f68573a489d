//! The lifecycle clock: how tasks move forward without a real workforce.

use super::control::Control;
use std::time::Duration;
use tokio::sync::watch;

/// How the emulated workforce moves tasks through their lifecycle.
#[derive(Clone, Debug, PartialEq)]
pub enum Lifecycle {
    /// Tasks move only through [`Control`](crate::Control) or `/_emulator/` calls.
    Manual,
    /// Every `step`, each open task moves one lifecycle step forward (Sama: new -> in progress
    /// -> completed -> approved -> delivered, answers filled from `output_` pre-annotations or generated).
    Auto {
        /// Interval between two steps (a zero step is treated as 1 ms).
        step: Duration,
    },
}

/// Spawn the background clock of [`Lifecycle::Auto`]; it stops when `shutdown` fires.
pub(crate) fn spawn_auto(
    control: Control,
    step: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let step = step.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(step);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; tasks get one full step first
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let c = control.clone();
                    // Advancing a large store is CPU work under a lock: keep it off the
                    // async workers.
                    let _ = tokio::task::spawn_blocking(move || {
                        for p in c.shared.vendor.projects() {
                            c.advance(&p);
                        }
                    })
                    .await;
                }
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
    })
}
