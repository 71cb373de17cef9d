//! The `os-cfg` step: OS-specific conditional compilation lives in
//! `crates/netipc/src/transport/sys/` (and in tests) only.
//!
//! Scanned: `crates/netipc/src/**` except `transport/sys/**`,
//! `crates/netipc/examples/**`, and the test peer process of
//! `crates/netipc-tests/src/**`. Flagged: `cfg(...)`, `cfg_attr(...)` and
//! `cfg!(...)` whose predicate names an OS (`unix`, `windows`, `target_os`,
//! `target_family`, `target_env`, `target_vendor`), in any form: attributes
//! (inner or outer), the macro, nested in `any`/`all`/`not`, spread over
//! several lines, or a `cfg` inside a `cfg_attr` (such as `doc(cfg(unix))`).
//! Comments and string literals are skipped.
//!
//! Test code is exempt: `crates/netipc-tests/tests/**` is not scanned, and so is
//! anything under a test-only attribute (`#[cfg(test)]`, or `all(test, ...)`)
//! in library code: the item it applies to, or the file of an out-of-line
//! `#[cfg(test)] mod name;`. `cfg(test)` itself is not an OS cfg.
//!
//! There is deliberately no allowlist: a finding is a design bug to fix by
//! moving the code behind the `transport/sys` backend interface.

mod lexer;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use lexer::{Kind, Token, tokenize};

/// Trees whose sources must be OS-neutral (relative to the workspace root).
const SCANNED: &[&str] = &[
    "crates/netipc/src",
    "crates/netipc/examples",
    "crates/netipc-tests/src",
];
/// The one tree where OS-specific code belongs.
const OS_BACKENDS: &str = "crates/netipc/src/transport/sys";
/// Predicate names that select an operating system.
const OS_KEYS: &[&str] = &[
    "unix",
    "windows",
    "target_os",
    "target_family",
    "target_env",
    "target_vendor",
];

/// One OS-specific cfg where none may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Path relative to the workspace root, with `/` separators.
    pub file: String,
    /// 1-based line where the `cfg` starts.
    pub line: usize,
    /// That line, trimmed.
    pub text: String,
}

/// Runs the check on the workspace at `root`: prints every finding and
/// fails with a one-line summary if there is any.
pub fn check(root: &Path) -> Result<(), String> {
    let findings = scan_tree(root)?;
    if findings.is_empty() {
        eprintln!(
            "xtask: os-cfg: no OS-specific cfg in {} outside {OS_BACKENDS}/",
            SCANNED.join(", ")
        );
        return Ok(());
    }
    eprintln!(
        "xtask: os-cfg: OS-specific cfgs outside {OS_BACKENDS}/ (the design keeps OS code \
         in transport/sys and in tests; move these behind the sys backend interface):"
    );
    for f in &findings {
        eprintln!("  {}:{}: {}", f.file, f.line, f.text);
    }
    let mut places: Vec<String> = findings
        .iter()
        .take(5)
        .map(|f| format!("{}:{}", f.file, f.line))
        .collect();
    if findings.len() > places.len() {
        places.push(format!("and {} more", findings.len() - places.len()));
    }
    Err(format!(
        "{} OS-specific cfg(s) outside {OS_BACKENDS}/: {}",
        findings.len(),
        places.join(", ")
    ))
}

