//! The first half of the pipeline, wired: sheet → raw rows → drafts → judged rows.
//!
//! `intake` owns no rules of its own; it binds the template to the header the source found, maps
//! each row and has it validated, then hands the judged row to a sink — the `validate` report, the
//! journal's import (through `job`), or pre-flight's collection. Data flows one way: a sink never
//! reaches back.

use std::path::Path;

use crate::error::Error;
use crate::mapping::{Binding, Scratch, Template};
use crate::source::{self, Header, RawRow, RowVisitor, SourceInfo, SourceOptions};
use crate::validate::{Judged, Validator};

/// Receives the outcome of the intake, row by row.
pub trait IntakeSink {
    /// Called once the header is bound, before any row.
    fn bound(&mut self, binding: &Binding<'_>, header: &Header) -> Result<(), Error>;

    /// Called for every non-empty row below the header; its issues are empty for a valid row.
    fn row(&mut self, row: Judged<'_, '_>) -> Result<(), Error>;
}

/// Reads `path` through `template`, validating every row, and feeds `sink`.
pub fn read_sheet(
    path: &Path,
    options: &SourceOptions,
    template: &Template,
    sink: &mut impl IntakeSink,
) -> Result<SourceInfo, Error> {
    let mut wiring = Wiring {
        path,
        template,
        binding: None,
        above: Vec::new(),
        validator: Validator::new(),
        scratch: Scratch::default(),
        sink,
    };
    source::read(path, options, &mut wiring)
}

struct Wiring<'a, S> {
    path: &'a Path,
    template: &'a Template,
    binding: Option<Binding<'a>>,
    /// Rows above the header, passed over (numbers and first cell, for the warning).
    above: Vec<(u64, String)>,
    validator: Validator,
    scratch: Scratch,
    sink: &'a mut S,
}

impl<S: IntakeSink> RowVisitor for Wiring<'_, S> {
    type Error = Error;

    fn recognizes(&self, header: &[String]) -> bool {
        Binding::new(self.template, header, 0, "").is_ok()
    }

    fn header(&mut self, header: &Header) -> Result<(), Error> {
        let label = match &header.sheet {
            Some(sheet) => format!("`{}`, sheet `{sheet}`", self.path.display()),
            None => format!("`{}`", self.path.display()),
        };
        let mut binding = Binding::new(self.template, &header.cells, header.number, &label)?;
        binding.note_rows_above(&self.above, header.number);
        self.sink.bound(&binding, header)?;
        self.binding = Some(binding);
        Ok(())
    }

    fn above_header(&mut self, row: &RawRow) -> Result<(), Error> {
        let text = row.cells.iter().find(|c| !c.is_empty()).unwrap_or_default();
        self.above.push((row.number, text.to_string()));
        Ok(())
    }

    fn row(&mut self, raw: &RawRow) -> Result<(), Error> {
        let Some(binding) = &self.binding else {
            // The source always visits the header first; a row before it has nothing to map to.
            return Ok(());
        };
        let draft = binding.draft(raw, &mut self.scratch);
        let issues = self.validator.check(&draft, binding);
        self.sink.row(Judged {
            draft: &draft,
            issues,
        })
    }
}
