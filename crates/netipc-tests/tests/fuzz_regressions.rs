//! Replays the fuzz regression inputs kept in
//! `tests/data/fuzz-regressions/<target>/` through the harness bodies of the
//! cargo-fuzz targets in `fuzz/` (no libFuzzer needed), so every input that
//! once crashed or reached a deep code path keeps being checked by the
//! normal test suite, on Linux and under Wine.
//!
//! The harness is the fuzz crate's own source file, compiled here as a
//! module: the replayed logic is the fuzzed logic.

#[path = "../../../fuzz/src/lib.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    entries
}

/// Every kept input of every target passes its harness: no panic, every
/// round-trip and budget property holds. The layout itself is checked too:
/// only known target directories (plus a top-level README), none empty, and
/// every target has inputs.
#[test]
fn fuzz_regression_inputs_hold_every_property() {
    let root = regressions_dir();
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    let mut total = 0usize;
    for entry in sorted_entries(&root) {
        let name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if entry.is_file() {
            if name != "README.md" {
                problems.push(format!("unexpected file {name} (inputs go in <target>/)"));
            }
            continue;
        }
        let Some(&(_, harness)) = harness::TARGETS.iter().find(|(t, _)| *t == name) else {
            problems.push(format!("directory {name} is not a fuzz target"));
            continue;
        };
        seen.push(name.clone());
        let files = sorted_entries(&entry);
        if files.is_empty() {
            problems.push(format!("{name}/ has no inputs"));
        }
        for file in files {
            if !file.is_file() {
                problems.push(format!("{} is not a file", file.display()));
                continue;
            }
            let data = std::fs::read(&file).expect("read input");
            total += 1;
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| harness(&data))) {
                problems.push(format!(
                    "{name}/{}: {}\n    input: {}",
                    file.file_name().unwrap_or_default().to_string_lossy(),
                    panic_message(payload.as_ref()),
                    hex(&data)
                ));
            }
        }
    }
    for (target, _) in harness::TARGETS {
        if !seen.iter().any(|s| s == target) {
            problems.push(format!("target {target} has no regression directory"));
        }
    }
    if total == 0 {
        problems.push(format!("no regression inputs under {}", root.display()));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) in {}:\n{}",
        problems.len(),
        root.display(),
        problems.join("\n")
    );
}