/// Scans [`SCANNED`] under `root`. The first tree must exist.
pub fn scan_tree(root: &Path) -> Result<Vec<Finding>, String> {
    let mut files = Vec::new();
    for (i, tree) in SCANNED.iter().enumerate() {
        let dir = root.join(tree);
        if !dir.is_dir() {
            if i == 0 {
                return Err(format!("{} is not a directory", dir.display()));
            }
            continue;
        }
        rust_files(root, &dir, &mut files)?;
    }
    files.sort();

    let mut findings = Vec::new();
    // Files that only test builds compile: out-of-line `#[cfg(test)] mod`s.
    let mut test_only: BTreeSet<String> = BTreeSet::new();
    for file in &files {
        let source = fs::read_to_string(root.join(file))
            .map_err(|err| format!("cannot read {file}: {err}"))?;
        let scan = scan_source(&source);
        let (dir, crate_root) = module_dir(file);
        if scan.whole_file_is_test {
            // The file and, unless it is a crate root, its submodules.
            test_only.insert(file.clone());
            if !crate_root {
                test_only.insert(format!("{dir}/"));
            }
            continue;
        }
        test_only.extend(
            scan.test_modules
                .iter()
                .flat_map(|name| [format!("{dir}/{name}.rs"), format!("{dir}/{name}/")]),
        );
        let lines: Vec<&str> = source.lines().collect();
        findings.extend(scan.lines.into_iter().map(|line| Finding {
            file: file.clone(),
            line,
            text: lines.get(line - 1).map_or("", |l| l.trim()).to_owned(),
        }));
    }
    findings.retain(|f| {
        !test_only
            .iter()
            .any(|t| f.file == *t || (t.ends_with('/') && f.file.starts_with(t.as_str())))
    });
    Ok(findings)
}

/// Collects the `.rs` files under `dir` (skipping the OS backends) as
/// root-relative paths.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
    let entries =
        fs::read_dir(dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|err| format!("cannot list {}: {err}", dir.display()))?
            .path();
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let relative = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if relative == OS_BACKENDS {
            continue;
        }
        if path.is_dir() {
            rust_files(root, &path, out)?;
        } else if relative.ends_with(".rs") {
            out.push(relative);
        }
    }
    Ok(())
}

/// The directory holding the files of `file`'s `mod name;` declarations,
/// and whether `file` is a crate root (`lib.rs`, `main.rs`, a binary or an
/// example).
fn module_dir(file: &str) -> (String, bool) {
    let (parent, name) = file.rsplit_once('/').unwrap_or(("", file));
    let crate_root = ["lib.rs", "main.rs"].contains(&name)
        || parent.ends_with("/src/bin")
        || parent.ends_with("/examples");
    if crate_root || name == "mod.rs" {
        (parent.to_owned(), crate_root)
    } else {
        (format!("{parent}/{}", name.trim_end_matches(".rs")), false)
    }
}

/// What one source file contains.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// Lines of OS-specific cfgs outside test code.
    lines: Vec<usize>,
    /// The file starts with `#![cfg(test)]`.
    whole_file_is_test: bool,
    /// Names of out-of-line modules declared test-only (`#[cfg(test)] mod x;`).
    test_modules: Vec<String>,
}

