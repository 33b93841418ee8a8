//! The starter kit `csp-onboard template [DIR]` writes: the default mapping template and a sample
//! sheet, as CSV and as xlsx, whose rows are valid and use the emulator's built-in resellers — so a
//! new user can run the whole job on the emulator before touching their own data.
//!
//! Everything is embedded in the binary; the xlsx is built from the CSV so the two never drift.
//! Every cell is written as text, so ZIP codes such as `02116` keep their zero when the user
//! edits the sheet in Excel.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, Workbook};

use crate::error::Error;
use crate::mapping::languages::Language;
use crate::mapping::{DEFAULT_TEMPLATE, Field};

pub const SAMPLE_CSV: &str = include_str!("../templates/customers.csv");

/// Writes `default.toml`, `customers.csv` and `customers.xlsx` into `dir` (created if needed);
/// with a language, `<lang>.toml`, `customers-<lang>.csv` and `customers-<lang>.xlsx`, whose
/// headers are that language's (the CSV as Excel in that market saves it: UTF-8 with a byte
/// order mark, `;`-separated where the decimal point is a comma). Existing files are kept unless
/// `overwrite`; returns the files written.
pub fn write_starter_files(
    dir: &Path,
    overwrite: bool,
    language: Option<&Language>,
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let targets = match language {
        None => ["default.toml", "customers.csv", "customers.xlsx"].map(|name| dir.join(name)),
        Some(language) => {
            let tag = language.tag;
            [
                format!("{tag}.toml"),
                format!("customers-{tag}.csv"),
                format!("customers-{tag}.xlsx"),
            ]
            .map(|name| dir.join(name))
        }
    };
    if !overwrite && let Some(existing) = targets.iter().find(|p| p.exists()) {
        return Err(Error::usage(
            format!("`{}` already exists", existing.display()),
            Some("pass `--force` to overwrite it, or choose another folder".into()),
        ));
    }
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    match language {
        None => {
            write(&targets[0], DEFAULT_TEMPLATE.as_bytes())?;
            write(&targets[1], SAMPLE_CSV.as_bytes())?;
            write(&targets[2], &sample_xlsx(SAMPLE_CSV)?)?;
        }
        Some(language) => {
            let template = DEFAULT_TEMPLATE.replacen(
                "name = \"csp-onboard default\"",
                &format!(
                    "name = \"csp-onboard ({})\"\n# Headers in this language are recognised without aliases (docs/templates.md).",
                    language.tag
                ),
                1,
            );
            write(&targets[0], template.as_bytes())?;
            let sample = sample_in(language, b',');
            let delimiter = if COMMA_DECIMAL.contains(&language.tag) {
                b';'
            } else {
                b','
            };
            let mut csv = b"\xEF\xBB\xBF".to_vec();
            csv.extend(sample_in(language, delimiter).as_bytes());
            write(&targets[1], &csv)?;
            write(&targets[2], &sample_xlsx(&sample)?)?;
        }
    }
    Ok(targets.to_vec())
}

/// Languages whose Excel separates CSV cells with `;` (their decimal point is a comma).
const COMMA_DECIMAL: &[&str] = &[
    "nl", "fr", "de", "sv", "es", "it", "pt", "da", "no", "fi", "pl",
];

/// The sample sheet with the header row in `language`.
fn sample_in(language: &Language, delimiter: u8) -> String {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(SAMPLE_CSV.as_bytes());
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for (r, record) in reader.records().enumerate() {
        let record = record.expect("the embedded sample is valid CSV");
        if r == 0 {
            let header: Vec<&str> = record
                .iter()
                .map(|name| {
                    Field::from_name(name)
                        .map(|field| language.header_for(field))
                        .unwrap_or(name)
                })
                .collect();
            writer.write_record(header)
        } else {
            writer.write_record(&record)
        }
        .expect("writing to memory");
    }
    String::from_utf8(writer.into_inner().expect("writing to memory")).expect("the sample is UTF-8")
}

/// A sample sheet (CSV text) as an xlsx workbook, every cell text.
pub fn sample_xlsx(sample: &str) -> Result<Vec<u8>, Error> {
    let xlsx_error = |e: rust_xlsxwriter::XlsxError| {
        Error::usage(format!("cannot build the sample workbook: {e}"), None)
    };
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Customers").map_err(xlsx_error)?;
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(sample.as_bytes());
    for (r, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::usage(format!("sample sheet: {e}"), None))?;
        for (c, cell) in record.iter().enumerate() {
            let format = if r == 0 { &bold } else { &text };
            sheet
                .write_string_with_format(r as u32, c as u16, cell, format)
                .map_err(xlsx_error)?;
        }
    }
    sheet.autofit();
    workbook.save_to_buffer().map_err(xlsx_error)
}
