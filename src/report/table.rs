//! A table written for people to open: CSV, or a real Excel workbook when the name ends in `.xlsx`.
//!
//! Two promises about what a person sees when the file is opened in a spreadsheet program:
//! - **A cell is never run as a formula.** Cells that came from a sheet or from Partner Center (a
//!   company name, an external id, an error message) may begin with `=`, `+`, `-`, `@`, a tab or
//!   a carriage return, which Excel and LibreOffice take as the start of a formula (CSV
//!   injection). In CSV such a cell is neutralised as OWASP recommends — a `'` in front — except in
//!   columns marked verbatim (passwords: altering one would lock the admin out). In a workbook every
//!   cell is a text cell, so nothing needs neutralising and nothing is altered.
//! - **The name says what it is.** `.xlsx` is a workbook, `.csv` is CSV; any other name is refused
//!   rather than written as something it is not.
//!
//! Private tables (credentials) are created new, mode 0600, never over an existing file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::Error;

/// What kind of file a name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Csv,
    Xlsx,
}

impl TableFormat {
    /// The format `path`'s extension names, or a usage error for any other name.
    pub fn of(path: &Path) -> Result<TableFormat, Error> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(TableFormat::Csv),
            Some("xlsx") => Ok(TableFormat::Xlsx),
            _ => Err(Error::usage(
                format!(
                    "`{}`: csp-onboard writes `.csv` and `.xlsx` files",
                    path.display()
                ),
                Some("name the file `.csv`, or `.xlsx` for a workbook".into()),
            )),
        }
    }
}

/// How a table is written.
pub struct TableSpec<'a> {
    pub columns: &'a [&'a str],
    /// Columns written exactly as they are, even in CSV (passwords).
    pub verbatim: &'a [&'a str],
    /// Mode 0600, created new (never over an existing file).
    pub private: bool,
    /// The worksheet's name in a workbook.
    pub sheet: &'a str,
}

/// Writes `rows` (each as many cells as there are columns) to `out`, in the format its name says.
pub fn write_table<R: AsRef<[String]>>(
    out: &Path,
    spec: &TableSpec<'_>,
    rows: &[R],
) -> Result<(), Error> {
    let format = TableFormat::of(out)?;
    let bytes = table_bytes(format, spec, rows).map_err(|message| Error::Write {
        path: out.to_path_buf(),
        source: std::io::Error::other(message),
    })?;
    let mut file = create(out, spec.private)?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::Write {
            path: out.to_path_buf(),
            source,
        })
}

/// The table as the bytes of a file of `format` (CSV neutralised, workbook of text cells).
pub fn table_bytes<R: AsRef<[String]>>(
    format: TableFormat,
    spec: &TableSpec<'_>,
    rows: &[R],
) -> Result<Vec<u8>, String> {
    match format {
        TableFormat::Csv => {
            let verbatim: Vec<bool> = spec
                .columns
                .iter()
                .map(|c| spec.verbatim.contains(c))
                .collect();
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer
                .write_record(spec.columns)
                .map_err(|e| e.to_string())?;
            for row in rows {
                let cells = row.as_ref().iter().enumerate().map(|(i, cell)| {
                    if verbatim.get(i).copied().unwrap_or(false) {
                        std::borrow::Cow::Borrowed(cell.as_str())
                    } else {
                        neutralise(cell)
                    }
                });
                writer
                    .write_record(cells.map(|c| c.into_owned()))
                    .map_err(|e| e.to_string())?;
            }
            writer.into_inner().map_err(|e| e.error().to_string())
        }
        TableFormat::Xlsx => {
            let mut workbook = rust_xlsxwriter::Workbook::new();
            // A large table is written row after row to a temporary file (constant memory:
            // no autofit there, a set width instead); a small one in memory, fitted. Never a
            // private one: passwords do not go through a temporary file.
            let large = rows.len() > LARGE_TABLE && !spec.private;
            let sheet = if large {
                workbook.add_worksheet_with_constant_memory()
            } else {
                workbook.add_worksheet()
            };
            sheet.set_name(spec.sheet).map_err(|e| e.to_string())?;
            if large {
                for c in 0..spec.columns.len() {
                    sheet
                        .set_column_width(c as u16, 24)
                        .map_err(|e| e.to_string())?;
                }
            }
            let bold = rust_xlsxwriter::Format::new().set_bold();
            for (c, name) in spec.columns.iter().enumerate() {
                sheet
                    .write_string_with_format(0, c as u16, *name, &bold)
                    .map_err(|e| e.to_string())?;
            }
            for (r, row) in rows.iter().enumerate() {
                let r = u32::try_from(r + 1).map_err(|_| "too many rows".to_string())?;
                for (c, cell) in row.as_ref().iter().enumerate() {
                    // Text cells: `=1+1` stays `=1+1`, `00123` keeps its zeros.
                    sheet
                        .write_string(r, c as u16, cell)
                        .map_err(|e| e.to_string())?;
                }
            }
            if !large {
                sheet.autofit();
            }
            workbook.save_to_buffer().map_err(|e| e.to_string())
        }
    }
}

/// Past this many rows a workbook is written in constant memory.
const LARGE_TABLE: usize = 10_000;

/// Creates `out` for writing: private ones new and 0600.
pub fn create(out: &Path, private: bool) -> Result<File, Error> {
    let mut options = OpenOptions::new();
    options.write(true);
    if private {
        options.create_new(true).mode(0o600);
    } else {
        options.create(true).truncate(true);
    }
    options.open(out).map_err(|source| {
        if private && source.kind() == std::io::ErrorKind::AlreadyExists {
            Error::usage(
                format!("`{}` already exists", out.display()),
                Some(
                    "credentials are never written over an existing file: remove it or name another"
                        .into(),
                ),
            )
        } else {
            Error::Write {
                path: out.to_path_buf(),
                source,
            }
        }
    })
}

/// A CSV cell a spreadsheet program would take as a formula, made plain text (OWASP: prefix `'`).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised_and_nothing_else_changes() {
        for (cell, want) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+31 20 123", "'+31 20 123"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("Wingtip Toys", "Wingtip Toys"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn only_csv_and_xlsx_names_are_written() {
        assert_eq!(
            TableFormat::of(Path::new("r.CSV")).unwrap(),
            TableFormat::Csv
        );
        assert_eq!(
            TableFormat::of(Path::new("r.xlsx")).unwrap(),
            TableFormat::Xlsx
        );
        for name in ["r.xls", "r.ods", "r", "r.txt"] {
            assert!(TableFormat::of(Path::new(name)).is_err(), "{name}");
        }
    }
}
