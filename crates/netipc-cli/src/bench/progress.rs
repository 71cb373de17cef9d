//! The progress bar of a run, on stderr (hidden when stderr is not a
//! terminal): one bar over every scenario's warm-up and measurement.

use std::io::{self, IsTerminal};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::Timing;
use super::client::Stage;
use super::scenarios::Scenario;

/// The progress bar on stderr (hidden when stderr is not a terminal).
pub struct Progress {
    bar: ProgressBar,
    timing: Timing,
}

impl Progress {
    /// A bar over `runs` runs of `timing` each.
    pub fn new(runs: usize, timing: Timing) -> Self {
        let per = (timing.warmup + timing.duration).as_millis();
        let total = u64::try_from(per.saturating_mul(runs as u128)).unwrap_or(u64::MAX);
        let bar = if io::stderr().is_terminal() {
            ProgressBar::new(total)
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{msg:36} [{bar:40}] {percent:>3}% eta {eta}")
            .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        Self { bar, timing }
    }

    /// Run `index` (of `scenario`) is at `elapsed` into `stage`.
    pub fn at(&self, index: usize, scenario: &Scenario, stage: Stage, elapsed: Duration) {
        let per = self.timing.warmup + self.timing.duration;
        let (base, cap, what) = match stage {
            Stage::Warmup => (Duration::ZERO, self.timing.warmup, "warm-up"),
            Stage::Measure => (self.timing.warmup, self.timing.duration, "measuring"),
        };
        let ms = per.as_millis() * index as u128 + (base + elapsed.min(cap)).as_millis();
        self.bar.set_position(u64::try_from(ms).unwrap_or(u64::MAX));
        self.bar.set_message(format!("{} ({what})", scenario.name));
    }

    pub fn println(&self, text: &str) {
        self.bar.suspend(|| eprintln!("{text}"));
    }

    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}
