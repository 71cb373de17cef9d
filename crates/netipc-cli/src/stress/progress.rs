//! Progress on stderr: on a terminal, a bar over the rows with the current
//! row and what it is doing; otherwise one line per row as it starts (so a
//! log shows where a long run is).

use std::io::{self, IsTerminal};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// The progress display of a run.
pub struct Progress {
    bar: ProgressBar,
    terminal: bool,
    rows: usize,
    /// The row being run, shown before its status.
    current: Mutex<String>,
}

impl Progress {
    pub fn new(rows: usize) -> Self {
        let terminal = io::stderr().is_terminal();
        let bar = if terminal {
            ProgressBar::new(rows as u64)
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{msg:60} [{bar:24}] {pos}/{len} rows, {elapsed}")
            .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        Self {
            bar,
            terminal,
            rows,
            current: Mutex::new(String::new()),
        }
    }

    /// Row `index` (from 0), named `name`, starts.
    pub fn row(&self, index: usize, name: &str) {
        self.bar.set_position(index as u64);
        if let Ok(mut current) = self.current.lock() {
            name.clone_into(&mut current);
        }
        if !self.terminal {
            eprintln!("netipc stress: row {} of {}: {name}", index + 1, self.rows);
        }
        self.status("");
    }

    /// What the current row is doing.
    pub fn status(&self, text: &str) {
        if !self.terminal {
            return;
        }
        let current = self.current.lock().map(|c| c.clone()).unwrap_or_default();
        if text.is_empty() {
            self.bar.set_message(current);
        } else {
            self.bar.set_message(format!("{current}: {text}"));
        }
    }

    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}
