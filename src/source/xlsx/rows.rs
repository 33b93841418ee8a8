//! An xlsx sheet's cells into rows, each cell in the column its reference names.
//!
//! calamine yields cells in the order the XML has them. Excel writes them row by row, left to
//! right, but the format does not promise it, and a writer that puts `C2` before `A2` is not
//! wrong — counting cells would then put every later value one column off (an email under
//! `domain`), which a create that cannot be undone must never see. So each cell goes to the column
//! of its reference: in order, it is appended (with empty cells for the gaps); out of order, it is
//! set aside and the row is put together by column when it ends.
//!
//! What no spreadsheet program writes is refused rather than guessed at, naming the cell: a
//! position past Excel's grid (row 1,048,576, column `XFD`) — the 13 GB of padding a forged `ZZZZZZZ20`
//! would cost us is never allocated; the same reference twice; a row that comes back after a later
//! one. A row's text is capped at [`MAX_ROW_BYTES`], as a CSV record is.

use crate::source::RawRow;

/// Excel's grid: rows `1..=1_048_576`, columns `A..=XFD`.
pub const MAX_ROWS: u32 = 1_048_576;
pub const MAX_COLUMNS: u32 = 16_384;
/// The most text one row may hold (the CSV reader's `MAX_RECORD_BYTES`).
pub const MAX_ROW_BYTES: usize = 1 << 20;

/// A cell or row that no spreadsheet program would write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    PastLastRow { cell: String },
    PastLastColumn { cell: String },
    Twice { cell: String },
    Backwards { row: u64, after: u64 },
    TooLong { row: u64 },
}

impl RowProblem {
    /// The words after "sheet `S`" in the message.
    pub fn detail(&self) -> String {
        match self {
            RowProblem::PastLastRow { cell } => {
                format!("cell `{cell}` lies past Excel's last row ({MAX_ROWS})")
            }
            RowProblem::PastLastColumn { cell } => {
                format!("cell `{cell}` lies past Excel's last column (`XFD`)")
            }
            RowProblem::Twice { cell } => format!("cell `{cell}` appears twice"),
            RowProblem::Backwards { row, after } => {
                format!("row {row} comes after row {after}; a sheet's rows are stored in order")
            }
            RowProblem::TooLong { row } => format!("row {row} is over 1 MiB long"),
        }
    }
}

/// The name a person reads for a cell: `C7` for row 6, column 2 (both 0-based).
pub fn cell_name(row: u32, column: u32) -> String {
    let mut letters = Vec::new();
    let mut n = u64::from(column) + 1;
    while n > 0 {
        let digit = ((n - 1) % 26) as u8;
        letters.push(b'A' + digit);
        n = (n - 1) / 26;
    }
    letters.reverse();
    format!(
        "{}{}",
        String::from_utf8(letters).expect("ASCII"),
        u64::from(row) + 1
    )
}

/// Puts one row together at a time.
#[derive(Default)]
pub struct RowAssembler {
    row: RawRow,
    /// The row finished last, handed out while the next one is assembled.
    done: RawRow,
    /// The 0-based row being assembled.
    current: Option<u32>,
    /// The columns placed so far, in order.
    columns: Vec<u32>,
    /// Cells that came left of a cell already placed, with their columns.
    late: Vec<(u32, String)>,
    bytes: usize,
}

impl RowAssembler {
    /// Places the cell at row `r`, column `c` (0-based). When it is the first cell of a new row,
    /// the row before is finished and returned.
    pub fn place(&mut self, r: u32, c: u32, text: &str) -> Result<Option<&RawRow>, RowProblem> {
        if r >= MAX_ROWS {
            return Err(RowProblem::PastLastRow {
                cell: cell_name(r, c),
            });
        }
        if c >= MAX_COLUMNS {
            return Err(RowProblem::PastLastColumn {
                cell: cell_name(r, c),
            });
        }
        let finished = match self.current {
            Some(current) if r == current => false,
            Some(current) if r < current => {
                return Err(RowProblem::Backwards {
                    row: u64::from(r) + 1,
                    after: u64::from(current) + 1,
                });
            }
            Some(_) => {
                self.assemble()?;
                std::mem::swap(&mut self.row, &mut self.done);
                self.begin(r);
                true
            }
            None => {
                self.begin(r);
                false
            }
        };
        self.push(c, text)?;
        Ok(finished.then_some(&self.done))
    }

