//! A tiny text layout helper: indented lines, aligned `key  value` blocks,
//! tables with aligned columns and hex dumps.

use std::fmt::Write as _;

/// Column alignment in a [`Out::table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Pad on the right.
    Left,
    /// Pad on the left (numbers).
    Right,
}

/// Accumulates the text output.
#[derive(Debug, Default)]
pub struct Out {
    buf: String,
}

const INDENT: &str = "  ";

impl Out {
    /// An empty output.
    pub fn new() -> Self {
        Self::default()
    }

    /// One line at `indent` levels.
    pub fn line(&mut self, indent: usize, text: impl AsRef<str>) {
        for _ in 0..indent {
            self.buf.push_str(INDENT);
        }
        self.buf.push_str(text.as_ref().trim_end());
        self.buf.push('\n');
    }

    /// An empty line (never two in a row, never at the start).
    pub fn blank(&mut self) {
        if !self.buf.is_empty() && !self.buf.ends_with("\n\n") {
            self.buf.push('\n');
        }
    }

    /// `key  value` lines with the values aligned.
    pub fn fields(&mut self, indent: usize, rows: &[(&str, String)]) {
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (key, value) in rows {
            let pad = width - key.chars().count();
            self.line(indent, format!("{key}{:pad$}  {value}", ""));
        }
    }

    /// A table: one header row, then `rows`, columns separated by two
    /// spaces and aligned per `columns`.
    pub fn table(&mut self, indent: usize, columns: &[(&str, Align)], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = columns.iter().map(|(h, _)| h.chars().count()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header: Vec<String> = columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(rows) {
            let mut text = String::new();
            for (i, ((cell, width), (_, align))) in row.iter().zip(&widths).zip(columns).enumerate()
            {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = width - cell.chars().count();
                match align {
                    Align::Left => {
                        let _ = write!(text, "{cell}{:pad$}", "");
                    }
                    Align::Right => {
                        let _ = write!(text, "{:pad$}{cell}", "");
                    }
                }
            }
            self.line(indent, text);
        }
    }

    /// A hex dump of at most `limit` bytes, offsets counted from `start`.
    pub fn hexdump(&mut self, indent: usize, bytes: &[u8], start: usize, limit: usize) {
        let shown = &bytes[..bytes.len().min(limit)];
        for (row, chunk) in shown.chunks(16).enumerate() {
            let mut text = format!("{:08x} ", start + row * 16);
            for (i, b) in chunk.iter().enumerate() {
                let sep = if i == 8 { "  " } else { " " };
                let _ = write!(text, "{sep}{b:02x}");
            }
            let missing = 16 - chunk.len();
            let pad = missing * 3 + usize::from(chunk.len() <= 8);
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        char::from(b)
                    } else {
                        '.'
                    }
                })
                .collect();
            let _ = write!(text, "{:pad$}  |{ascii}|", "");
            self.line(indent, text);
        }
        if bytes.len() > shown.len() {
            self.line(
                indent,
                format!(
                    "... {} more bytes (--json shows all)",
                    bytes.len() - shown.len()
                ),
            );
        }
    }

    /// The text.
    pub fn finish(self) -> String {
        self.buf
    }
}
