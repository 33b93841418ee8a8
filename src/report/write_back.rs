//! `export --write-back OUT`: the distributor's own sheet, with each row's outcome in columns
//! appended after its own — the file they already know, now saying what became of every customer.
//!
//! The sheet is the one the journal last imported, found by the path it was given then (or
//! `--from`), and it must be byte for byte what was imported: row numbers are how its rows meet
//! the journal's, and a sheet edited since would put one customer's outcome beside another's. A
//! workbook is copied part for part with only the new cells added ([`crate::source::append_columns`]);
//! delimited text is written back with the same delimiter, its cells exactly as they were (UTF-8,
//! with a byte-order mark when the original was in another encoding or had one; blank lines are
//! left out). The appended cells of a CSV are neutralised against formula injection; a workbook's
//! are inline strings, never formulas.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::Error;
use crate::journal::queries::{self, RowOutcome};
use crate::mapping::{Binding, Template};
use crate::source::{self, Header, RawRow, RowVisitor, SourceError, SourceOptions};

/// The columns appended, in order (CONTRACTS.md: state, customer id, sign-in name, error,
/// attestation). Prefixed so that they never meet a column of the sheet's own (`State`).
pub const WRITE_BACK_COLUMNS: [&str; 5] = [
    "csp-onboard state",
    "csp-onboard customer id",
    "csp-onboard sign-in name",
    "csp-onboard error",
    "csp-onboard MCA attestation",
];

/// What the write-back wrote.
pub struct WrittenBack {
    pub sheet: PathBuf,
    /// Rows that got an outcome.
    pub rows: usize,
}

/// The cells appended to a row.
pub fn cells_of(outcome: &RowOutcome) -> [String; 5] {
    let created = outcome.state == "created";
    let sign_in = match (&outcome.domain, created) {
        (Some(domain), true) => format!("admin@{domain}"),
        _ => String::new(),
    };
    let attestation = match (outcome.attestation.as_deref(), created) {
        (Some("done"), _) => "attested",
        (Some("failed"), true) => "failed",
        (Some(_), true) => "pending",
        _ => "",
    };
    [
        outcome.state.clone(),
        outcome.customer_id.clone().unwrap_or_default(),
        sign_in,
        if created {
            String::new()
        } else {
            outcome.error.clone().unwrap_or_default()
        },
        attestation.to_string(),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Delimited,
    Workbook,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "csv" | "tsv" | "txt" => Some(Kind::Delimited),
        "xlsx" | "xlsm" => Some(Kind::Workbook),
        _ => None,
    }
}

