//! xlsx and xlsm, streamed in this process, cell by cell, with each cell's number format.
//!
//! This is the main path and it stays in-process for speed; what makes that safe against a hostile
//! file is done around calamine, not inside it:
//! - before calamine opens the file, [`package::check_xlsx`] refuses parts that would exhaust
//!   memory (by their declared sizes, the shared strings header, a budget for styles, and for large
//!   worksheets a scan bounding every XML event, [`xml_scan`]);
//! - every call into calamine (and into the zip crate and quick-xml for the checks) runs under the
//!   panic guard ([`crate::source::guard`]); calamine is compiled with overflow checks, so a cell
//!   reference that would wrap (`A4294967297` reading as `A1`) panics instead, and [`diagnose`]
//!   then finds the reference to name it;
//! - [`rows::RowAssembler`] places each cell by its reference, refuses positions past Excel's grid,
//!   repeated references and rows out of order, and caps a row's text.

mod append;
mod diagnose;
mod package;
mod rows;
mod xml_scan;

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use calamine::{Reader, Xlsx};

use super::cell_text::{Padding, value_of_ref, write_cell};
use super::guard::{Panicked, contain};
use super::{Header, RawRow, RowVisitor, SheetChoice, SourceError, SourceInfo, SourceOptions};
use rows::{MAX_ROW_BYTES, RowAssembler, RowProblem};

pub use append::{AppendError, append_columns};

