//! Workbooks through calamine: which reader a workbook goes to.
//!
//! Before any reader runs, the file's first bytes must agree with its extension: a zip archive
//! (`PK\3\4`) for xlsx, xlsm, xlsb and ods, an OLE compound file (`D0 CF 11 E0`) for xls. An xlsx
//! that is a compound file is password-protected (Excel encrypts the package into one) or an xls
//! under the wrong name, and says so; without this, calamine would parse it with its OLE code,
//! bugs included. Then:
//! - xlsx and xlsm are streamed in this process ([`super::xlsx`]), checked before and guarded during;
//! - xls, xlsb and ods, which calamine loads whole, are read in a child process under memory and
//!   CPU limits ([`super::isolated`]), or in-process under the panic guard when the caller asks
//!   for it (tests, fuzzing, benchmarks: [`super::WorkbookReader::InProcess`]).
//!
//! How a cell becomes text is [`super::cell_text`]'s, shared by both.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{RowVisitor, SourceError, SourceInfo, SourceOptions, WorkbookReader};

pub fn read<V: RowVisitor>(
    path: &Path,
    options: &SourceOptions,
    visitor: &mut V,
) -> Result<SourceInfo, V::Error> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    expect_kind(path, &extension)?;
    match (extension.as_str(), &options.workbook_reader) {
        ("xlsx" | "xlsm", _) => super::xlsx::read(path, options, visitor),
        (_, WorkbookReader::InProcess) => {
            super::whole::read_in_process(path, &options.sheet, visitor)
        }
        (_, WorkbookReader::Isolated { exe }) => {
            super::isolated::read(exe, path, &options.sheet, visitor)
        }
    }
}

/// The sheet a `--sheet` value names: a sheet of that name, else a number as a 1-based position.
pub fn named<'n>(names: &'n [String], wanted: &str) -> Option<&'n String> {
    names.iter().find(|n| *n == wanted).or_else(|| {
        wanted
            .parse::<usize>()
            .ok()
            .and_then(|n| names.get(n.checked_sub(1)?))
    })
}

/// The kind of file, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    Zip,
    Compound,
    Other,
}

pub fn sniff(path: &Path) -> Result<Magic, SourceError> {
    let mut head = [0u8; 8];
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(io_error(path, source)),
        }
    }
    Ok(match &head[..filled] {
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Magic::Zip,
        [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] => Magic::Compound,
        _ => Magic::Other,
    })
}

/// Refuses a file whose first bytes say it is not the workbook its extension names.
pub fn expect_kind(path: &Path, extension: &str) -> Result<(), SourceError> {
    let magic = sniff(path)?;
    let not = |detail: &str| {
        Err(SourceError::NotAWorkbook {
            path: path.to_path_buf(),
            detail: detail.to_owned(),
        })
    };
    match (extension, magic) {
        ("xls", Magic::Compound) => Ok(()),
        ("xls", Magic::Zip) => not(
            "it is a zip archive, as .xlsx and .ods files are, not an Excel 97-2003 workbook; give it its real extension",
        ),
        ("xls", Magic::Other) => not(
            "it is not an Excel 97-2003 workbook (web exports named .xls are often HTML or text)",
        ),
        ("xlsx" | "xlsm" | "xlsb", Magic::Compound) => Err(SourceError::Encrypted {
            path: path.to_path_buf(),
        }),
        (_, Magic::Zip) => Ok(()),
        ("ods", _) => not("it is not an OpenDocument spreadsheet (those are zip archives)"),
        _ => not("it is not an Excel workbook (those are zip archives)"),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> SourceError {
    SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}