fn scan_source(source: &str) -> Scan {
    let tokens = tokenize(source);
    let mut scan = Scan::default();
    // Token ranges (inclusive) of items under a test-only attribute.
    let mut test_ranges: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].kind {
            Kind::Punct('(' | '[' | '{') => depth += 1,
            Kind::Punct(')' | ']' | '}') => depth = depth.saturating_sub(1),
            Kind::Punct('#') => {
                if let Some((inner, end)) = test_only_attribute(&tokens, i) {
                    if inner {
                        scan.whole_file_is_test |= depth == 0;
                    } else {
                        let item_end = item_end(&tokens, end + 1);
                        if let Some(name) = out_of_line_module(&tokens, item_end) {
                            scan.test_modules.push(name.to_owned());
                        }
                        test_ranges.push((i, item_end));
                    }
                }
            }
            Kind::Ident(word @ ("cfg" | "cfg_attr")) => {
                let after_dot_or_fn = i
                    .checked_sub(1)
                    .map(|p| tokens[p].kind)
                    .is_some_and(|k| k == Kind::Punct('.') || k == Kind::Ident("fn"));
                let mut open = i + 1;
                if word == "cfg" && kind_at(&tokens, open) == Some(Kind::Punct('!')) {
                    open += 1;
                }
                if !after_dot_or_fn && kind_at(&tokens, open) == Some(Kind::Punct('(')) {
                    let close = matching(&tokens, open);
                    let names_os = tokens[open + 1..close]
                        .iter()
                        .any(|t| matches!(t.kind, Kind::Ident(w) if OS_KEYS.contains(&w)));
                    let in_test = test_ranges.iter().any(|&(a, b)| a <= i && i <= b);
                    if names_os && !in_test {
                        scan.lines.push(tokens[i].line);
                    }
                    // Nested cfgs are covered by this one; the brackets in
                    // between do not change the depth.
                    i = close + 1;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    scan.lines.dedup();
    scan
}

/// If a test-only attribute (`#[cfg(test)]`, `#[cfg(all(test, ...))]`, or
/// the inner `#![...]` forms) starts at `hash`, returns whether it is an
/// inner attribute and the index of its closing `]`.
fn test_only_attribute(tokens: &[Token<'_>], hash: usize) -> Option<(bool, usize)> {
    let mut open = hash + 1;
    let inner = kind_at(tokens, open) == Some(Kind::Punct('!'));
    if inner {
        open += 1;
    }
    if kind_at(tokens, open) != Some(Kind::Punct('['))
        || kind_at(tokens, open + 1) != Some(Kind::Ident("cfg"))
        || kind_at(tokens, open + 2) != Some(Kind::Punct('('))
    {
        return None;
    }
    let close = matching(tokens, open);
    if kind_at(tokens, close.checked_sub(1)?) != Some(Kind::Punct(')')) {
        return None;
    }
    let predicate: Vec<Kind<'_>> = tokens
        .get(open + 3..close - 1)?
        .iter()
        .map(|t| t.kind)
        .collect();
    let test_only = match predicate.as_slice() {
        [Kind::Ident("test")] => true,
        [
            Kind::Ident("all"),
            Kind::Punct('('),
            rest @ ..,
            Kind::Punct(')'),
        ] => {
            // `test` as one of the top-level operands of `all`.
            let mut level = 0usize;
            let mut found = false;
            for (k, kind) in rest.iter().enumerate() {
                match kind {
                    Kind::Punct('(') => level += 1,
                    Kind::Punct(')') => level = level.saturating_sub(1),
                    Kind::Ident("test") if level == 0 => {
                        let before = k.checked_sub(1).map(|p| rest[p]);
                        let after = rest.get(k + 1).copied();
                        found |= before.is_none_or(|b| b == Kind::Punct(','))
                            && after.is_none_or(|a| a == Kind::Punct(','));
                    }
                    _ => {}
                }
            }
            found
        }
        _ => false,
    };
    test_only.then_some((inner, close))
}

/// The last token of the item starting at `start` (after its attribute):
/// its `;` or the `}` closing its body.
fn item_end(tokens: &[Token<'_>], start: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(start) {
        match token.kind {
            Kind::Punct('(' | '[' | '{') => depth += 1,
            Kind::Punct(')' | ']') => depth = depth.saturating_sub(1),
            Kind::Punct('}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            Kind::Punct(';') if depth == 0 => return i,
            _ => {}
        }
    }
    tokens.len().saturating_sub(1)
}

/// The name in `mod name;` when the item ending at `end` is one.
fn out_of_line_module<'a>(tokens: &[Token<'a>], end: usize) -> Option<&'a str> {
    match (
        kind_at(tokens, end.checked_sub(2)?)?,
        kind_at(tokens, end - 1)?,
        kind_at(tokens, end)?,
    ) {
        (Kind::Ident("mod"), Kind::Ident(name), Kind::Punct(';')) => Some(name),
        _ => None,
    }
}

fn kind_at<'a>(tokens: &[Token<'a>], i: usize) -> Option<Kind<'a>> {
    tokens.get(i).map(|t| t.kind)
}

