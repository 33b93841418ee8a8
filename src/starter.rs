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
use crate::mapping::DEFAULT_TEMPLATE;

pub const SAMPLE_CSV: &str = include_str!("../templates/customers.csv");

/// Writes `default.toml`, `customers.csv` and `customers.xlsx` into `dir` (created if needed).
/// Existing files are kept unless `overwrite`; returns the files written.
pub fn write_starter_files(dir: &Path, overwrite: bool) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let targets = ["default.toml", "customers.csv", "customers.xlsx"].map(|name| dir.join(name));
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
    write(&targets[0], DEFAULT_TEMPLATE.as_bytes())?;
    write(&targets[1], SAMPLE_CSV.as_bytes())?;
    write(&targets[2], &sample_xlsx()?)?;
    Ok(targets.to_vec())
}

/// The sample sheet as an xlsx workbook, every cell text.
pub fn sample_xlsx() -> Result<Vec<u8>, Error> {
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
        .from_reader(SAMPLE_CSV.as_bytes());
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
