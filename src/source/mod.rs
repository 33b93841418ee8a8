//! Reading a distributor's sheet into raw rows: sheet row numbers and cells as the text a person
//! sees.
//!
//! Two families of input: delimited text (CSV and Excel's text exports, see [`delimited`]) and
//! spreadsheets read through calamine (see [`spreadsheet`]). Both stream: a CSV is never held whole,
//! and an xlsx sheet is read cell by cell in one pass that also sees each cell's number format (so a
//! ZIP shown as `02134` does not come out as `2134`). xls, xlsb and ods are loaded whole by calamine,
//! in a child process under memory and CPU limits ([`isolated`]).
//!
//! Every input ends with a verdict: rows, or an error naming what is wrong. A hostile workbook
//! (forged sizes, references past Excel's grid, damage that makes calamine panic) is refused with
//! an error, never a crash or an exhausted machine; docs/architecture.md, "Reading hostile
//! workbooks", has the whole picture.
//!
//! Rows are pushed to a [`RowVisitor`] rather than pulled through an iterator: the xlsx cell reader
//! borrows its workbook, and a visitor keeps both on one stack frame without self-reference.
//!
//! Invariants every caller may rely on:
//! - The header is the first of the first [`HEADER_SEARCH_ROWS`] non-empty rows that the visitor
//!   [`recognizes`](RowVisitor::recognizes) (a title row, a date, a note above the header are
//!   skipped and passed to [`RowVisitor::above_header`]); when none is, the first non-empty row,
//!   so the visitor's own complaint about it says what is missing. Excel's `sep=;` first line is
//!   a directive, never a row (see [`delimited`]).
//! - Empty rows (every cell blank after trimming) are never visited, but still occupy their
//!   number, so the numbers are those a spreadsheet program shows (CONTRACTS.md "Rows").
//! - Cells are trimmed.

mod cell_text;
mod delimited;
pub mod encoding;
mod guard;
mod isolated;
mod lines;
mod spreadsheet;
mod whole;
mod xlsx;

pub use isolated::{CPU_LIMIT_ENV, CPU_LIMIT_SECONDS, MEMORY_LIMIT, SUBCOMMAND as READ_WORKBOOK};

use std::path::{Path, PathBuf};

use csv::StringRecord;
pub use encoding_rs::Encoding;
pub use xlsx::{AppendError, append_columns};

/// One data row as it stands in the sheet.
#[derive(Debug, Default, Clone)]
pub struct RawRow {
    /// The number a spreadsheet program shows for this row (1-based).
    pub number: u64,
    /// The trimmed cell texts, in column order (may be shorter than the header).
    pub cells: StringRecord,
}

impl RawRow {
    pub fn cell(&self, column: usize) -> &str {
        self.cells.get(column).unwrap_or("")
    }

    fn is_blank(&self) -> bool {
        self.cells.iter().all(str::is_empty)
    }
}

/// The header row, and which sheet it was found on (spreadsheets only).
#[derive(Debug, Clone)]
pub struct Header {
    pub number: u64,
    pub cells: Vec<String>,
    pub sheet: Option<String>,
}

/// Receives a sheet's header and rows, in order.
pub trait RowVisitor {
    type Error: From<SourceError>;

    /// Whether this row is the header the caller can work with. Used to pick a sheet when the
    /// user named none (an "Instructions" sheet in front is skipped; in an xlsx, a sheet whose
    /// header is under a title row is taken when it is the only such sheet), and to find the
    /// header under a title.
    fn recognizes(&self, header: &[String]) -> bool;

    /// Called once, before any row, with the chosen header.
    fn header(&mut self, header: &Header) -> Result<(), Self::Error>;

    /// Called for every non-empty row below the header.
    fn row(&mut self, row: &RawRow) -> Result<(), Self::Error>;

    /// Called instead of [`row`](RowVisitor::row) by a reader that has several rows at hand, in
    /// order: a visitor that can work on them together (on several threads) overrides it.
    fn rows(&mut self, rows: &[RawRow]) -> Result<(), Self::Error> {
        rows.iter().try_for_each(|row| self.row(row))
    }