    /// Finishes the last row, if there is one.
    pub fn finish(&mut self) -> Result<Option<&RawRow>, RowProblem> {
        if self.current.take().is_none() {
            return Ok(None);
        }
        self.assemble()?;
        Ok(Some(&self.row))
    }

    fn begin(&mut self, r: u32) {
        self.current = Some(r);
        self.row.number = u64::from(r) + 1;
        self.row.cells.clear();
        self.columns.clear();
        self.late.clear();
        self.bytes = 0;
    }

    fn push(&mut self, c: u32, text: &str) -> Result<(), RowProblem> {
        self.bytes += text.len();
        if self.bytes > MAX_ROW_BYTES {
            return Err(RowProblem::TooLong {
                row: self.row.number,
            });
        }
        if self.columns.last().is_some_and(|&last| c <= last) {
            self.late.push((c, text.to_owned()));
            return Ok(());
        }
        while self.row.cells.len() < c as usize {
            self.row.cells.push_field("");
        }
        self.row.cells.push_field(text);
        self.columns.push(c);
        Ok(())
    }

    /// Puts the cells that came out of order where they belong.
    fn assemble(&mut self) -> Result<(), RowProblem> {
        if self.late.is_empty() {
            return Ok(());
        }
        let mut cells: Vec<(u32, String)> = self
            .columns
            .iter()
            .map(|&c| (c, self.row.cell(c as usize).to_owned()))
            .chain(self.late.drain(..))
            .collect();
        cells.sort_by_key(|&(c, _)| c);
        if let Some(pair) = cells.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(RowProblem::Twice {
                cell: cell_name((self.row.number - 1) as u32, pair[0].0),
            });
        }
        self.row.cells.clear();
        self.columns.clear();
        for (c, text) in &cells {
            while self.row.cells.len() < *c as usize {
                self.row.cells.push_field("");
            }
            self.row.cells.push_field(text);
            self.columns.push(*c);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows `cells` make, as (number, cells).
    fn rows(cells: &[(u32, u32, &str)]) -> Result<Vec<(u64, Vec<String>)>, RowProblem> {
        let mut assembler = RowAssembler::default();
        let mut out = Vec::new();
        let take = |row: &RawRow| (row.number, row.cells.iter().map(str::to_owned).collect());
        for &(r, c, text) in cells {
            if let Some(row) = assembler.place(r, c, text)? {
                out.push(take(row));
            }
        }
        if let Some(row) = assembler.finish()? {
            out.push(take(row));
        }
        Ok(out)
    }

    fn owned(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cells_land_in_the_columns_their_references_name() {
        let got = rows(&[
            (0, 0, "domain"),
            (0, 2, "email"),
            (1, 2, "a@b.c"),
            (1, 0, "d1"),
        ]);
        assert_eq!(
            got.unwrap(),
            [
                (1, owned(&["domain", "", "email"])),
                (2, owned(&["d1", "", "a@b.c"]))
            ]
        );
    }

    #[test]
    fn what_no_spreadsheet_writes_is_refused_naming_the_cell() {
        let twice = rows(&[(2, 1, "x"), (2, 3, "y"), (2, 1, "z")]).unwrap_err();
        assert_eq!(twice, RowProblem::Twice { cell: "B3".into() });
        let back = rows(&[(4, 0, "x"), (2, 0, "y")]).unwrap_err();
        assert_eq!(back, RowProblem::Backwards { row: 3, after: 5 });
        let far = rows(&[(0, MAX_COLUMNS, "x")]).unwrap_err();
        assert_eq!(
            far,
            RowProblem::PastLastColumn {
                cell: "XFE1".into()
            }
        );
        let deep = rows(&[(MAX_ROWS, 0, "x")]).unwrap_err();
        assert_eq!(
            deep,
            RowProblem::PastLastRow {
                cell: "A1048577".into()
            }
        );
    }

    #[test]
    fn a_row_holds_at_most_a_mebibyte() {
        let big = "x".repeat(MAX_ROW_BYTES / 2 + 1);
        let err = rows(&[(9, 0, &big), (9, 1, &big)]).unwrap_err();
        assert_eq!(err, RowProblem::TooLong { row: 10 });
    }

    #[test]
    fn cell_names_are_excels() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(19, 25), "Z20");
        assert_eq!(cell_name(0, 26), "AA1");
        assert_eq!(cell_name(1_048_575, 16_383), "XFD1048576");
        assert_eq!(cell_name(u32::MAX, u32::MAX), "MWLQKWV4294967296");
    }
}
