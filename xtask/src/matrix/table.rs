//! The interop matrix's results: what a consumer's output says about each
//! of its checks (docs/interop-matrix.md, `check`), and the table the lane
//! prints.

use std::fmt::Write as _;

/// The languages with a matrix peer, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    C,
    Go,
}

impl Lang {
    pub const ALL: [Self; 3] = [Self::Rust, Self::C, Self::Go];

    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::C => "c",
            Self::Go => "go",
        }
    }

    /// The service name prefix of its provider (`m-rust`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Rust => "m-rust",
            Self::C => "m-c",
            Self::Go => "m-go",
        }
    }

    /// Its position in [`ALL`](Self::ALL).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where the cells run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    Linux,
    /// Under Wine.
    Windows,
}

impl Os {
    pub fn name(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Windows => "windows",
        }
    }
}

/// The transport profiles, as the peers take them.
pub const PROFILES: [&str; 3] = ["baseline", "shm-hybrid", "shm-alt"];

/// A consumer's checks in the order it runs them, each with the DETAIL of
/// its `ok` line.
pub const CHECKS: [(&str, &str); 5] = [
    ("snapshot", "16 items"),
    ("snapshot-big", "5000 items"),
    ("cgroups-lookup", "32768 keys"),
    ("apps-lookup", "1000 pids"),
    ("cache", "5000 items"),
];

/// One check of one pairing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Pass,
    Fail(String),
}

/// One provider × consumer pairing on one profile: a cell per check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub provider: Lang,
    pub consumer: Lang,
    pub profile: &'static str,
    pub cells: [Cell; 5],
}

impl Row {
    /// A row whose every check failed for `reason` (the pairing could not
    /// run).
    pub fn failed(provider: Lang, consumer: Lang, profile: &'static str, reason: &str) -> Self {
        Self {
            provider,
            consumer,
            profile,
            cells: std::array::from_fn(|_| Cell::Fail(reason.to_owned())),
        }
    }

    /// The row a consumer's standard output makes, given how the consumer
    /// ended (`exit`: `Err` with why it did not exit 0). A check passes
    /// when exactly one line names it and that line is `ok` with the
    /// expected profile and DETAIL; a consumer that did not exit 0
    /// although every check passed fails them all (a failing check
    /// explains its exit status 1).
    pub fn from_output(
        provider: Lang,
        consumer: Lang,
        profile: &'static str,
        stdout: &str,
        exit: &Result<(), String>,
    ) -> Self {
        let mut row = Self {
            provider,
            consumer,
            profile,
            cells: CHECKS.map(|(check, detail)| cell(stdout, check, detail, profile, exit)),
        };
        if let (Err(why), 0) = (exit, row.failures()) {
            row.fail_passes(&format!("printed ok, but the consumer: {why}"));
        }
        row
    }

    /// Fails the passing cells for `reason` (the provider misbehaved after
    /// the consumer ran).
    pub fn fail_passes(&mut self, reason: &str) {
        for cell in &mut self.cells {
            if *cell == Cell::Pass {
                *cell = Cell::Fail(reason.to_owned());
            }
        }
    }

    fn failures(&self) -> usize {
        self.cells.iter().filter(|c| **c != Cell::Pass).count()
    }

    /// `rust -> go shm-alt`.
    fn pairing(&self) -> String {
        format!(
            "{} -> {} {}",
            self.provider.name(),
            self.consumer.name(),
            self.profile
        )
    }
}

/// The cell of `check` in a consumer's output.
fn cell(stdout: &str, check: &str, detail: &str, profile: &str, exit: &Result<(), String>) -> Cell {
    let lines: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|line| {
            let mut words = line.split_whitespace();
            matches!(words.next(), Some("ok" | "FAIL")) && words.next() == Some(check)
        })
        .collect();
    match lines.as_slice() {
        [] => Cell::Fail(match exit {
            Ok(()) => "no line for this check".to_owned(),
            Err(why) => format!("no line for this check (the consumer: {why})"),
        }),
        [line] => parse_line(line, check, detail, profile),
        more => Cell::Fail(format!("{} lines for this check", more.len())),
    }
}