    /// Called, before anything else, with a guess of how many records the source holds (from its
    /// size), for sizing tables up front. It may be wrong either way.
    fn expect_records(&mut self, _records: u64) {}

    /// Called, before [`header`](RowVisitor::header), for each non-empty row above the header
    /// that was passed over because it is not one (a title, a date).
    fn above_header(&mut self, _row: &RawRow) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// How many non-empty rows from the top may be looked at to find the header.
pub const HEADER_SEARCH_ROWS: usize = 10;

/// Finds the header among the first rows: sits between a reader and the caller's visitor.
struct HeaderSearch<'v, V> {
    inner: &'v mut V,
    state: Search,
}

enum Search {
    /// The header was found (or given up on): rows go straight through.
    Through,
    /// The first non-empty row was not recognised; the rows after it are being looked at.
    Looking { first: Header, above: Vec<RawRow> },
}

impl<'v, V: RowVisitor> HeaderSearch<'v, V> {
    fn new(inner: &'v mut V) -> Self {
        HeaderSearch {
            inner,
            state: Search::Through,
        }
    }

    /// No row was recognised: the first one is the header, and the visitor says what is wrong.
    fn give_up(&mut self, current: Option<&RawRow>) -> Result<(), V::Error> {
        if let Search::Looking { first, above } =
            std::mem::replace(&mut self.state, Search::Through)
        {
            self.inner.header(&first)?;
            for row in above.iter().chain(current) {
                self.inner.row(row)?;
            }
        }
        Ok(())
    }

    /// After the reader's last row.
    fn finish(mut self) -> Result<(), V::Error> {
        self.give_up(None)
    }
}

impl<V: RowVisitor> RowVisitor for HeaderSearch<'_, V> {
    type Error = V::Error;

    fn recognizes(&self, header: &[String]) -> bool {
        self.inner.recognizes(header)
    }

    fn expect_records(&mut self, records: u64) {
        self.inner.expect_records(records);
    }

    fn header(&mut self, header: &Header) -> Result<(), Self::Error> {
        if self.inner.recognizes(&header.cells) {
            return self.inner.header(header);
        }
        self.state = Search::Looking {
            first: header.clone(),
            above: Vec::new(),
        };
        Ok(())
    }

    fn row(&mut self, row: &RawRow) -> Result<(), Self::Error> {
        let Search::Looking { first, above } = &mut self.state else {
            return self.inner.row(row);
        };
        // This row is candidate number `above.len() + 2` (the first, the passed-over, this one).
        if above.len() + 2 > HEADER_SEARCH_ROWS {
            return self.give_up(Some(row));
        }
        let cells: Vec<String> = row.cells.iter().map(str::to_owned).collect();
        if self.inner.recognizes(&cells) {
            let header = Header {
                number: row.number,
                cells,
                sheet: first.sheet.clone(),
            };
            let title = RawRow {
                number: first.number,
                cells: StringRecord::from(first.cells.clone()),
            };
            let above = std::mem::take(above);
            self.state = Search::Through;
            for passed in std::iter::once(&title).chain(&above) {
                self.inner.above_header(passed)?;
            }
            return self.inner.header(&header);
        }
        above.push(row.clone());
        Ok(())
    }

    fn rows(&mut self, rows: &[RawRow]) -> Result<(), Self::Error> {
        for (at, row) in rows.iter().enumerate() {
            if matches!(self.state, Search::Through) {
                return self.inner.rows(&rows[at..]);
            }
            self.row(row)?;
        }
        Ok(())
    }
}

/// How to pick the sheet of a workbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetChoice {
    /// The first sheet whose first non-empty row the visitor recognizes; in an xlsx, failing
    /// that, the only sheet with such a row among its first [`HEADER_SEARCH_ROWS`].
    FirstRecognized,
    /// By name; a name made only of digits that names no sheet is taken as a 1-based position.
    Named(String),
}

