//! Reading `go test -json`: what passed, failed and was skipped in each
//! package, the data races the race detector reported, and the golden
//! vectors checked, as the events arrive.
//!
//! While the run goes on it prints one line per finished package, the whole
//! output of every failed test and the reason of every skipped one; the
//! rest of the (verbose) output is not shown. [`GoTestRun::verdict`] then
//! turns the tally into the step's result: every test must pass, a skip
//! must be on [`ALLOWED_SKIPS`], no race may be reported, and the vectors
//! package, when it ran, must say how many vectors it checked.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

/// The module path of `go/go.mod`; packages are shown relative to the
/// repository (`go/internal/vectors`).
pub const MODULE: &str = "github.com/netdata/netipc/go";

/// The package of the golden-vector test, which prints `vectors: N checked`.
const VECTORS_PACKAGE: &str = "go/internal/vectors";

/// A Go test that may skip in the lane, and why. Any other skip fails the
/// lane: a test that skips proves nothing, and a lane that lets it pass
/// hides that.
pub struct AllowedSkip {
    /// The package, relative to the repository (`go/cgroups`).
    pub package: &'static str,
    /// The test as `go test` names it (`TestX`, `TestX/sub`).
    pub test: &'static str,
    /// Only under `-race` (the race detector's instrumentation allocates,
    /// so allocation counts mean nothing there).
    pub race_only: bool,
    /// Printed with the skip.
    pub reason: &'static str,
}

/// The skips the lane accepts (see [`AllowedSkip`]).
pub const ALLOWED_SKIPS: &[AllowedSkip] = &[AllowedSkip {
    package: "go/internal/transport",
    test: "TestIdentityChild",
    race_only: false,
    reason: "the provider process of TestProviderOfAnotherUserIsRefused, which runs the test \
             binary again as another user; it has nothing to do in the ordinary run",
}];

/// Which run the events come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Plain,
    Race,
}

/// One test that did not pass.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    package: String,
    test: String,
    /// Its messages (skip reasons: the `t.Skip` text).
    text: String,
}

impl Outcome {
    fn name(&self) -> String {
        format!("{}.{}", self.package, self.test)
    }
}

/// Counts of one package.
#[derive(Default, Debug)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// The output of one test.
#[derive(Default)]
struct Captured {
    all: String,
    /// What `t.Error` and `t.Fatal` printed (Go 1.25 and later mark it).
    errors: String,
}

impl Captured {
    /// Why a test failed: its error lines, else the first line of a
    /// crash, else its last message.
    fn failure(&self) -> String {
        if !self.errors.is_empty() {
            return messages(&self.errors);
        }
        let all = messages_lines(&self.all);
        crash(&all)
            .or(all.last().copied())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The line that says why a test binary crashed (`panic: ...`, `fatal
/// error: ...`, `unexpected fault address ...`), rather than the last
/// line of its stack traces.
fn crash<'a>(lines: &[&'a str]) -> Option<&'a str> {
    lines.iter().map(|line| line.trim()).find(|line| {
        ["panic: ", "fatal error: ", "unexpected fault address"]
            .iter()
            .any(|start| line.starts_with(start))
    })
}

/// The tally of one `go test -json` run (see the module docs).
pub struct GoTestRun {
    mode: Mode,
    allowed: Vec<&'static AllowedSkip>,
    packages: BTreeMap<String, Tally>,
    failed: Vec<Outcome>,
    skipped: Vec<Outcome>,
    /// Packages that failed as a whole (build failure, panic, timeout),
    /// with their output.
    broken: Vec<Outcome>,
    /// Output so far of each running test (package, test); "" is the
    /// package's own output.
    output: HashMap<(String, String), Captured>,
    vectors: Option<usize>,
    races: usize,
}

/// `github.com/netdata/netipc/go/x` as `go/x`.
pub fn short(package: &str) -> String {
    match package.strip_prefix(MODULE) {
        Some(rest) => format!("go{rest}"),
        None => package.to_owned(),
    }
}

/// The messages of a test's output: its lines without the `=== RUN` and
/// `--- PASS/FAIL/SKIP` frames, trimmed.
fn messages(output: &str) -> String {
    messages_lines(output).join(" ")
}

fn messages_lines(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|line| !line.starts_with("=== ") && !line.trim_start().starts_with("--- "))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

impl GoTestRun {
    pub fn new(mode: Mode) -> Self {
        Self::with_allowed(mode, &[ALLOWED_SKIPS])
    }

