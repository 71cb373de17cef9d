//! Text tables, laid out by `tabled`: a terminal table (a header row,
//! aligned columns two spaces apart, no borders, no trailing spaces) or a
//! Markdown table (aligned columns, with the alignment row GitHub reads:
//! `--:` for right-aligned columns). Long cells can be shortened in the
//! middle, which keeps the informative end of a path.

use tabled::builder::Builder;
use tabled::grid::config::Offset;
use tabled::settings::object::{Cell, Columns};
use tabled::settings::style::LineChar;
use tabled::settings::{Alignment, Padding, Style};

/// A table being filled.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
    max: Vec<Option<usize>>,
    indent: usize,
    markdown: bool,
}

impl Table {
    /// A terminal table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            right: vec![false; headers.len()],
            max: vec![None; headers.len()],
            indent: 0,
            markdown: false,
        }
    }

    /// A Markdown table with these column headers.
    pub fn markdown(headers: &[&str]) -> Self {
        Self {
            markdown: true,
            ..Self::new(headers)
        }
    }

    /// Right-aligns the columns `cols` (numbers).
    pub fn right(mut self, cols: &[usize]) -> Self {
        for &c in cols {
            if let Some(r) = self.right.get_mut(c) {
                *r = true;
            }
        }
        self
    }

    /// Shortens cells of column `col` to at most `width` characters.
    pub fn max_width(mut self, col: usize, width: usize) -> Self {
        if let Some(m) = self.max.get_mut(col) {
            *m = Some(width.max(5));
        }
        self
    }

    /// Indents every line by `n` spaces.
    pub fn indent(mut self, n: usize) -> Self {
        self.indent = n;
        self
    }

    /// Adds a row (missing cells are empty, extra ones are dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The table as text, one line per row plus the header (and the
    /// alignment row of a Markdown table), each ending in a newline.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let mut builder = Builder::new();
        builder.push_record(self.headers.iter().cloned());
        for row in &self.rows {
            builder.push_record((0..cols).map(|c| {
                let s = row.get(c).map_or("", String::as_str);
                match self.max[c] {
                    Some(m) => shorten(s, m),
                    None => s.to_owned(),
                }
            }));
        }
        let mut table = builder.build();
        if self.markdown {
            table.with(Style::markdown());
        } else {
            table
                .with(Style::empty())
                .with(Padding::new(0, 2, 0, 0))
                .modify(Columns::last(), Padding::zero());
        }
        for (c, _) in self.right.iter().enumerate().filter(|(_, r)| **r) {
            table.modify(Columns::one(c), Alignment::right());
            if self.markdown && !self.rows.is_empty() {
                // The line above the first row is the alignment row.
                table.modify(Cell::new(1, c), LineChar::horizontal(':', Offset::End(0)));
            }
        }
        let mut out = String::new();
        for line in table.to_string().lines() {
            out.push_str(&" ".repeat(self.indent));
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `s` cut to `max` characters with `…` in the middle.
pub fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_columns() {
        let mut t = Table::new(&["N", "NAME"]).right(&[0]).indent(2);
        t.row(vec!["1".into(), "a".into()]);
        t.row(vec!["100".into(), "bbb".into()]);
        assert_eq!(t.render(), "    N  NAME\n    1  a\n  100  bbb\n");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn missing_cells_and_an_empty_table() {
        let mut t = Table::new(&["A", "B", "C"]);
        t.row(vec!["x".into()]);
        assert_eq!(t.render(), "A  B  C\nx\n");
        assert_eq!(Table::new(&["ONLY"]).render(), "ONLY\n");
    }

    #[test]
    fn markdown_with_alignment_row() {
        let mut t = Table::markdown(&["scenario", "µs", "wait"]).right(&[1]);
        t.row(vec!["a".into(), "12.5".into(), "poll".into()]);
        t.row(vec!["longer-name".into(), "7".into(), "-".into()]);
        assert_eq!(
            t.render(),
            "| scenario    |   µs | wait |\n\
             |-------------|-----:|------|\n\
             | a           | 12.5 | poll |\n\
             | longer-name |    7 | -    |\n"
        );
    }

    #[test]
    fn shortening_keeps_both_ends() {
        assert_eq!(shorten("/sys/fs/cgroup/abc", 9), "/sys…/abc");
        assert_eq!(shorten("short", 9), "short");
        let t = Table::new(&["P"]).max_width(0, 7);
        let mut t = t;
        t.row(vec!["0123456789".into()]);
        assert_eq!(t.render(), "P\n012…789\n");
    }
}