#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub sheet: SheetChoice,
    /// Overrides delimiter detection for delimited text.
    pub delimiter: Option<u8>,
    /// Overrides encoding detection for delimited text.
    pub encoding: Option<&'static Encoding>,
    /// Where xls, xlsb and ods workbooks are read.
    pub workbook_reader: WorkbookReader,
    /// Delimited text: cells exactly as the file has them, not trimmed (for the write-back, which
    /// copies them).
    pub untrimmed: bool,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            sheet: SheetChoice::FirstRecognized,
            delimiter: None,
            encoding: None,
            workbook_reader: WorkbookReader::InProcess,
            untrimmed: false,
        }
    }
}

/// Where the workbooks calamine loads whole (xls, xlsb, ods) are read. xlsx is always streamed in
/// this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkbookReader {
    /// In this process, with calamine's panics contained but its memory and time unbounded: for
    /// tests, fuzzing and benchmarks, never for a user's file.
    InProcess,
    /// In a child process running `exe __read-workbook`, limited to [`MEMORY_LIMIT`] and
    /// [`CPU_LIMIT_SECONDS`]. `exe` is this binary.
    Isolated { exe: PathBuf },
}

impl WorkbookReader {
    /// The child process, running this very executable.
    pub fn isolated() -> WorkbookReader {
        WorkbookReader::Isolated {
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
        }
    }
}

/// The child's side of [`WorkbookReader::Isolated`]: limits this process, reads the workbook at
/// `path` (only the sheet `sheet` names, if any) and writes what it finds to stdout. Returns the
/// process exit status.
pub fn serve_workbook_reader(path: &Path, sheet: Option<&str>) -> u8 {
    isolated::serve(path, sheet)
}

/// Reads a workbook in this process, exactly as the reader child does (the same producer, under
/// the panic guard, feeding the same sheet choice): for fuzzing the xls, xlsb and ods paths.
pub fn read_workbook_in_process<V: RowVisitor>(
    path: &Path,
    sheet: &SheetChoice,
    visitor: &mut V,
) -> Result<SourceInfo, V::Error> {
    whole::read_in_process(path, sheet, visitor)
}

/// What the reader found out about the file, for the user's information.
#[derive(Debug, Clone, Default)]
pub struct SourceInfo {
    pub format: &'static str,
    pub sheet: Option<String>,
    pub encoding: Option<&'static str>,
    /// How the encoding was decided (delimited text only).
    pub encoding_basis: Option<encoding::Basis>,
    pub delimiter: Option<char>,
    /// The file began with Excel's `sep=X` line (delimited text only).
    pub sep_directive: bool,
}