pub fn write_back(
    conn: &Connection,
    from: Option<&Path>,
    out: &Path,
) -> Result<WrittenBack, Error> {
    let sqlite = |e: rusqlite::Error| Error::usage(format!("cannot read the journal: {e}"), None);
    let Some(queries::Imported {
        sheet: journaled,
        hash,
        template,
    }) = queries::last_import(conn).map_err(sqlite)?
    else {
        return Err(Error::usage(
            "the journal has imported no sheet: there is nothing to write back".to_string(),
            None,
        ));
    };
    let sheet = from.map_or_else(|| PathBuf::from(&journaled), Path::to_path_buf);
    if !sheet.is_file() {
        return Err(Error::usage(
            format!("the journal's sheet `{}` is not there", sheet.display()),
            Some("name it with `--from FILE` (the sheet as it was imported)".into()),
        ));
    }
    let now = crate::journal::import::file_hash(&sheet).map_err(|source| SourceError::Io {
        path: sheet.clone(),
        source,
    })?;
    if hash.as_deref() != Some(now.as_str()) {
        return Err(Error::usage(
            format!(
                "`{}` is not the sheet the journal last imported: it changed since, and its rows may no longer be where the journal has them",
                sheet.display()
            ),
            Some(
                "run it again (`run` imports it anew), or name the file as it was with `--from`"
                    .into(),
            ),
        ));
    }
    let kind = kind_of(&sheet).ok_or_else(|| {
        Error::usage(
            format!(
                "`{}`: the write-back copies CSV and xlsx sheets only",
                sheet.display()
            ),
            Some("save the sheet as .xlsx, run it, and write that back".into()),
        )
    })?;
    if kind_of(out) != Some(kind) {
        return Err(Error::usage(
            format!(
                "`{}`: a write-back is the same kind of file as the sheet `{}`",
                out.display(),
                sheet.display()
            ),
            Some(match kind {
                Kind::Delimited => "name it `.csv`".into(),
                Kind::Workbook => "name it `.xlsx`".into(),
            }),
        ));
    }
    if same_file(&sheet, out) {
        return Err(Error::usage(
            format!("`{}` is the sheet itself", out.display()),
            Some("the write-back is a copy: name another file".into()),
        ));
    }
    let outcomes = match queries::outcomes_by_row(conn).map_err(sqlite)? {
        Ok(outcomes) => outcomes,
        Err(row) => {
            return Err(Error::usage(
                format!(
                    "the journal holds two rows numbered {row}: it has rows of more than one sheet (`--add-sheet`), and the write-back cannot tell which is this one's"
                ),
                None,
            ));
        }
    };
    let template = match template.as_deref() {
        None | Some("built-in") => Template::builtin(),
        Some(path) => Template::load(Path::new(path))?,
    };
    let written = match kind {
        Kind::Delimited => write_delimited(&sheet, out, &template, &outcomes)?,
        Kind::Workbook => write_workbook(&sheet, out, &template, &outcomes)?,
    };
    Ok(WrittenBack {
        sheet,
        rows: written,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A header that already has the write-back's columns is a write-back itself.
fn check_header(sheet: &Path, header: &Header) -> Result<(), Error> {
    if header.cells.iter().any(|c| {
        WRITE_BACK_COLUMNS
            .iter()
            .any(|w| c.trim().eq_ignore_ascii_case(w))
    }) {
        return Err(Error::usage(
            format!(
                "`{}` has csp-onboard's columns already: it is a write-back",
                sheet.display()
            ),
            Some("write back from the sheet as it was imported".into()),
        ));
    }
    Ok(())
}

/// The sheet's header as the import found it (the template recognises it), and nothing more.
struct FindHeader<'t> {
    template: &'t Template,
    header: Option<Header>,
}

impl RowVisitor for FindHeader<'_> {
    type Error = Error;

    fn recognizes(&self, header: &[String]) -> bool {
        Binding::new(self.template, header, 0, "").is_ok()
    }

    fn header(&mut self, header: &Header) -> Result<(), Error> {
        self.header = Some(header.clone());
        Ok(())
    }

    fn row(&mut self, _row: &RawRow) -> Result<(), Error> {
        Ok(())
    }
}

/// The sheet's header as the import finds it, and how the sheet was read.
fn find_header(sheet: &Path, template: &Template) -> Result<(Header, source::SourceInfo), Error> {
    let mut find = FindHeader {
        template,
        header: None,
    };
    let info = source::read(sheet, &SourceOptions::default(), &mut find)?;
    let header = find.header.expect("a read that succeeded saw its header");
    Ok((header, info))
}

fn write_workbook(
    sheet: &Path,
    out: &Path,
    template: &Template,
    outcomes: &HashMap<i64, RowOutcome>,
) -> Result<usize, Error> {
    let (header, info) = find_header(sheet, template)?;
    check_header(sheet, &header)?;
    let sheet_name = info.sheet.clone().unwrap_or_default();
    let header_row = header.number;
    let counted = std::cell::Cell::new(0usize);
    let cells = |row: u64| {
        if row == header_row {
            return Some(WRITE_BACK_COLUMNS.iter().map(|c| c.to_string()).collect());
        }
        let outcome = outcomes.get(&(row as i64)).filter(|_| row > header_row)?;
        counted.set(counted.get() + 1);
        Some(cells_of(outcome).to_vec())
    };
    let staged = staging(out);
    source::append_columns(
        sheet,
        &sheet_name,
        &staged,
        WRITE_BACK_COLUMNS.len(),
        &cells,
    )
    .map_err(|e| {
        let _ = std::fs::remove_file(&staged);
        Error::usage(format!("`{}`: {e}", sheet.display()), None)
    })?;
    commit(&staged, out)?;
    Ok(counted.get())
}

/// Copies every record with the outcome cells appended, as it reads them; the rows above the
/// header (a title) as they are.
struct CopyRecords<'t, W: Write> {
    template: &'t Template,
    writer: csv::Writer<W>,
    outcomes: HashMap<i64, RowOutcome>,
    path: PathBuf,
    sheet: PathBuf,
    header: u64,
    written: usize,
}

impl<W: Write> CopyRecords<'_, W> {
    fn write(&mut self, cells: impl IntoIterator<Item = String>) -> Result<(), Error> {
        self.writer.write_record(cells).map_err(|e| Error::Write {
            path: self.path.clone(),
            source: e.into(),
        })
    }
}

impl<W: Write> RowVisitor for CopyRecords<'_, W> {
    type Error = Error;

    fn recognizes(&self, header: &[String]) -> bool {
        Binding::new(self.template, header, 0, "").is_ok()
    }

    fn above_header(&mut self, row: &RawRow) -> Result<(), Error> {
        self.write(row.cells.iter().map(str::to_owned).collect::<Vec<_>>())
    }

    fn header(&mut self, header: &Header) -> Result<(), Error> {
        check_header(&self.sheet, header)?;
        self.header = header.number;
        let cells: Vec<String> = header
            .cells
            .iter()
            .cloned()
            .chain(WRITE_BACK_COLUMNS.iter().map(|c| c.to_string()))
            .collect();
        self.write(cells)
    }

    fn row(&mut self, row: &RawRow) -> Result<(), Error> {
        let own = row.cells.iter().map(str::to_owned);
        match self.outcomes.get(&(row.number as i64)) {
            Some(outcome) => {
                self.written += 1;
                let appended =
                    cells_of(outcome).map(|c| crate::report::table::neutralise(&c).into_owned());
                let cells: Vec<String> = own.chain(appended).collect();
                self.write(cells)
            }
            None => self.write(own.collect::<Vec<_>>()),
        }
    }
}

