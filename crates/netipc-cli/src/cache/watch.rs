//! `netipc cache --watch`: refresh at an interval and print what changed,
//! one event per refresh, until Ctrl-C or `--count` refreshes.
//!
//! Each successful refresh is compared with the last good snapshot (at
//! first: with nothing, so every item is "added"): the generation, and the
//! items added, removed and changed. Items are matched by name (the key
//! Netdata's consumers look them up by, with its hash); a name that
//! appears several times is matched by its occurrence (the first with the
//! first, ...). With `--name`/`--hash` only the selected items are
//! compared. A failed refresh says why (the first of a run of failures,
//! and any change of cause, in full) and keeps the last good snapshot;
//! the next good refresh says how long the failures lasted.
//!
//! The cache does not retry a provider that refused the token or is
//! incompatible until it is closed, so after such a failure the watch
//! closes it: the next refresh connects anew (the last good snapshot is
//! still the one the changes are compared with).
//!
//! Text lines are meant for a person; with `--json` every refresh is one
//! JSON object on its own line ([`Event`]), and so is the end
//! ([`Stopped`]).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netipc::cache::CacheItem;
use netipc::service::ClientState;
use serde::Serialize;

use super::{CacheArgs, Setup, micros_since, select, transport};
use crate::call::json::SnapshotEntry;
use crate::common::{CliError, human_duration};

/// Items of each kind of change a text line lists; `--json` lists all.
const SHOWN_CHANGES: usize = 20;

/// An item's key: its name and which occurrence of that name it is.
type Key = (Vec<u8>, usize);

/// The last good snapshot (the selected items of it).
#[derive(Default)]
struct Known {
    generation: u64,
    items: BTreeMap<Key, CacheItem>,
}

/// One refresh (a JSON line of `--watch --json`).
#[derive(Serialize)]
struct Event {
    /// The refresh's number, from 1.
    refresh: u64,
    /// When it started, in ms after the watch started.
    t_ms: u64,
    ok: bool,
    took_us: u64,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Outcome {
    Refreshed(Box<Refreshed>),
    Failed(Failed),
}

/// A refresh that published a snapshot, compared with the last good one.
#[derive(Serialize)]
struct Refreshed {
    generation: u64,
    /// The last good snapshot's generation (`None` at first).
    previous_generation: Option<u64>,
    /// Items in the snapshot (all of them, also with `--name`/`--hash`).
    items: usize,
    systemd_enabled: u32,
    shared_memory: bool,
    /// Failed refreshes right before this one, and for how long.
    recovered_after: Option<Recovery>,
    added: Vec<SnapshotEntry>,
    removed: Vec<SnapshotEntry>,
    changed: Vec<Changed>,
    /// Remarks about the provider (a generation that went down, items
    /// that changed without a new generation).
    notes: Vec<String>,
}

#[derive(Serialize)]
struct Recovery {
    failures: u64,
    ms: u64,
}

/// An item whose name stayed and whose other fields changed.
#[derive(Serialize)]
struct Changed {
    before: SnapshotEntry,
    after: SnapshotEntry,
}

/// A refresh that failed.
#[derive(Serialize)]
struct Failed {
    /// Why, and what to do.
    error: String,
    /// Whether the cause is the one the previous failure had.
    same_error: bool,
    /// Failed refreshes in a row, this one included.
    failures_in_a_row: u64,
    /// The last good snapshot's generation (`None`: nothing cached yet).
    kept_generation: Option<u64>,
    kept_items: usize,
}

/// The last JSON line.
#[derive(Serialize)]
struct Stopped {
    stopped: &'static str,
    refreshes: u64,
    failed: u64,
}

/// The watch's memory between refreshes.
struct Watch<'a> {
    args: &'a CacheArgs,
    setup: &'a Setup,
    start: Instant,
    known: Option<Known>,
    /// The current run of failures: how many, since when, the last cause.
    failures: u64,
    failing_since: Option<Instant>,
    last_error: Option<String>,
    refreshes: u64,
    failed: u64,
}