    /// A run that accepts the skips of all of `lists`.
    pub fn with_allowed(mode: Mode, lists: &[&'static [AllowedSkip]]) -> Self {
        Self {
            mode,
            allowed: lists.iter().copied().flatten().collect(),
            packages: BTreeMap::new(),
            failed: Vec::new(),
            skipped: Vec::new(),
            broken: Vec::new(),
            output: HashMap::new(),
            vectors: None,
            races: 0,
        }
    }

    /// Takes one line of `go test -json` output.
    pub fn line(&mut self, line: &str) {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            // Not an event (go itself printing): show it.
            eprintln!("{line}");
            return;
        };
        let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or("");
        let (action, test) = (field("Action"), field("Test").to_owned());
        let package = short(field("Package"));
        match action {
            "build-output" => eprint!("{}", field("Output")),
            "build-fail" => eprintln!("xtask: go: {} does not build", field("ImportPath")),
            "output" => self.output(package, test, field("Output"), field("OutputType")),
            "pass" | "fail" | "skip" if !test.is_empty() => self.test_end(package, test, action),
            "pass" | "fail" | "skip" => self.package_end(package, action, &event),
            _ => {}
        }
    }

    fn output(&mut self, package: String, test: String, text: &str, kind: &str) {
        if text.contains("WARNING: DATA RACE") {
            self.races += 1;
        }
        // `vectors: 493 checked`, printed or logged (`x_test.go:9: vectors: ...`).
        if let Some(count) = text
            .trim()
            .split_once("vectors: ")
            .and_then(|(_, rest)| rest.strip_suffix(" checked"))
            .and_then(|count| count.parse().ok())
        {
            self.vectors = Some(count);
        }
        let captured = self.output.entry((package, test)).or_default();
        captured.all.push_str(text);
        if kind == "error" {
            captured.errors.push_str(text);
        }
    }

    fn test_end(&mut self, package: String, test: String, action: &str) {
        let output = self
            .output
            .remove(&(package.clone(), test.clone()))
            .unwrap_or_default();
        let tally = self.packages.entry(package.clone()).or_default();
        match action {
            "pass" => tally.passed += 1,
            "fail" => {
                tally.failed += 1;
                eprintln!("xtask: go: FAIL {package} {test}:");
                for line in output.all.lines() {
                    eprintln!("  | {line}");
                }
                self.failed.push(Outcome {
                    package,
                    test,
                    text: output.failure(),
                });
            }
            _ => {
                tally.skipped += 1;
                let skip = Outcome {
                    package,
                    test,
                    text: messages(&output.all),
                };
                match self.allowance(&skip) {
                    Some(reason) => eprintln!(
                        "xtask: go: SKIP {} (allowed: {reason}): {}",
                        skip.name(),
                        skip.text
                    ),
                    None => eprintln!(
                        "xtask: go: SKIP {} (not allowed: see ALLOWED_SKIPS in xtask/src/go_test.rs, and WINE_ALLOWED_SKIPS in go_wine.rs under Wine): {}",
                        skip.name(),
                        skip.text
                    ),
                }
                self.skipped.push(skip);
            }
        }
    }

    fn package_end(&mut self, package: String, action: &str, event: &Value) {
        let output = self
            .output
            .remove(&(package.clone(), String::new()))
            .unwrap_or_default();
        let elapsed = event.get("Elapsed").and_then(Value::as_f64).unwrap_or(0.0);
        let Some(tally) = self.packages.get(&package) else {
            // No tests: `[no test files]` (a skip) or a failure before any
            // test ran (build failure, init panic).
            if action == "fail" {
                self.package_failed(package, &output.all);
            }
            return;
        };
        let verdict = if action == "fail" { "FAIL" } else { "ok  " };
        eprintln!(
            "xtask: go: {verdict} {package}: {} passed, {} failed, {} skipped ({elapsed:.1}s)",
            tally.passed, tally.failed, tally.skipped
        );
        if action == "fail" && tally.failed == 0 {
            self.package_failed(package, &output.all);
        }
    }

    /// Records that the package `import_path` failed without an event
    /// saying so (its test binary did not build, or was killed): `output`
    /// says why, its last line first of all.
    pub fn package_broke(&mut self, import_path: &str, output: &str) {
        self.package_failed(short(import_path), output);
    }