fn write_delimited(
    sheet: &Path,
    out: &Path,
    template: &Template,
    outcomes: &HashMap<i64, RowOutcome>,
) -> Result<usize, Error> {
    // First the delimiter and encoding the import found, then the copy with the same.
    let (_, info) = find_header(sheet, template)?;
    let delimiter = info.delimiter.map_or(b',', |d| d as u8);
    let encoding = info
        .encoding
        .and_then(|name| source::Encoding::for_label(name.as_bytes()));
    let had_bom = std::fs::read(sheet)
        .map(|bytes| bytes.starts_with(b"\xEF\xBB\xBF"))
        .unwrap_or(false);
    let staged = staging(out);
    let write_error = |source: std::io::Error| Error::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(&staged).map_err(write_error)?);
    // Excel ignores a `sep=` line behind a byte order mark, so a file with one gets no mark:
    // it is written in its own encoding at the end (`keep_sep_encoding`).
    let legacy = info.encoding.filter(|e| *e != "UTF-8");
    if !info.sep_directive && (had_bom || legacy.is_some()) {
        file.write_all(b"\xEF\xBB\xBF").map_err(write_error)?;
    }
    if info.sep_directive {
        file.write_all(format!("sep={}\r\n", delimiter as char).as_bytes())
            .map_err(write_error)?;
    }
    let mut copy = CopyRecords {
        template,
        writer: csv::WriterBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_writer(file),
        outcomes: outcomes.clone(),
        path: out.to_path_buf(),
        sheet: sheet.to_path_buf(),
        header: 0,
        written: 0,
    };
    let options = SourceOptions {
        delimiter: Some(delimiter),
        encoding,
        untrimmed: true,
        ..SourceOptions::default()
    };
    let copied = source::read(sheet, &options, &mut copy).and_then(|_| {
        copy.writer.flush().map_err(|source| Error::Write {
            path: out.to_path_buf(),
            source,
        })
    });
    if let Err(error) = copied {
        let _ = std::fs::remove_file(&staged);
        return Err(error);
    }
    let written = copy.written;
    drop(copy);
    if info.sep_directive
        && let Some(encoding) = encoding.filter(|_| legacy.is_some())
        && let Err(error) = keep_sep_encoding(&staged, encoding, delimiter)
    {
        let _ = std::fs::remove_file(&staged);
        return Err(write_error(error));
    }
    commit(&staged, out)?;
    Ok(written)
}

/// A sheet with Excel's `sep=` line in a legacy encoding (Windows-1252, say) is given back in that
/// encoding, which Excel will read it in. If a cell cannot be written in it (Partner Center's
/// message in Chinese in a Windows-1252 file), the file is UTF-8 with a byte order mark instead,
/// without the `sep=` line Excel would ignore after the mark; never a character replaced.
fn keep_sep_encoding(
    staged: &Path,
    encoding: &'static source::Encoding,
    delimiter: u8,
) -> std::io::Result<()> {
    let text = std::fs::read_to_string(staged)?;
    let (bytes, _, unmappable) = encoding.encode(&text);
    if !unmappable {
        return std::fs::write(staged, bytes);
    }
    let sep = format!("sep={}\r\n", delimiter as char);
    let body = text.strip_prefix(sep.as_str()).unwrap_or(&text);
    let mut utf8 = b"\xEF\xBB\xBF".to_vec();
    utf8.extend_from_slice(body.as_bytes());
    std::fs::write(staged, utf8)
}

/// Where a file is written before it takes its name (so a failed write leaves no half file).
fn staging(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "write-back".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.partial"))
}

fn commit(staged: &Path, out: &Path) -> Result<(), Error> {
    std::fs::rename(staged, out).map_err(|source| {
        let _ = std::fs::remove_file(staged);
        Error::Write {
            path: out.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(state: &str, attestation: Option<&str>) -> RowOutcome {
        RowOutcome {
            state: state.into(),
            customer_id: (state == "created").then(|| "c-1".into()),
            domain: Some("wingtip.onmicrosoft.com".into()),
            error: (state != "created").then(|| "row 2: bad".into()),
            attestation: attestation.map(Into::into),
        }
    }

    #[test]
    fn each_outcome_reads_as_its_cells() {
        let table = [
            (
                outcome("created", None),
                ["created", "c-1", "admin@wingtip.onmicrosoft.com", "", ""],
            ),
            (
                outcome("created", Some("done")),
                [
                    "created",
                    "c-1",
                    "admin@wingtip.onmicrosoft.com",
                    "",
                    "attested",
                ],
            ),
            (
                outcome("created", Some("in_doubt")),
                [
                    "created",
                    "c-1",
                    "admin@wingtip.onmicrosoft.com",
                    "",
                    "pending",
                ],
            ),
            (
                outcome("failed", Some("pending")),
                ["failed", "", "", "row 2: bad", ""],
            ),
            (
                outcome("invalid", None),
                ["invalid", "", "", "row 2: bad", ""],
            ),
        ];
        for (outcome, cells) in table {
            assert_eq!(cells_of(&outcome), cells.map(String::from), "{outcome:?}");
        }
    }
}
