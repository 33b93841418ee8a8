//! A temp workspace for one test's files, with an xlsx builder.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, Formula, Workbook};

use super::sheets::Cell;

/// A temp folder for one test's files.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A file only its owner may read or write (mode 0600), as a file holding a secret must be.
    pub fn write_private(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(name, bytes);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// An xlsx workbook with these sheets, each a list of rows (`None` = an empty row).
    pub fn xlsx(&self, name: &str, sheets: &[(&str, Vec<Option<Vec<Cell>>>)]) -> PathBuf {
        let mut workbook = Workbook::new();
        for (sheet_name, rows) in sheets {
            let sheet = workbook.add_worksheet();
            sheet.set_name(*sheet_name).unwrap();
            for (r, row) in rows.iter().enumerate() {
                let Some(row) = row else { continue };
                for (c, cell) in row.iter().enumerate() {
                    let (r, c) = (r as u32, c as u16);
                    match cell {
                        Cell::Text(s) => {
                            sheet.write_string(r, c, s).unwrap();
                        }
                        Cell::Number(n) => {
                            sheet.write_number(r, c, *n).unwrap();
                        }
                        Cell::Formatted(n, format) => {
                            let format = Format::new().set_num_format(*format);
                            sheet.write_number_with_format(r, c, *n, &format).unwrap();
                        }
                        Cell::Formula(f, result) => {
                            let formula = Formula::new(*f).set_result(result.to_string());
                            sheet.write_formula(r, c, formula).unwrap();
                        }
                        Cell::Bool(b) => {
                            sheet.write_boolean(r, c, *b).unwrap();
                        }
                        Cell::Date(serial) => {
                            let format = Format::new().set_num_format("yyyy-mm-dd");
                            sheet
                                .write_number_with_format(r, c, *serial, &format)
                                .unwrap();
                        }
                    }
                }
            }
        }
        let path = self.path(name);
        workbook.save(&path).unwrap();
        path
    }
}