impl SourceInfo {
    /// What a person should know about how the text was read: said whenever it was not UTF-8, so
    /// that names that look wrong can be traced to it.
    pub fn encoding_note(&self) -> Option<String> {
        let (name, basis) = (self.encoding?, self.encoding_basis?);
        if name == "UTF-8" {
            return None;
        }
        let how = match basis {
            encoding::Basis::Named => "as `--encoding` says",
            encoding::Basis::Bom => "its byte order mark says so",
            encoding::Basis::Nuls => "detected from its bytes: UTF-16 without a byte order mark",
            encoding::Basis::Detected | encoding::Basis::ValidUtf8 => "detected from its bytes",
        };
        Some(format!(
            "the file was read as {name} ({how}); if names look wrong, say the encoding with `--encoding`"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{}` is not a sheet csp-onboard can read: expected .csv, .txt, .tsv, .xlsx, .xlsm, .xlsb, .xls or .ods",
        path.display()
    )]
    UnknownFormat { path: PathBuf },
    #[error("cannot tell the text encoding of `{}`: {why}", path.display())]
    UnsureEncoding {
        path: PathBuf,
        /// Likeliest first.
        candidates: Vec<&'static str>,
        why: String,
    },
    #[error("`{}`, row {row}: not valid {encoding} (a byte sequence that cannot be decoded): the file mixes encodings or is damaged", path.display())]
    NotDecodable {
        path: PathBuf,
        row: u64,
        encoding: &'static str,
    },
    #[error("`{}` is {kind}: csp-onboard reads only files", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("`{}`, row {row}: the row is over {} MiB long", path.display(), limit >> 20)]
    RowTooLong { path: PathBuf, row: u64, limit: u64 },
    #[error("`{}` has no header row: every row is empty", path.display())]
    NoHeader { path: PathBuf },
    #[error("`{}`, row {row}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        row: u64,
        message: String,
    },
    #[error("cannot read workbook `{}`: {message}", path.display())]
    Workbook { path: PathBuf, message: String },
    /// The workbook holds what no spreadsheet program writes, or made its reader fail.
    #[error("cannot read workbook `{}`: it is damaged: {detail}", path.display())]
    Damaged { path: PathBuf, detail: String },
    /// Reading the workbook could exhaust memory: refused before anything was allocated.
    #[error("cannot read workbook `{}`: {what}", path.display())]
    TooLarge { path: PathBuf, what: String },
    /// The reader child went past its memory or CPU limit (or was killed).
    #[error("cannot read workbook `{}`: it is damaged or too large to read within {limit}", path.display())]
    ReaderLimit { path: PathBuf, limit: String },
    #[error("cannot read workbook `{}`: {detail}", path.display())]
    NotAWorkbook { path: PathBuf, detail: String },
    #[error(
        "cannot read workbook `{}`: it is password-protected (encrypted), or an Excel 97-2003 workbook named .xlsx",
        path.display()
    )]
    Encrypted { path: PathBuf },
    #[error("workbook `{}` has no sheet `{}`; its sheets are {}", path.display(), crate::shown::shown(wanted), quote_list(available))]
    SheetNotFound {
        path: PathBuf,
        wanted: String,
        available: Vec<String>,
    },
    #[error(
        "no sheet of `{}` starts with the expected headers; its sheets are {}",
        path.display(), quote_list(sheets)
    )]
    NoRecognizedSheet { path: PathBuf, sheets: Vec<String> },
    #[error(
        "`{}` mixes encodings: row {bad_row} is not valid UTF-8, but row {utf8_row} holds UTF-8 text",
        path.display()
    )]
    MixedEncoding {
        path: PathBuf,
        bad_row: u64,
        utf8_row: u64,
    },
}

impl SourceError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SourceError::NoRecognizedSheet { .. } | SourceError::SheetNotFound { .. } => {
                Some("name the sheet with `--sheet NAME` or `--sheet NUMBER`".into())
            }
            SourceError::MixedEncoding { .. } => Some(
                "save the file again as UTF-8, or name its encoding with `--encoding windows-1252`"
                    .into(),
            ),
            SourceError::UnknownFormat { .. } => {
                Some("save the sheet as CSV (UTF-8) or as an Excel workbook".into())
            }
            SourceError::UnsureEncoding { candidates, .. } => {
                let named = candidates
                    .iter()
                    .map(|c| format!("`--encoding {}`", c.to_ascii_lowercase()))
                    .collect::<Vec<_>>()
                    .join(" or ");
                Some(format!(
                    "name it with {named}, or save the sheet as UTF-8 (Excel: \"CSV UTF-8\")"
                ))
            }
            SourceError::NotDecodable { .. } => Some(
                "save the sheet again as UTF-8 (Excel: \"CSV UTF-8\"), or name its encoding with `--encoding`"
                    .into(),
            ),
            SourceError::NotAFile { .. } => Some(
                "save the sheet to a file first: csp-onboard reads it more than once".into(),
            ),
            SourceError::RowTooLong { path, .. } if matches!(Format::of(path), Some(Format::Workbook)) => {
                Some("no customer needs a row that long; check the sheet, or save it as CSV".into())
            }
            SourceError::RowTooLong { .. } => Some(
                "a quote that is never closed makes the rest of the file one cell; check the row's quotes"
                    .into(),
            ),
            SourceError::Damaged { .. } => Some(
                "open it in Excel or LibreOffice and save it again, or save the sheet as CSV".into(),
            ),
            SourceError::TooLarge { .. } => Some("save the sheet as CSV (UTF-8)".into()),
            SourceError::ReaderLimit { .. } => Some("save it as .xlsx or CSV (UTF-8)".into()),
            SourceError::NotAWorkbook { .. } => Some(
                "open it in the program that made it and save it as .xlsx or CSV".into(),
            ),
            SourceError::Encrypted { .. } => Some(
                "remove the password in Excel (File > Info > Protect Workbook) and save it again; an Excel 97-2003 file wants the .xls extension"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Names quoted for a message: at most 20 of them, then how many more.
pub(crate) fn quote_list(items: &[String]) -> String {
    const NAMED: usize = 20;
    let mut list = items
        .iter()
        .take(NAMED)
        .map(|s| format!("`{}`", crate::shown::shown(s)))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        list.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    list
}

/// Reads `path` and feeds its header and rows to `visitor`.
pub fn read<V: RowVisitor>(
    path: &Path,
    options: &SourceOptions,
    visitor: &mut V,
) -> Result<SourceInfo, V::Error> {
    // A FIFO or a device would be read twice (the sample, then the stream) or forever.
    let metadata = std::fs::metadata(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !metadata.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        let kind = if kind.is_dir() {
            "a folder"
        } else if kind.is_fifo() {
            "a pipe (FIFO)"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "an unusual kind of file"
        };
        return Err(SourceError::NotAFile {
            path: path.to_path_buf(),
            kind,
        }
        .into());
    }
    let mut search = HeaderSearch::new(visitor);
    let info = match Format::of(path) {
        Some(Format::Delimited) => delimited::read(path, options, &mut search),
        Some(Format::Workbook) => spreadsheet::read(path, options, &mut search),
        None => Err(SourceError::UnknownFormat {
            path: path.to_path_buf(),
        }
        .into()),
    }?;
    search.finish()?;
    Ok(info)
}

/// Parses an `--encoding` value (any WHATWG label: `utf-8`, `windows-1252`, `utf-16le`, `latin1`).
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
}

enum Format {
    Delimited,
    Workbook,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" | "tsv" | "tab" => Some(Format::Delimited),
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Some(Format::Workbook),
            _ => None,
        }
    }
}

#[cfg(test)]
mod header_search_tests {
    use super::*;

    /// Recognises a header whose first cell is `H`; records what it was given.
    #[derive(Default)]
    struct Seen {
        header: Option<u64>,
        above: Vec<u64>,
        rows: Vec<u64>,
    }

    impl RowVisitor for Seen {
        type Error = SourceError;
        fn recognizes(&self, header: &[String]) -> bool {
            header.first().is_some_and(|c| c == "H")
        }
        fn header(&mut self, header: &Header) -> Result<(), SourceError> {
            self.header = Some(header.number);
            Ok(())
        }
        fn row(&mut self, row: &RawRow) -> Result<(), SourceError> {
            self.rows.push(row.number);
            Ok(())
        }
        fn above_header(&mut self, row: &RawRow) -> Result<(), SourceError> {
            self.above.push(row.number);
            Ok(())
        }
    }

    /// Feeds rows numbered 1.. with the header (`H`) as row `at`, then two data rows.
    fn search(at: u64) -> Seen {
        let mut seen = Seen::default();
        let mut search = HeaderSearch::new(&mut seen);
        let cell = |n: u64| if n == at { "H" } else { "x" };
        search
            .header(&Header {
                number: 1,
                cells: vec![cell(1).into()],
                sheet: None,
            })
            .unwrap();
        for n in 2..=at + 2 {
            search
                .row(&RawRow {
                    number: n,
                    cells: StringRecord::from(vec![cell(n)]),
                })
                .unwrap();
        }
        search.finish().unwrap();
        seen
    }

    #[test]
    fn the_header_is_found_among_the_first_ten_rows_and_no_further() {
        let first = search(1);
        assert_eq!(
            (first.header, first.above.len(), first.rows),
            (Some(1), 0, vec![2, 3])
        );
        let tenth = search(10);
        assert_eq!(tenth.header, Some(10));
        assert_eq!(tenth.above, (1..10).collect::<Vec<_>>());
        assert_eq!(tenth.rows, vec![11, 12]);
        // On the 11th row it is not looked for: the first row is the header, the rest rows.
        let eleventh = search(11);
        assert_eq!(eleventh.header, Some(1));
        assert!(eleventh.above.is_empty());
        assert_eq!(eleventh.rows, (2..=13).collect::<Vec<_>>());
    }
}
