//! A small text table: a header row, aligned columns two spaces apart, no
//! trailing spaces. Long cells can be shortened in the middle, which keeps
//! the informative end of a path.

/// A table being filled.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
    max: Vec<Option<usize>>,
    indent: usize,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            right: vec![false; headers.len()],
            max: vec![None; headers.len()],
            indent: 0,
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

    /// Adds a row (missing cells are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The table as text, one line per row plus the header.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let cell = |row: &[String], c: usize| -> String {
            let s = row.get(c).map_or("", String::as_str);
            match self.max[c] {
                Some(m) => shorten(s, m),
                None => s.to_owned(),
            }
        };
        let rows: Vec<Vec<String>> = std::iter::once(self.headers.clone())
            .chain(self.rows.iter().cloned())
            .map(|r| (0..cols).map(|c| cell(&r, c)).collect())
            .collect();
        let widths: Vec<usize> = (0..cols)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &rows {
            let mut line = " ".repeat(self.indent);
            for (c, value) in row.iter().enumerate() {
                let pad = widths[c] - value.chars().count();
                if c > 0 {
                    line.push_str("  ");
                }
                if self.right[c] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(value);
                } else {
                    line.push_str(value);
                    line.push_str(&" ".repeat(pad));
                }
            }
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
    fn shortening_keeps_both_ends() {
        assert_eq!(shorten("/sys/fs/cgroup/abc", 9), "/sys…/abc");
        assert_eq!(shorten("short", 9), "short");
        let t = Table::new(&["P"]).max_width(0, 7);
        let mut t = t;
        t.row(vec!["0123456789".into()]);
        assert_eq!(t.render(), "P\n012…789\n");
    }
}