    /// A package failed outside any test that ended (it did not build,
    /// panicked, or timed out).
    fn package_failed(&mut self, package: String, output: &str) {
        eprintln!("xtask: go: FAIL {package} (outside a test):");
        let lines: Vec<&str> = output.lines().collect();
        for line in &lines[lines.len().saturating_sub(80)..] {
            eprintln!("  | {line}");
        }
        let text = crash(&lines)
            .or_else(|| {
                lines.iter().rev().map(|line| line.trim()).find(|line| {
                    !line.is_empty()
                        && !line.starts_with("FAIL")
                        && !line.starts_with("exit status")
                })
            })
            .unwrap_or("see its output above")
            .to_owned();
        // Tests that were running when it broke did not end: their output
        // was part of the package's.
        self.output.retain(|(p, _), _| *p != package);
        self.broken.push(Outcome {
            package,
            test: String::new(),
            text,
        });
    }

    /// The reason a skip is allowed, if it is.
    fn allowance(&self, skip: &Outcome) -> Option<&'static str> {
        self.allowed
            .iter()
            .find(|allowed| {
                allowed.package == skip.package
                    && allowed.test == skip.test
                    && (!allowed.race_only || self.mode == Mode::Race)
            })
            .map(|allowed| allowed.reason)
    }

    fn count(&self, what: impl Fn(&Tally) -> usize) -> usize {
        self.packages.values().map(what).sum()
    }

    /// The step's result: what it checked, or why it failed. `exit` is
    /// how `go test` itself ended.
    pub fn verdict(&self, exit: Result<(), String>) -> Result<Summary, String> {
        let mut problems = Vec::new();
        let list = |outcomes: &[&Outcome]| {
            let mut names: Vec<String> = outcomes
                .iter()
                .take(3)
                .map(|o| {
                    if o.text.is_empty() {
                        o.name()
                    } else {
                        format!("{} ({})", o.name(), cut(&o.text, 100))
                    }
                })
                .collect();
            if outcomes.len() > 3 {
                names.push(format!("and {} more", outcomes.len() - 3));
            }
            names.join(", ")
        };
        if !self.broken.is_empty() {
            let broken: Vec<String> = self
                .broken
                .iter()
                .map(|o| format!("{} ({})", o.package, cut(&o.text, 160)))
                .collect();
            problems.push(format!("package failed: {}", broken.join(", ")));
        }
        if !self.failed.is_empty() {
            // A test fails with its failing subtests: name the subtests.
            let failed: Vec<&Outcome> = self
                .failed
                .iter()
                .filter(|parent| {
                    !self.failed.iter().any(|o| {
                        o.package == parent.package
                            && o.test.starts_with(&format!("{}/", parent.test))
                    })
                })
                .collect();
            problems.push(format!("{} failed: {}", failed.len(), list(&failed)));
        }
        let refused: Vec<&Outcome> = self
            .skipped
            .iter()
            .filter(|skip| self.allowance(skip).is_none())
            .collect();
        if !refused.is_empty() {
            problems.push(format!(
                "{} skipped without an entry in ALLOWED_SKIPS: {}",
                refused.len(),
                list(&refused)
            ));
        }
        if self.races > 0 {
            problems.push(format!("{} data races reported", self.races));
        }
        let ran = self.count(|t| t.passed + t.failed + t.skipped);
        if ran == 0 {
            problems.push("no test ran".to_owned());
        }
        if self.packages.contains_key(VECTORS_PACKAGE) && self.vectors.is_none() {
            problems.push(format!(
                "{VECTORS_PACKAGE} did not print `vectors: N checked`"
            ));
        }
        if problems.is_empty() {
            if let Err(err) = exit {
                problems.push(format!("go test: {err}"));
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Summary {
            mode: self.mode,
            tests: ran,
            packages: self.packages.len(),
            skipped: self.count(|t| t.skipped),
            vectors: self.vectors,
        })
    }
}

/// What a passing run checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    mode: Mode,
    pub tests: usize,
    packages: usize,
    /// Skips (all on the allow-list).
    skipped: usize,
    vectors: Option<usize>,
}

impl fmt::Display for Summary {
    /// `412 tests in 14 packages (0 skipped; vectors: 493 checked)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {} ({} skipped",
            plural(self.tests, "test"),
            plural(self.packages, "package"),
            self.skipped
        )?;
        if self.skipped > 0 {
            write!(f, ", allowed")?;
        }
        if self.mode == Mode::Race {
            write!(f, "; no data race")?;
        }
        if let Some(vectors) = self.vectors {
            write!(f, "; vectors: {vectors} checked")?;
        }
        write!(f, ")")
    }
}