pub fn read<V: RowVisitor>(
    path: &Path,
    options: &SourceOptions,
    visitor: &mut V,
) -> Result<SourceInfo, V::Error> {
    // The checks call the zip crate and quick-xml on the raw file: they are readers too.
    let to_scan = contain(|| package::check_xlsx(path)).map_err(|p| damaged(path, None, &p))??;
    let file = File::open(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // The large worksheets are scanned on a thread of their own while calamine loads the shared
    // strings and styles; the scan must have passed before any worksheet is read.
    let opened = std::thread::scope(|scope| {
        let scan = (!to_scan.is_empty()).then(|| {
            scope.spawn(|| {
                contain(|| package::scan_worksheets(path, &to_scan))
                    .map_err(|p| damaged(path, None, &p))?
            })
        });
        let opened = contain(|| Xlsx::new(BufReader::new(file)));
        if let Some(scan) = scan {
            scan.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        }
        Ok::<_, SourceError>(opened)
    })?;
    let opened = opened.map_err(|panic| damaged(path, None, &panic))?;
    let mut workbook = opened.map_err(|e| SourceError::Workbook {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let names = workbook.sheet_names();
    if names.is_empty() {
        return Err(SourceError::Workbook {
            path: path.to_path_buf(),
            message: "the workbook has no sheets".into(),
        }
        .into());
    }
    let mut book = Book {
        path,
        workbook: &mut workbook,
    };
    let sheet = choose_sheet(&mut book, &names, &options.sheet, visitor)?;
    let mut header_seen = false;
    book.rows::<V::Error>(&sheet, &mut |row| {
        if header_seen {
            visitor.row(row)?;
        } else {
            header_seen = true;
            visitor.header(&Header {
                number: row.number,
                cells: row.cells.iter().map(str::to_owned).collect(),
                sheet: Some(sheet.clone()),
            })?;
        }
        Ok(Flow::Continue)
    })?;
    if !header_seen {
        return Err(SourceError::NoHeader {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(SourceInfo {
        format: "xlsx",
        sheet: Some(sheet),
        encoding: None,
        encoding_basis: None,
        delimiter: None,
        sep_directive: false,
    })
}

/// The error for a panic inside calamine: the reason [`diagnose`] finds in the sheet, or else
/// where calamine failed.
fn damaged(path: &Path, sheet: Option<&str>, panic: &Panicked) -> SourceError {
    let found = sheet.and_then(|sheet| contain(|| diagnose::explain(path, sheet)).ok().flatten());
    let detail = match (sheet, found) {
        (Some(sheet), Some(reason)) => {
            format!("sheet `{}`, {reason}", crate::shown::shown(sheet))
        }
        (Some(sheet), None) => format!("sheet `{}`: {panic}", crate::shown::shown(sheet)),
        (None, _) => panic.to_string(),
    };
    SourceError::Damaged {
        path: path.to_path_buf(),
        detail,
    }
}

fn choose_sheet<V: RowVisitor, RS: Read + Seek>(
    book: &mut Book<'_, RS>,
    names: &[String],
    choice: &SheetChoice,
    visitor: &V,
) -> Result<String, V::Error> {
    match choice {
        SheetChoice::Named(wanted) => super::spreadsheet::named(names, wanted)
            .cloned()
            .ok_or_else(|| {
                SourceError::SheetNotFound {
                    path: book.path.to_path_buf(),
                    wanted: wanted.clone(),
                    available: names.to_vec(),
                }
                .into()
            }),
        // With one sheet there is nothing to choose: the visitor's own complaint about its header
        // (which columns are missing) says more than "no sheet matched".
        SheetChoice::FirstRecognized if names.len() == 1 => Ok(names[0].clone()),
        SheetChoice::FirstRecognized => {
            // A sheet that starts with the header wins. Failing that, the one sheet with the
            // header under a title row (the visitor's header search finds it again as the sheet
            // is streamed); two such sheets — an instructions sheet that lists the headers above
            // an example, and the list itself — are not told apart by guessing: `--sheet`.
            let mut below_a_title = Vec::new();
            for name in names {
                let first = book.first_rows(name, super::HEADER_SEARCH_ROWS)?;
                match first.iter().position(|row| visitor.recognizes(row)) {
                    Some(0) => return Ok(name.clone()),
                    Some(_) => below_a_title.push(name),
                    None => {}
                }
            }
            if let [only] = below_a_title.as_slice() {
                return Ok((*only).clone());
            }
            Err(SourceError::NoRecognizedSheet {
                path: book.path.to_path_buf(),
                sheets: names.to_vec(),
            }
            .into())
        }
    }
}

enum Flow {
    Continue,
    Stop,
}

struct Book<'a, RS> {
    path: &'a Path,
    workbook: &'a mut Xlsx<RS>,
}

impl<RS: Read + Seek> Book<'_, RS> {
    /// The first `n` non-empty rows of a sheet.
    fn first_rows(&mut self, sheet: &str, n: usize) -> Result<Vec<Vec<String>>, SourceError> {
        let mut first = Vec::new();
        self.rows(sheet, &mut |row| {
            first.push(row.cells.iter().map(str::to_owned).collect());
            Ok::<_, SourceError>(if first.len() >= n {
                Flow::Stop
            } else {
                Flow::Continue
            })
        })?;
        Ok(first)
    }

    /// Calls `each` with every non-empty row of `sheet`, until it says stop.
    fn rows<E: From<SourceError>>(
        &mut self,
        sheet: &str,
        each: &mut dyn FnMut(&RawRow) -> Result<Flow, E>,
    ) -> Result<(), E> {
        stream(self.workbook, self.path, sheet, each)
    }
}

fn stream<RS: Read + Seek, E: From<SourceError>>(
    xlsx: &mut Xlsx<RS>,
    path: &Path,
    sheet: &str,
    each: &mut dyn FnMut(&RawRow) -> Result<Flow, E>,
) -> Result<(), E> {
    let sheet_error = |message: String| SourceError::Workbook {
        path: path.to_path_buf(),
        message: format!("sheet `{}`: {message}", crate::shown::shown(sheet)),
    };
    let problem = |problem: RowProblem| match problem {
        RowProblem::TooLong { row } => SourceError::RowTooLong {
            path: path.to_path_buf(),
            row,
            limit: MAX_ROW_BYTES as u64,
        },
        other => SourceError::Damaged {
            path: path.to_path_buf(),
            detail: format!("sheet `{}`, {}", crate::shown::shown(sheet), other.detail()),
        },
    };
    let panicked = |panic: Panicked| damaged(path, Some(sheet), &panic);
    let mut cells = contain(move || xlsx.worksheet_cells_reader(sheet))
        .map_err(panicked)?
        .map_err(|e| sheet_error(e.to_string()))?;
    let padding: Vec<Option<Padding>> = cells
        .styles()
        .iter()
        .map(|style| {
            style
                .number_format
                .as_ref()
                .and_then(|f| Padding::from_format(&f.format_code))
        })
        .collect();
    let mut rows = RowAssembler::default();
    let mut text = String::new();
    loop {
        let next = contain(|| cells.next_cell_with_style_id())
            .map_err(panicked)?
            .map_err(|e| sheet_error(e.to_string()))?;
        let Some((cell, style)) = next else { break };
        let (r, c) = cell.get_position();
        text.clear();
        let pad = padding.get(style).copied().flatten();
        write_cell(&mut text, &value_of_ref(cell.get_value()), pad);
        if let Some(row) = rows.place(r, c, text.trim()).map_err(problem)?
            && !row.is_blank()
            && matches!(each(row)?, Flow::Stop)
        {
            return Ok(());
        }
    }
    if let Some(row) = rows.finish().map_err(problem)?
        && !row.is_blank()
    {
        each(row)?;
    }
    Ok(())
}
