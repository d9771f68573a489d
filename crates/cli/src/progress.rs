//! Progress bars (indicatif) for long work, and the adapter that feeds them from labelmux's
//! [`ProgressEvent`]s. Bars draw on stderr and are hidden when stdout or stderr is not a
//! terminal, or under `-q`, so pipes and logs stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use labelmux::{ProgressEvent, ProgressObserver};
use std::io::IsTerminal;
use std::time::Duration;

/// Makes progress bars, or hidden ones.
#[derive(Debug, Clone, Copy)]
pub struct Bars {
    visible: bool,
}

impl Bars {
    /// Bars shown only if `quiet` is false and both stdout and stderr are terminals.
    pub fn detect(quiet: bool) -> Self {
        Bars {
            visible: !quiet && std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
        }
    }

    /// Bars that never draw (tests, JSON output).
    pub fn hidden() -> Self {
        Bars { visible: false }
    }

    /// Whether bars draw.
    pub fn visible(&self) -> bool {
        self.visible
    }

    fn make(&self, len: Option<u64>, template: &str, message: &str) -> ProgressBar {
        let bar = match len {
            Some(n) => ProgressBar::with_draw_target(Some(n), self.target()),
            None => ProgressBar::with_draw_target(None, self.target()),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            // indicatif's own {per_sec} prints four decimals; whole items per second read better.
            let style = style
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", state.per_sec());
                    },
                )
                .progress_chars("=> ");
            bar.set_style(style);
        }
        bar.set_message(message.to_owned());
        if self.visible {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// Tasks handed to the vendor, out of `total`.
    pub fn tasks(&self, total: u64, message: &str) -> ProgressBar {
        self.make(
            Some(total),
            "{spinner} {msg} [{bar:30}] {pos}/{len} tasks ({rate}, eta {eta})",
            message,
        )
    }

    /// A batch being created or worked: `done` of `total` tasks.
    pub fn waiting(&self, total: u64, message: &str) -> ProgressBar {
        self.make(
            Some(total),
            "{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})",
            message,
        )
    }

    /// Items received with no known total (deliveries): count and rate.
    pub fn items(&self, unit: &str, message: &str) -> ProgressBar {
        self.make(
            None,
            &format!("{{spinner}} {{msg}} {{pos}} {unit} ({{rate}}, {{elapsed}})"),
            message,
        )
    }
}

/// Feeds a bar from a labelmux operation: [`ProgressEvent::TasksSent`] and
/// [`ProgressEvent::ItemsReceived`] advance it, [`ProgressEvent::Phase`] becomes its message.
#[derive(Debug, Clone)]
pub struct BarObserver {
    bar: ProgressBar,
}

impl BarObserver {
    /// An observer driving `bar`.
    pub fn new(bar: ProgressBar) -> Self {
        BarObserver { bar }
    }
}

impl ProgressObserver for BarObserver {
    fn on_progress(&self, event: ProgressEvent) {
        match event {
            ProgressEvent::Phase(p) => self.bar.set_message(p),
            ProgressEvent::TasksSent(n) | ProgressEvent::ItemsReceived(n) => self.bar.inc(n),
            ProgressEvent::BatchOpened(id) => self.bar.set_message(format!("batch {id}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observer_counts_tasks_and_shows_phases() {
        let bar = Bars::hidden().tasks(10, "sending");
        let obs = BarObserver::new(bar.clone());
        obs.on_progress(ProgressEvent::TasksSent(3));
        obs.on_progress(ProgressEvent::TasksSent(4));
        obs.on_progress(ProgressEvent::Phase("finalizing"));
        obs.on_progress(ProgressEvent::ItemsReceived(1));
        assert_eq!(bar.position(), 8);
        assert_eq!(bar.message(), "finalizing");
        assert_eq!(bar.length(), Some(10));
        assert!(!Bars::hidden().visible());
    }
}