/// `ok CHECK PROFILE_USED DETAIL` or `FAIL CHECK REASON`, for a line known
/// to start with one of them.
fn parse_line(line: &str, check: &str, detail: &str, profile: &str) -> Cell {
    let (verdict, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(check).unwrap_or(rest).trim();
    if verdict == "FAIL" {
        return Cell::Fail(if rest.is_empty() {
            "FAIL without a reason".to_owned()
        } else {
            rest.to_owned()
        });
    }
    let (used, said) = rest.split_once(' ').unwrap_or((rest, ""));
    if used != profile {
        Cell::Fail(format!("ran on {used:?}, expected {profile}"))
    } else if said.trim() != detail {
        Cell::Fail(format!(
            "ok line says {:?}, expected {detail:?}",
            said.trim()
        ))
    } else {
        Cell::Pass
    }
}

/// Every cell of one OS.
pub struct Table {
    pub os: Os,
    pub rows: Vec<Row>,
}

impl Table {
    /// Every pairing the table must have: provider × consumer × profile.
    fn expected() -> impl Iterator<Item = (Lang, Lang, &'static str)> {
        Lang::ALL.into_iter().flat_map(|provider| {
            PROFILES.into_iter().flat_map(move |profile| {
                Lang::ALL
                    .into_iter()
                    .map(move |consumer| (provider, consumer, profile))
            })
        })
    }

    /// The rows in table order, a missing pairing as a failed row, a
    /// pairing given twice once (the later one failed).
    fn complete(&self) -> Vec<Row> {
        Self::expected()
            .map(|(provider, consumer, profile)| {
                let mut found = self.rows.iter().filter(|r| {
                    r.provider == provider && r.consumer == consumer && r.profile == profile
                });
                match (found.next(), found.next()) {
                    (Some(row), None) => row.clone(),
                    (None, _) => Row::failed(provider, consumer, profile, "missing: never ran"),
                    (Some(_), Some(_)) => {
                        Row::failed(provider, consumer, profile, "ran more than once")
                    }
                }
            })
            .collect()
    }

    /// The table and, below it, every failure with its reason.
    pub fn render(&self) -> String {
        let rows = self.complete();
        let head = ["provider", "consumer", "os", "profile"];
        let widths: Vec<usize> = [8, 8, 7, 10]
            .into_iter()
            .chain(CHECKS.iter().map(|(check, _)| check.len()))
            .collect();
        let mut out = String::new();
        let passed = rows.iter().map(|r| 5 - r.failures()).sum::<usize>();
        let _ = writeln!(
            out,
            "interop matrix, {}: {passed}/{} cells pass",
            self.os.name(),
            rows.len() * 5
        );
        let line = |out: &mut String, words: &[&str]| {
            let cells: Vec<String> = words
                .iter()
                .zip(&widths)
                .map(|(word, width)| format!("{word:<width$}"))
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        };
        let header: Vec<&str> = head
            .into_iter()
            .chain(CHECKS.iter().map(|(check, _)| *check))
            .collect();
        line(&mut out, &header);
        for row in &rows {
            let mut words = vec![
                row.provider.name(),
                row.consumer.name(),
                self.os.name(),
                row.profile,
            ];
            words.extend(row.cells.iter().map(|c| match c {
                Cell::Pass => "pass",
                Cell::Fail(_) => "FAIL",
            }));
            line(&mut out, &words);
        }
        let failing: Vec<&Row> = rows.iter().filter(|r| r.failures() > 0).collect();
        if !failing.is_empty() {
            let _ = writeln!(out, "failures ({}):", self.os.name());
        }
        for row in failing {
            // The checks that failed for the same reason, together.
            let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
            for (cell, (check, _)) in row.cells.iter().zip(CHECKS) {
                let Cell::Fail(reason) = cell else { continue };
                match reasons.iter_mut().find(|(r, _)| r == reason) {
                    Some((_, checks)) => checks.push(check),
                    None => reasons.push((reason, vec![check])),
                }
            }
            for (reason, checks) in reasons {
                let checks = if checks.len() == 5 {
                    "every check".to_owned()
                } else {
                    checks.join(", ")
                };
                let _ = writeln!(out, "  {}: {checks}: {reason}", row.pairing());
            }
        }
        out
    }

    /// `135/135 cells`, or the failing pairings.
    pub fn verdict(&self) -> Result<String, String> {
        let rows = self.complete();
        let total = rows.len() * 5;
        let failing: Vec<&Row> = rows.iter().filter(|r| r.failures() > 0).collect();
        let failed: usize = failing.iter().map(|r| r.failures()).sum();
        if failed == 0 {
            return Ok(format!("{total}/{total} cells"));
        }
        const LISTED: usize = 6;
        let mut names: Vec<String> = failing
            .iter()
            .take(LISTED)
            .map(|r| format!("{} ({})", r.pairing(), r.failures()))
            .collect();
        if failing.len() > LISTED {
            names.push(format!("{} more pairings", failing.len() - LISTED));
        }
        Err(format!(
            "{}/{total} cells, {failed} failed: {} (reasons below the table)",
            total - failed,
            names.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_OK: &str = "ok snapshot shm-hybrid 16 items\n\
                          ok snapshot-big shm-hybrid 5000 items\n\
                          ok cgroups-lookup shm-hybrid 32768 keys\n\
                          ok apps-lookup shm-hybrid 1000 pids\n\
                          ok cache shm-hybrid 5000 items\n";

    fn row(stdout: &str, exit: Result<(), String>) -> Row {
        Row::from_output(Lang::Rust, Lang::Go, "shm-hybrid", stdout, &exit)
    }

    fn fail(reason: &str) -> Cell {
        Cell::Fail(reason.to_owned())
    }

    #[test]
    fn five_ok_lines_pass_every_cell() {
        assert_eq!(
            row(ALL_OK, Ok(())).cells,
            std::array::from_fn(|_| Cell::Pass)
        );
        // Windows line ends and stray lines do not matter.
        let crlf = format!("starting\r\n{}", ALL_OK.replace('\n', "\r\n"));
        assert_eq!(
            row(&crlf, Ok(())).cells,
            std::array::from_fn(|_| Cell::Pass)
        );
    }

    #[test]
    fn fail_lines_wrong_profiles_and_details_fail_their_cell() {
        let out = "ok snapshot baseline 16 items\n\
                   FAIL snapshot-big call: no provider at /x: start the provider\n\
                   ok cgroups-lookup shm-hybrid 32767 keys\n\
                   FAIL apps-lookup\n\
                   ok cache shm-hybrid 5000 items\n\
                   ok cache shm-hybrid 5000 items\n";
        assert_eq!(
            row(out, Err("exit code 1".into())).cells,
            [
                fail("ran on \"baseline\", expected shm-hybrid"),
                fail("call: no provider at /x: start the provider"),
                fail("ok line says \"32767 keys\", expected \"32768 keys\""),
                fail("FAIL without a reason"),
                fail("2 lines for this check"),
            ]
        );
    }

    #[test]
    fn the_exit_status_counts() {
        // The checks it finished before the watchdog stopped it count.
        let cells = row(
            "ok snapshot shm-hybrid 16 items\n",
            Err("timed out after 300s (watchdog killed it)".into()),
        )
        .cells;
        assert_eq!(cells[0], Cell::Pass);
        assert_eq!(
            cells[1],
            fail(
                "no line for this check (the consumer: timed out after 300s (watchdog killed it))"
            )
        );
        assert_eq!(row("", Ok(())).cells[4], fail("no line for this check"));
        // Every check passed, yet it did not exit 0 (a crash at its end).
        assert_eq!(
            row(ALL_OK, Err("exit code 134".into())).cells,
            std::array::from_fn(|_| fail("printed ok, but the consumer: exit code 134"))
        );
        // `snapshot` is not `snapshot-big`.
        let only_big = row("ok snapshot-big shm-hybrid 5000 items\n", Ok(()));
        assert_eq!(only_big.cells[0], fail("no line for this check"));
        assert_eq!(only_big.cells[1], Cell::Pass);
    }

    fn full_table(os: Os) -> Table {
        let rows = Table::expected()
            .map(|(provider, consumer, profile)| Row {
                provider,
                consumer,
                profile,
                cells: std::array::from_fn(|_| Cell::Pass),
            })
            .collect();
        Table { os, rows }
    }

    #[test]
    fn a_complete_passing_table() {
        let table = full_table(Os::Linux);
        assert_eq!(table.verdict(), Ok("135/135 cells".to_owned()));
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 27, "{text}");
        assert_eq!(lines[0], "interop matrix, linux: 135/135 cells pass");
        assert_eq!(
            lines[1],
            "provider  consumer  os       profile     snapshot  snapshot-big  \
             cgroups-lookup  apps-lookup  cache"
        );
        assert_eq!(
            lines[2],
            "rust      rust      linux    baseline    pass      pass          \
             pass            pass         pass"
        );
        assert!(lines[28].starts_with("go        go        linux    shm-alt "));
        assert!(!text.contains("failures"));
    }

    #[test]
    fn failures_and_missing_rows_are_listed() {
        let mut table = full_table(Os::Windows);
        table.rows.retain(|r| {
            !(r.provider == Lang::C && r.consumer == Lang::Rust && r.profile == "shm-alt")
        });
        for r in &mut table.rows {
            if r.provider == Lang::Go && r.profile == "baseline" {
                *r = Row::failed(
                    Lang::Go,
                    r.consumer,
                    "baseline",
                    "go provider did not start",
                );
            }
        }
        table.rows[0].cells[2] = fail("key 3: status");
        table.rows[0].fail_passes("the provider did not stop: exit code 1");
        assert_eq!(
            table.verdict(),
            Err(
                "110/135 cells, 25 failed: rust -> rust baseline (5), c -> rust shm-alt (5), \
                 go -> rust baseline (5), go -> c baseline (5), go -> go baseline (5) \
                 (reasons below the table)"
                    .to_owned()
            )
        );
        let text = table.render();
        assert!(
            text.starts_with("interop matrix, windows: 110/135 cells pass\n"),
            "{text}"
        );
        let failures = text.split("failures (windows):\n").nth(1).expect(&text);
        assert_eq!(
            failures,
            "  rust -> rust baseline: snapshot, snapshot-big, apps-lookup, cache: \
             the provider did not stop: exit code 1\n\
             \x20 rust -> rust baseline: cgroups-lookup: key 3: status\n\
             \x20 c -> rust shm-alt: every check: missing: never ran\n\
             \x20 go -> rust baseline: every check: go provider did not start\n\
             \x20 go -> c baseline: every check: go provider did not start\n\
             \x20 go -> go baseline: every check: go provider did not start\n"
        );
        assert!(text.contains("\nc         rust      windows  shm-alt     FAIL      FAIL"));
    }

    #[test]
    fn a_row_given_twice_fails() {
        let mut table = full_table(Os::Linux);
        let again = table.rows[5].clone();
        table.rows.push(again);
        let err = table.verdict().unwrap_err();
        assert!(
            err.starts_with("130/135 cells, 5 failed: rust -> "),
            "{err}"
        );
        assert!(table.render().contains("every check: ran more than once"));
    }

    #[test]
    fn languages_name_their_prefix() {
        let names: Vec<_> = Lang::ALL
            .iter()
            .map(|l| (l.name(), l.prefix(), l.index()))
            .collect();
        assert_eq!(
            names,
            [("rust", "m-rust", 0), ("c", "m-c", 1), ("go", "m-go", 2)]
        );
    }
}