/// The index of the bracket closing the one at `open` (the last token if
/// the source is cut short).
fn matching(tokens: &[Token<'_>], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Punct('(' | '[' | '{') => depth += 1,
            Kind::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env;

    fn lines(source: &str) -> Vec<usize> {
        scan_source(source).lines
    }

    #[test]
    fn os_attributes_are_found_with_their_line() {
        let source = "fn a() {}\n#[cfg(unix)]\nfn b() {}\n    #[cfg(windows)] fn c() {}\n";
        assert_eq!(lines(source), [2, 4]);
    }

    #[test]
    fn every_form_of_os_cfg_is_found() {
        for source in [
            "#![cfg(unix)]",
            "#[cfg(target_os = \"linux\")] fn f() {}",
            "#[cfg(not(windows))] fn f() {}",
            "#[cfg(any(test, all(feature = \"x\", target_family = \"unix\")))] fn f() {}",
            "#[cfg_attr(windows, path = \"w.rs\")] mod m;",
            "#[cfg_attr(docsrs, doc(cfg(unix)))] pub fn f() {}",
            "fn f() -> bool { cfg!(windows) }",
            "fn f() -> bool { core::cfg!(target_env = \"musl\") }",
            "#[cfg(target_vendor = \"apple\")] fn f() {}",
            "macro_rules! m { () => { #[cfg(unix)] fn f() {} } }",
            "#[cfg(any(test, unix))] mod tests {}",
        ] {
            assert_eq!(lines(source), [1], "{source}");
        }
        // Spread over lines: reported where the cfg starts.
        assert_eq!(
            lines("fn a() {}\n#[cfg(all(\n    feature = \"x\",\n    unix,\n))]\nfn b() {}"),
            [2]
        );
    }

    #[test]
    fn comments_and_literals_are_not_code() {
        for source in [
            "// #[cfg(unix)]\nfn f() {}",
            "//! Use `#[cfg(windows)]` with care.",
            "/// ```\n/// #[cfg(unix)]\n/// ```\nfn f() {}",
            "/* outer /* nested */ #[cfg(unix)] */ fn f() {}",
            "const S: &str = \"#[cfg(unix)]\";",
            "const S: &str = r#\"cfg!(windows) \"quoted\" \"#;",
            "const B: &[u8] = br\"cfg(unix)\";",
            "const Q: char = '\"'; const S: &str = \"cfg(unix)\";",
            "fn f<'a>(x: &'a str) -> &'a str { x } const S: &str = \"cfg(windows)\";",
            "const C: u8 = b'\\''; const S: &str = \"cfg(unix)\";",
        ] {
            assert_eq!(lines(source), Vec::<usize>::new(), "{source}");
        }
        // Code after a lifetime, a char and a string is still seen.
        assert_eq!(
            lines("fn f<'a>(_: &'a u8) { let _ = ('x', \"s\"); }\n#[cfg(unix)] fn g() {}"),
            [2]
        );
    }

    #[test]
    fn non_os_cfgs_and_lookalikes_are_fine() {
        for source in [
            "#[cfg(test)] mod tests {}",
            "#[cfg(feature = \"unix\")] fn f() {}",
            "#[cfg(all(debug_assertions, target_pointer_width = \"64\"))] fn f() {}",
            "#[cfg_attr(test, derive(Debug))] struct S;",
            "#![cfg_attr(not(debug_assertions), windows_subsystem = \"windows\")]",
            "fn cfg(unix: u8) {}",
            "fn f(c: C) { c.cfg(unix); }",
            "fn f() { let unix = 1; let windows = unix; }",
            "fn f() { let cfg = 1; g(cfg); }",
        ] {
            assert_eq!(lines(source), Vec::<usize>::new(), "{source}");
        }
    }

    #[test]
    fn test_code_is_exempt() {
        let inline = "\
fn lib() {}
#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn unix_only() { assert!(cfg!(target_os = \"linux\")); }
}
#[cfg(all(test, windows))]
mod windows_tests {}
#[cfg(windows)]
fn not_a_test() {}
";
        assert_eq!(lines(inline), [10]);

        let scan = scan_source(
            "#[cfg(test)]\nmod tests;\n#[cfg(test)]\npub(crate) mod helpers;\nmod real;",
        );
        assert_eq!(scan.test_modules, ["tests", "helpers"]);
        assert!(
            scan_source("//! Tests.\n#![cfg(test)]\n#[cfg(unix)] fn f() {}").whole_file_is_test
        );
        // `#[cfg(test)]` on a statement covers that statement only.
        assert_eq!(
            lines("fn f() {\n    #[cfg(test)]\n    let _ = [0u8; 4];\n    cfg!(unix);\n}"),
            [4]
        );
    }

    #[test]
    fn module_directories() {
        let dir = |file| module_dir(file);
        assert_eq!(
            dir("crates/netipc/src/lib.rs"),
            ("crates/netipc/src".into(), true)
        );
        assert_eq!(
            dir("crates/netipc/src/service/mod.rs"),
            ("crates/netipc/src/service".into(), false)
        );
        assert_eq!(
            dir("crates/netipc/src/service/config.rs"),
            ("crates/netipc/src/service/config".into(), false)
        );
        assert_eq!(
            dir("crates/netipc/src/bin/peer.rs"),
            ("crates/netipc/src/bin".into(), true)
        );
        assert_eq!(
            dir("crates/netipc/examples/demo.rs"),
            ("crates/netipc/examples".into(), true)
        );
    }

    /// A throwaway workspace layout with the given files.
    struct Tree(std::path::PathBuf);

    impl Tree {
        fn new(name: &str, files: &[(&str, &str)]) -> Self {
            let root = env::temp_dir().join(format!("xtask-os-cfg-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            for (path, text) in files {
                let path = root.join(path);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, text).unwrap();
            }
            Self(root)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_tree_scan_exempts_sys_and_test_modules() {
        let tree = Tree::new(
            "tree",
            &[
                (
                    "crates/netipc/src/lib.rs",
                    "mod transport;\n#[cfg(test)]\nmod testutil;\n",
                ),
                (
                    "crates/netipc/src/transport/mod.rs",
                    "#[cfg(unix)]\nmod x;\n",
                ),
                (
                    "crates/netipc/src/transport/sys/mod.rs",
                    "#[cfg(unix)] mod unix;",
                ),
                (
                    "crates/netipc/src/transport/sys/unix/mod.rs",
                    "#[cfg(target_os = \"linux\")] fn f() {}",
                ),
                (
                    "crates/netipc/src/transport/system.rs",
                    "#[cfg(windows)] fn f() {}",
                ),
                ("crates/netipc/src/testutil.rs", "#[cfg(unix)] fn f() {}"),
                (
                    "crates/netipc/src/testutil/deep.rs",
                    "#[cfg(unix)] fn f() {}",
                ),
                ("crates/netipc/src/notes.txt", "#[cfg(unix)]"),
                ("crates/netipc-tests/tests/it.rs", "#[cfg(unix)] fn f() {}"),
                (
                    "crates/netipc-tests/src/bin/peer.rs",
                    "#[cfg(windows)]\nfn main() {}\n",
                ),
                (
                    "crates/netipc/examples/demo.rs",
                    "fn main() {\n    if cfg!(windows) {}\n}\n",
                ),
            ],
        );
        let found: Vec<String> = scan_tree(&tree.0)
            .unwrap()
            .iter()
            .map(|f| format!("{}:{}: {}", f.file, f.line, f.text))
            .collect();
        assert_eq!(
            found,
            [
                "crates/netipc-tests/src/bin/peer.rs:1: #[cfg(windows)]",
                "crates/netipc/examples/demo.rs:2: if cfg!(windows) {}",
                "crates/netipc/src/transport/mod.rs:1: #[cfg(unix)]",
                "crates/netipc/src/transport/system.rs:1: #[cfg(windows)] fn f() {}",
            ]
        );
        let err = check(&tree.0).unwrap_err();
        assert!(
            err.starts_with("4 OS-specific cfg(s) outside crates/netipc/src/transport/sys/: "),
            "{err}"
        );
        assert!(
            err.contains("crates/netipc/src/transport/mod.rs:1"),
            "{err}"
        );
    }

    #[test]
    fn a_clean_tree_passes_and_a_missing_one_fails() {
        let tree = Tree::new(
            "clean",
            &[("crates/netipc/src/lib.rs", "#[cfg(test)] mod tests {}")],
        );
        assert_eq!(check(&tree.0), Ok(()));
        assert!(scan_tree(&tree.0.join("nowhere")).is_err());
    }
}