/// Runs the watch until Ctrl-C or `--count` refreshes.
pub fn run(args: &CacheArgs, setup: &Setup) -> Result<ExitCode, CliError> {
    let (tx, rx) = mpsc::channel();
    let abort = setup.cache.abort_handle();
    let signal = tx.clone();
    if let Err(e) = ctrlc::set_handler(move || {
        abort.abort();
        let _ = signal.send(());
    }) {
        eprintln!("netipc cache: warning: cannot catch Ctrl-C ({e}); use --count to stop");
    }
    let mut watch = Watch {
        args,
        setup,
        start: Instant::now(),
        known: None,
        failures: 0,
        failing_since: None,
        last_error: None,
        refreshes: 0,
        failed: 0,
    };
    if !args.json {
        let what = match (args.names.len(), args.hashes.len()) {
            (0, 0) => "every item".to_owned(),
            (n, h) => format!("{n} names and {h} hashes"),
        };
        let banner = format!(
            "netipc cache: watching \"{}\" in {} every {} ms ({what}); Ctrl-C stops\n",
            setup.service, setup.run_dir, args.interval_ms
        );
        if !print(&banner)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut last: Result<(), CliError> = Ok(());
    let interrupted = loop {
        let (event, result) = watch.refresh();
        if rx.try_recv().is_ok() {
            // The refresh was aborted by Ctrl-C: nothing to report.
            break true;
        }
        last = result;
        let text = if args.json {
            json_line(&event)
        } else {
            watch.text(&event)
        };
        if !print(&text)? {
            // Nobody reads any more (`| head`).
            return Ok(ExitCode::SUCCESS);
        }
        if args.count.is_some_and(|n| watch.refreshes >= n) {
            break false;
        }
        match rx.recv_timeout(Duration::from_millis(args.interval_ms)) {
            Ok(()) => break true,
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
        }
    };
    // `tx` lived until here so that the pause above waits even when no
    // handler could be installed.
    drop(tx);
    let stopped = Stopped {
        stopped: if interrupted {
            "interrupted"
        } else {
            "count reached"
        },
        refreshes: watch.refreshes,
        failed: watch.failed,
    };
    print(&if args.json {
        json_line(&stopped)
    } else {
        format!(
            "netipc cache: {} after {} refreshes ({} failed)\n",
            stopped.stopped, stopped.refreshes, stopped.failed
        )
    })?;
    match last {
        Err(e) if !interrupted => Err(e),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Writes and flushes `text`; `false` when nobody reads standard output
/// any more.
fn print(text: &str) -> Result<bool, CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::failed(format!("cannot write the output: {e}"))),
    }
}

/// One JSON object and a newline.
fn json_line(value: &impl Serialize) -> String {
    let mut line = serde_json::to_string(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot format JSON: {e}\"}}"));
    line.push('\n');
    line
}

