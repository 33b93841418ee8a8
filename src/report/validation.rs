//! The `validate` report: counts, errors and warnings, as text for people, as the JSON document of
//! CONTRACTS.md for programs, and as an errors CSV to hand back to whoever owns the sheet.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::Error;
use crate::intake::IntakeSink;
use crate::mapping::Binding;
use crate::source::Header;
use crate::validate::{Issue, Judged};

/// Collects the outcome of a validation pass.
#[derive(Debug, Default, Serialize)]
pub struct ValidationReport {
    pub rows: u64,
    pub valid: u64,
    pub invalid: u64,
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl IntakeSink for ValidationReport {
    fn bound(&mut self, binding: &Binding<'_>, _header: &Header) -> Result<(), Error> {
        self.warnings
            .extend(binding.notes().iter().map(Issue::column_warning));
        Ok(())
    }

    fn row(&mut self, row: Judged<'_, '_>) -> Result<(), Error> {
        self.add(row.issues);
        Ok(())
    }
}

impl ValidationReport {
    /// Counts one row with its issues (none for a valid row).
    pub fn add(&mut self, issues: Vec<Issue>) {
        self.rows += 1;
        if issues.is_empty() {
            self.valid += 1;
        } else {
            self.invalid += 1;
            self.errors.extend(issues);
        }
    }

    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        writeln!(out)
    }

    /// People read one line per problem: where, what, and how to fix it.
    pub fn write_text(&self, out: &mut impl Write, sheet: &str) -> io::Result<()> {
        for issue in &self.errors {
            writeln!(out, "error: {issue}")?;
        }
        for issue in &self.warnings {
            writeln!(out, "warning: {issue}")?;
        }
        let noun = if self.rows == 1 { "row" } else { "rows" };
        writeln!(
            out,
            "{sheet}: {} {noun}, {} valid, {} invalid",
            self.rows, self.valid, self.invalid
        )
    }

    /// One line per error, for the sheet's owner: row, column, field, value, message.
    pub fn write_errors_csv(&self, path: &Path) -> Result<(), Error> {
        let write_error = |source: io::Error| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut writer = csv::Writer::from_path(path).map_err(|e| write_error(e.into()))?;
        writer
            .write_record(["row", "column", "field", "value", "message"])
            .map_err(|e| write_error(e.into()))?;
        for issue in &self.errors {
            let row = issue.row.map(|r| r.to_string()).unwrap_or_default();
            writer
                .write_record([
                    row.as_str(),
                    issue.column.as_deref().unwrap_or(""),
                    issue.field.unwrap_or(""),
                    issue.value.as_deref().unwrap_or(""),
                    &issue.message,
                ])
                .map_err(|e| write_error(e.into()))?;
        }
        writer.flush().map_err(write_error)
    }
}
