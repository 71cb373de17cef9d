//! Small file-system helpers.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

/// Whether `output` must be rebuilt: it is missing, or older than one of
/// `inputs` (an unreadable input also counts, so the build reports it).
pub fn is_stale(output: &Path, inputs: &[&Path]) -> bool {
    let Some(built) = modified(output) else {
        return true;
    };
    inputs
        .iter()
        .any(|input| modified(input).is_none_or(|time| time > built))
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|meta| meta.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env;

    #[test]
    fn missing_or_older_outputs_are_stale() {
        let dir = env::temp_dir().join(format!("xtask-fsutil-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (input, output) = (dir.join("in.c"), dir.join("out.dll"));
        fs::write(&input, "x").unwrap();
        assert!(is_stale(&output, &[&input]));
        fs::write(&output, "y").unwrap();
        assert!(!is_stale(&output, &[&input]));
        assert!(is_stale(&output, &[&input, &dir.join("missing.def")]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
