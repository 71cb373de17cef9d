//! Helpers of the run-directory and one-provider cases: another user's
//! files, planted links, and the library's warnings.
#![allow(dead_code)] // each case file uses a part of it

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A uid that no process of the test runs as.
pub const OTHER_UID: u32 = 12345;

/// The watchdog limit of these cases.
pub const LIMIT: Duration = Duration::from_secs(120);

/// Gives `path` (not a link's target) to [`OTHER_UID`].
#[cfg(unix)]
pub fn give_away(path: &Path) {
    std::os::unix::fs::lchown(path, Some(OTHER_UID), Some(OTHER_UID)).unwrap_or_else(|e| {
        panic!(
            "chown {} to uid {OTHER_UID}: {e} (the CI runs the tests as root)",
            path.display()
        )
    });
}

/// Permission bits of `path` itself (not following a link).
#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

/// Sets the permission bits of `path`.
#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// This process's effective uid (from `/proc/self`).
#[cfg(unix)]
pub fn my_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

/// Whether `path` is a symbolic link (not following it).
pub fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Runs `f` with a tracing subscriber on this thread that records every
/// event (as `field=value` text); returns what `f` returned and the events.
pub fn capture_events<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let subscriber = Capture(events.clone());
    let result = tracing::subscriber::with_default(subscriber, f);
    let events = events
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    (result, events)
}

struct Capture(Arc<Mutex<Vec<String>>>);

struct Text(String);

impl tracing::field::Visit for Text {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = Text(format!("{} ", event.metadata().level()));
        event.record(&mut text);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(text.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
