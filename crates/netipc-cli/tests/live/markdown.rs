//! Reading the Markdown tables `netipc bench` and `netipc stress` print:
//! rows as trimmed cells, so the tests check what the tables say, not
//! how wide their columns are.

#![allow(dead_code)]

/// The cells of every table row of `text` (the lines between `|`s),
/// trimmed; alignment rows (`|---|--:|`) are left out.
pub fn rows(text: &str) -> Vec<Vec<&str>> {
    let alignment = |cell: &&str| !cell.is_empty() && cell.chars().all(|c| c == '-' || c == ':');
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('|')?.strip_suffix('|'))
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|cells| !cells.iter().all(alignment))
        .collect()
}

/// The first row whose first cell is `first`.
pub fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    rows(text)
        .into_iter()
        .find(|r| r.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{text}"))
}

/// Asserts that the row whose first cell is `cells[0]` begins with
/// `cells`.
pub fn assert_row_starts(text: &str, cells: &[&str]) {
    let row = row(text, cells[0]);
    assert!(
        row.starts_with(cells),
        "{row:?} does not start with {cells:?} in\n{text}"
    );
}

/// Asserts that some row (a header) has the cells `columns` side by side.
pub fn assert_columns(text: &str, columns: &[&str]) {
    assert!(
        rows(text)
            .iter()
            .any(|r| r.windows(columns.len()).any(|w| w == columns)),
        "no columns {columns:?} in\n{text}"
    );
}

/// The alignment rows of `text`, as written (`|---|--:|`, without spaces).
pub fn alignment_rows(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("|-") || l.starts_with("|:"))
        .collect()
}