impl Watch<'_> {
    /// Refreshes once; the event and, for a failure, the error.
    fn refresh(&mut self) -> (Event, Result<(), CliError>) {
        let cache = &self.setup.cache;
        let t_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let start = Instant::now();
        let result = self.setup.refresh(self.refreshes == 0, self.args.wait_ms);
        let took_us = micros_since(start);
        self.refreshes += 1;
        let (outcome, result) = match result {
            Ok(()) => (Outcome::Refreshed(Box::new(self.compare())), Ok(())),
            Err(e) => {
                let err = self.setup.failed(&e);
                let failed = self.failure(&err.message);
                if matches!(
                    cache.status().connection_state,
                    ClientState::AuthFailed | ClientState::Incompatible
                ) {
                    cache.close();
                }
                (Outcome::Failed(failed), Err(err))
            }
        };
        let event = Event {
            refresh: self.refreshes,
            t_ms,
            ok: result.is_ok(),
            took_us,
            outcome,
        };
        (event, result)
    }

    /// Records a failure.
    fn failure(&mut self, error: &str) -> Failed {
        self.failed += 1;
        self.failures += 1;
        self.failing_since.get_or_insert_with(Instant::now);
        let same_error = self.last_error.as_deref() == Some(error);
        self.last_error = Some(error.to_owned());
        Failed {
            error: error.to_owned(),
            same_error,
            failures_in_a_row: self.failures,
            kept_generation: self.known.as_ref().map(|k| k.generation),
            kept_items: self.known.as_ref().map_or(0, |k| k.items.len()),
        }
    }

    /// Compares the published snapshot with the last good one and makes it
    /// the last good one.
    fn compare(&mut self) -> Refreshed {
        let cache = &self.setup.cache;
        let guard = cache.read();
        let found = select(&guard, &self.args.names, &self.args.hashes);
        let mut items = BTreeMap::new();
        let mut seen: BTreeMap<&[u8], usize> = BTreeMap::new();
        for it in &found.items {
            let n = seen.entry(it.name).or_default();
            items.insert((it.name.to_vec(), *n), it.to_owned_item());
            *n += 1;
        }
        let now = Known {
            generation: guard.generation(),
            items,
        };
        let before = self.known.take();
        let previous_generation = before.as_ref().map(|k| k.generation);
        let before = before.unwrap_or_default();
        let mut out = Refreshed {
            generation: now.generation,
            previous_generation,
            items: guard.len(),
            systemd_enabled: guard.systemd_enabled(),
            shared_memory: cache.session_info().is_some_and(|s| s.shared_memory),
            recovered_after: self.failing_since.take().map(|since| Recovery {
                failures: self.failures,
                ms: u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
            notes: Vec::new(),
        };
        self.failures = 0;
        self.last_error = None;
        for (key, item) in &now.items {
            match before.items.get(key) {
                None => out.added.push(item.into()),
                Some(old) if old != item => out.changed.push(Changed {
                    before: old.into(),
                    after: item.into(),
                }),
                Some(_) => {}
            }
        }
        out.removed = before
            .items
            .iter()
            .filter(|(key, _)| !now.items.contains_key(*key))
            .map(|(_, item)| item.into())
            .collect();
        if let Some(previous) = out.previous_generation {
            let changed =
                !(out.added.is_empty() && out.removed.is_empty() && out.changed.is_empty());
            if now.generation < previous {
                out.notes.push(format!(
                    "the generation went down from {previous} to {}: the provider restarted",
                    now.generation
                ));
            } else if now.generation == previous && changed {
                out.notes.push(format!(
                    "items changed but the generation stayed {previous}: a provider should change it with its data"
                ));
            }
        }
        self.known = Some(now);
        out
    }

    /// An event as lines for a person.
    fn text(&self, event: &Event) -> String {
        let t = event.t_ms as f64 / 1000.0;
        let took = human_duration(Duration::from_micros(event.took_us));
        let mut out = format!("[{t:>8.2} s] refresh {}: ", event.refresh);
        match &event.outcome {
            Outcome::Failed(f) => {
                let kept = match f.kept_generation {
                    Some(g) => format!("keeping generation {g} ({} cgroups)", f.kept_items),
                    None => "nothing cached yet".to_owned(),
                };
                if f.same_error {
                    out.push_str(&format!(
                        "FAILED again after {took} ({} in a row), {kept}: the same cause\n",
                        f.failures_in_a_row
                    ));
                } else {
                    out.push_str(&format!("FAILED after {took}, {kept}: {}\n", f.error));
                }
            }
            Outcome::Refreshed(r) => {
                out.push_str(&format!("ok in {took} over {}", transport(r.shared_memory)));
                if let Some(rec) = &r.recovered_after {
                    out.push_str(&format!(
                        ", recovered after {} failed refreshes ({})",
                        rec.failures,
                        human_duration(Duration::from_millis(rec.ms))
                    ));
                }
                let generation = match r.previous_generation {
                    Some(p) if p != r.generation => format!("generation {p} -> {}", r.generation),
                    _ => format!("generation {}", r.generation),
                };
                out.push_str(&format!(
                    ": {generation}, {} cgroups, systemd_enabled {}: {}\n",
                    r.items,
                    r.systemd_enabled,
                    changes_summary(r)
                ));
                list(&mut out, '+', "added", &r.added, |e| e.describe());
                list(&mut out, '-', "removed", &r.removed, |e| e.describe());
                list(&mut out, '~', "changed", &r.changed, |c| {
                    SnapshotEntry::difference(&c.before, &c.after)
                });
                for note in &r.notes {
                    out.push_str(&format!("  note: {note}\n"));
                }
            }
        }
        out
    }
}

/// "no change", or "2 added, 1 changed".
fn changes_summary(r: &Refreshed) -> String {
    let parts: Vec<String> = [
        (r.added.len(), "added"),
        (r.removed.len(), "removed"),
        (r.changed.len(), "changed"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        "no change".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Up to [`SHOWN_CHANGES`] lines `  <mark> <text>`, then how many more.
fn list<T>(out: &mut String, mark: char, what: &str, items: &[T], text: impl Fn(&T) -> String) {
    for it in items.iter().take(SHOWN_CHANGES) {
        out.push_str(&format!("  {mark} {}\n", text(it)));
    }
    if items.len() > SHOWN_CHANGES {
        out.push_str(&format!(
            "  {mark} ... and {} more {what} (--json lists all)\n",
            items.len() - SHOWN_CHANGES
        ));
    }
}
