//! What every target shares: a visitor that takes any sheet, and the fuzz input as a file (the
//! readers open paths, as the CLI does).

use std::path::PathBuf;
use std::sync::OnceLock;

use csp_onboard::source::{Header, RawRow, RowVisitor, SourceError};

/// Recognizes any header and accepts every row, so the readers go as deep as the file allows.
pub struct AnySheet {
    pub rows: u64,
}

impl RowVisitor for AnySheet {
    type Error = SourceError;

    fn recognizes(&self, _header: &[String]) -> bool {
        true
    }

    fn header(&mut self, header: &Header) -> Result<(), SourceError> {
        assert!(header.number >= 1);
        Ok(())
    }

    fn row(&mut self, row: &RawRow) -> Result<(), SourceError> {
        assert!(row.number >= 1);
        self.rows += 1;
        Ok(())
    }
}

/// Writes `data` to `input.EXTENSION` in a folder of this process, and returns its path.
pub fn as_file(data: &[u8], extension: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temp folder"));
    let path = dir.path().join(format!("input.{extension}"));
    std::fs::write(&path, data).expect("the input written");
    path
}