/// "1 test", "2 tests".
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `text` cut to about `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, package: &str, test: &str, output: &str) -> String {
        let (output, error) = match output.strip_prefix("ERROR ") {
            Some(text) => (text, true),
            None => (output, false),
        };
        let mut value = serde_json::json!({
            "Action": action,
            "Package": format!("{MODULE}{package}"),
        });
        if !test.is_empty() {
            value["Test"] = test.into();
        }
        if !output.is_empty() {
            value["Output"] = output.into();
        }
        if error {
            value["OutputType"] = "error".into();
        }
        value.to_string()
    }

    fn feed(run: &mut GoTestRun, events: &[(&str, &str, &str, &str)]) {
        for &(action, package, test, output) in events {
            run.line(&event(action, package, test, output));
        }
    }

    /// A passing package with a subtest, a package without tests, the
    /// vectors package.
    const GOOD: &[(&str, &str, &str, &str)] = &[
        ("start", "/cgroups", "", ""),
        ("run", "/cgroups", "TestA", ""),
        ("output", "/cgroups", "TestA", "=== RUN   TestA\n"),
        ("pass", "/cgroups", "TestA/sub", ""),
        ("pass", "/cgroups", "TestA", ""),
        ("pass", "/cgroups", "", ""),
        (
            "output",
            "",
            "",
            "?   \tgithub.com/netdata/netipc/go\t[no test files]\n",
        ),
        ("skip", "", "", ""),
        (
            "output",
            "/internal/vectors",
            "TestVectors",
            "    vectors_test.go:80: vectors: 493 checked\n",
        ),
        ("pass", "/internal/vectors", "TestVectors", ""),
        ("pass", "/internal/vectors", "", ""),
    ];

    #[test]
    fn a_clean_run_is_counted() {
        let mut run = GoTestRun::new(Mode::Plain);
        feed(&mut run, GOOD);
        assert_eq!(
            run.verdict(Ok(())).map(|s| s.to_string()),
            Ok("3 tests in 2 packages (0 skipped; vectors: 493 checked)".into())
        );
        let mut race = GoTestRun::new(Mode::Race);
        feed(&mut race, &GOOD[..6]);
        assert_eq!(
            race.verdict(Ok(())).map(|s| s.to_string()),
            Ok("2 tests in 1 package (0 skipped; no data race)".into())
        );
    }

    #[test]
    fn failures_skips_and_races_fail_the_step() {
        let mut run = GoTestRun::new(Mode::Race);
        feed(
            &mut run,
            &[
                ("output", "/cgroups", "TestB", "=== RUN   TestB\n"),
                ("output", "/cgroups", "TestB", "    b_test.go:4: context\n"),
                (
                    "output",
                    "/cgroups",
                    "TestB",
                    "ERROR     b_test.go:5: boom\n",
                ),
                (
                    "output",
                    "/cgroups",
                    "TestB",
                    "    b_test.go:6: more context\n",
                ),
                ("output", "/cgroups", "TestB", "--- FAIL: TestB (0.00s)\n"),
                ("fail", "/cgroups", "TestB", ""),
                (
                    "output",
                    "/cgroups",
                    "TestC",
                    "    c_test.go:9: needs root\n",
                ),
                ("skip", "/cgroups", "TestC", ""),
                ("output", "/cgroups", "TestD", "WARNING: DATA RACE\n"),
                ("pass", "/cgroups", "TestD", ""),
                ("fail", "/cgroups", "", ""),
            ],
        );
        assert_eq!(
            run.verdict(Err("exit code 1".into())).map(|s| s.to_string()),
            Err("1 failed: go/cgroups.TestB (b_test.go:5: boom); \
                 1 skipped without an entry in ALLOWED_SKIPS: go/cgroups.TestC (c_test.go:9: needs root); \
                 1 data races reported"
                .into())
        );
    }

    #[test]
    fn failing_subtests_are_named_not_their_parents() {
        let mut run = GoTestRun::new(Mode::Plain);
        feed(
            &mut run,
            &[
                (
                    "output",
                    "/interop",
                    "TestX/shm",
                    "    x_test.go:9: no region\n",
                ),
                ("fail", "/interop", "TestX/shm", ""),
                ("pass", "/interop", "TestX/baseline", ""),
                ("fail", "/interop", "TestX", ""),
                ("fail", "/interop", "TestXY", ""),
                ("fail", "/interop", "", ""),
            ],
        );
        assert_eq!(
            run.verdict(Err("exit code 1".into()))
                .map(|s| s.to_string()),
            Err(
                "2 failed: go/interop.TestX/shm (x_test.go:9: no region), go/interop.TestXY".into()
            )
        );
    }

    #[test]
    fn a_crash_is_named_by_its_first_line() {
        let mut run = GoTestRun::new(Mode::Plain);
        feed(
            &mut run,
            &[
                ("output", "/shm", "TestCrash", "=== RUN   TestCrash\n"),
                (
                    "output",
                    "/shm",
                    "TestCrash",
                    "unexpected fault address 0x47570030\n",
                ),
                ("output", "/shm", "TestCrash", "fatal error: fault\n"),
                ("output", "/shm", "TestCrash", "goroutine 7 [running]:\n"),
                ("output", "/shm", "TestCrash", "\t/w/x_test.go:359 +0x2ee\n"),
                ("fail", "/shm", "TestCrash", ""),
                ("output", "/shm", "", "exit status 2\n"),
                ("fail", "/shm", "", ""),
            ],
        );
        assert_eq!(
            run.verdict(Err("exit code 1".into()))
                .map(|s| s.to_string()),
            Err("1 failed: go/shm.TestCrash (unexpected fault address 0x47570030)".into())
        );
    }

    #[test]
    fn broken_packages_and_empty_runs_fail() {
        let mut run = GoTestRun::new(Mode::Plain);
        feed(
            &mut run,
            &[
                ("output", "/protocol", "TestSlow", "=== RUN   TestSlow\n"),
                (
                    "output",
                    "/protocol",
                    "",
                    "panic: test timed out after 5m0s\n",
                ),
                (
                    "output",
                    "/protocol",
                    "",
                    "FAIL\tgithub.com/netdata/netipc/go/protocol\t300.1s\n",
                ),
                ("fail", "/protocol", "", ""),
            ],
        );
        assert_eq!(
            run.verdict(Err("exit code 1".into()))
                .map(|s| s.to_string()),
            Err(
                "package failed: go/protocol (panic: test timed out after 5m0s); no test ran"
                    .into()
            )
        );
        let nothing = GoTestRun::new(Mode::Plain);
        assert_eq!(
            nothing
                .verdict(Err("exit code 1".into()))
                .map(|s| s.to_string()),
            Err("no test ran".into())
        );
        // The exit status counts when nothing else explains it.
        let mut quiet = GoTestRun::new(Mode::Plain);
        feed(&mut quiet, GOOD);
        assert_eq!(
            quiet
                .verdict(Err("exit code 2".into()))
                .map(|s| s.to_string()),
            Err("go test: exit code 2".into())
        );
    }

    #[test]
    fn the_vectors_package_must_report_its_count() {
        let mut run = GoTestRun::new(Mode::Plain);
        feed(
            &mut run,
            &[
                ("pass", "/internal/vectors", "TestVectors", ""),
                ("pass", "/internal/vectors", "", ""),
            ],
        );
        assert_eq!(
            run.verdict(Ok(())).map(|s| s.to_string()),
            Err("go/internal/vectors did not print `vectors: N checked`".into())
        );
    }

    #[test]
    fn allowed_skips_pass_only_where_allowed() {
        static ALLOWED: &[AllowedSkip] = &[AllowedSkip {
            package: "go/cgroups",
            test: "TestAllocs",
            race_only: true,
            reason: "the race detector allocates",
        }];
        let skip = [("skip", "/cgroups", "TestAllocs", "")];
        let mut race = GoTestRun::with_allowed(Mode::Race, &[ALLOWED]);
        feed(&mut race, &skip);
        assert_eq!(
            race.verdict(Ok(())).map(|s| s.to_string()),
            Ok("1 test in 1 package (1 skipped, allowed; no data race)".into())
        );
        let mut plain = GoTestRun::with_allowed(Mode::Plain, &[ALLOWED]);
        feed(&mut plain, &skip);
        assert!(plain.verdict(Ok(())).is_err());
    }

    #[test]
    fn lines_that_are_not_events_are_ignored() {
        let mut run = GoTestRun::new(Mode::Plain);
        run.line("go: downloading nothing");
        feed(&mut run, GOOD);
        assert!(run.verdict(Ok(())).is_ok());
    }
}
