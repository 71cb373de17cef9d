//! The provider of a row, in its own process, and the CPU and memory
//! windows measured around a phase.
//!
//! The provider is `netipc bench-server --scenario l2-shm-increment`: a
//! managed INCREMENT server (the library's `ManagedServer` with its
//! default configuration) that offers shared memory and also serves
//! baseline sessions. Every row gets a fresh one, so its memory starts from
//! the same point. Its `cpu` control line reports its CPU time and its
//! resident memory, its `stats` line the managed server's counters (the
//! sessions it holds, those it opened and refused, ...).

use std::time::{Duration, Instant};

use super::progress::Progress;
use crate::bench::BenchError;
use crate::bench::process::{ServerChild, ServerCounters, Usage};
use crate::usage;

/// The `bench-server` scenario the provider runs.
pub const PROVIDER_SCENARIO: &str = "l2-shm-increment";

/// Lines of the provider's stderr shown after a row (the rest is counted).
const STDERR_LINES: usize = 10;

/// A running provider.
pub struct Provider {
    child: ServerChild,
    service: String,
}

impl Provider {
    /// Starts the provider of row `row` in `run_dir` and waits until it
    /// listens.
    ///
    /// # Errors
    /// It could not be started or did not get ready (its stderr is in the
    /// message).
    pub fn start(run_dir: &str, row: &str, progress: &Progress) -> Result<Self, BenchError> {
        progress.status("starting the provider");
        let service = format!("stress-{row}");
        let child = ServerChild::start_named(PROVIDER_SCENARIO, run_dir, &service)?;
        Ok(Self { child, service })
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Its CPU time and memory now.
    ///
    /// # Errors
    /// It did not answer.
    pub fn usage(&mut self) -> Result<Usage, BenchError> {
        self.child.usage()
    }

    /// Its managed server's counters now.
    ///
    /// # Errors
    /// It did not answer.
    pub fn stats(&mut self) -> Result<ServerCounters, BenchError> {
        self.child.stats()
    }

    /// Asks for its counters, one request after the other, until it holds
    /// at most `sessions` sessions or `timeout` has passed since `since`.
    /// Returns the time from `since` to the first answer that showed it
    /// (`None` on timeout; it is late by at most one request's round trip)
    /// and the last counters.
    ///
    /// # Errors
    /// It did not answer.
    pub fn released(
        &mut self,
        sessions: u64,
        since: Instant,
        timeout: Duration,
    ) -> Result<(Option<Duration>, ServerCounters), BenchError> {
        loop {
            let counters = self.stats()?;
            let at = since.elapsed();
            if counters.sessions() <= sessions {
                return Ok((Some(at), counters));
            }
            if at >= timeout {
                return Ok((None, counters));
            }
        }
    }

    /// Stops it; returns what it wrote on stderr, shortened to its first
    /// lines (empty when nothing).
    ///
    /// # Errors
    /// It did not stop cleanly.
    pub fn stop(self) -> Result<String, BenchError> {
        let (_, stderr) = self.child.stop()?;
        Ok(shorten(stderr.trim()))
    }
}

fn shorten(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= STDERR_LINES {
        return text.to_owned();
    }
    format!(
        "{}\n({} more lines)",
        lines[..STDERR_LINES].join("\n"),
        lines.len() - STDERR_LINES
    )
}

/// The provider's and this process's CPU use over a window, and the
/// provider's memory at its end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Wall seconds of the window (this process's clock).
    pub wall_s: f64,
    /// Provider CPU seconds per wall second of the window (its clock).
    pub provider_cores: f64,
    /// Provider resident memory at the end, in bytes.
    pub provider_rss: Option<u64>,
    /// This process's CPU seconds per wall second, where readable.
    pub own_cores: Option<f64>,
}

/// A window being measured.
pub struct Meter {
    provider: Usage,
    own: Option<Duration>,
    started: Instant,
}

impl Meter {
    /// Starts a window now.
    ///
    /// # Errors
    /// The provider did not answer.
    pub fn start(provider: &mut Provider) -> Result<Self, BenchError> {
        let provider = provider.usage()?;
        Ok(Self {
            provider,
            own: usage::process_cpu(),
            started: Instant::now(),
        })
    }

    /// Ends the window now.
    ///
    /// # Errors
    /// The provider did not answer.
    pub fn finish(self, provider: &mut Provider) -> Result<Window, BenchError> {
        let wall_s = self.started.elapsed().as_secs_f64();
        let own = usage::since(self.own, usage::process_cpu())
            .map(|cpu| cpu.as_secs_f64() / wall_s.max(f64::MIN_POSITIVE));
        let end = provider.usage()?;
        Ok(Window {
            wall_s,
            provider_cores: cores(&self.provider, &end),
            provider_rss: end.rss_bytes,
            own_cores: own,
        })
    }
}

/// CPU seconds per wall second from sample `a` to sample `b` of one
/// process, leaving out the provider's memory reads (from after `a`'s to
/// before `b`'s).
fn cores(a: &Usage, b: &Usage) -> f64 {
    let wall = (b.wall_s - a.wall_after_s).max(f64::MIN_POSITIVE);
    ((b.cpu_s - a.cpu_after_s) / wall).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_and_shortened_stderr() {
        let a = Usage {
            cpu_s: 0.9,
            wall_s: 9.9,
            rss_bytes: None,
            cpu_after_s: 1.0,
            wall_after_s: 10.0,
        };
        let b = Usage {
            cpu_s: 2.5,
            wall_s: 12.0,
            rss_bytes: Some(1),
            cpu_after_s: 2.6,
            wall_after_s: 12.1,
        };
        assert!((cores(&a, &b) - 0.75).abs() < 1e-9);
        let long: String = (0..25).map(|i| format!("line {i}\n")).collect();
        let short = shorten(long.trim());
        assert!(short.ends_with("(15 more lines)"), "{short}");
        assert_eq!(shorten("one"), "one");
    }
}
