//! The first half of the pipeline, wired: sheet → raw rows → drafts → judged rows.
//!
//! `intake` owns no rules of its own; it binds the template to the header the source found, maps
//! each row and has it validated, then hands the judged row to a sink — the `validate` report, the
//! journal's import (through `job`), or pre-flight's collection. Data flows one way: a sink never
//! reaches back.
//!
//! Rows a source hands over in batches are mapped and checked on every core; only the duplicate
//! check (the first row with a domain wins) and the sink run on the calling thread, in sheet
//! order. The sink therefore sees each row once, in order, judged exactly as one row at a time
//! would judge it (docs/architecture.md, "The million-row path").

use std::path::Path;

use rayon::prelude::*;

use crate::error::Error;
use crate::mapping::{Binding, Draft, Scratch, Template};
use crate::source::{self, Header, RawRow, RowVisitor, SourceInfo, SourceOptions};
use crate::validate::{self, Alone, Judged, Validator};

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
        expected_records: 0,
        above: Vec::new(),
        validator: Validator::new(),
        scratch: Scratch::default(),
        scratches: Vec::new(),
        spare: [Vec::new(), Vec::new()],
        sink,
    };
    // This thread joins the pool that checks rows, so it takes its share of every batch instead of
    // waiting for the batch to be done. (Already in a pool, or unable to start a thread, it uses
    // the shared one: the same work, without this thread's help.)
    let _pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|_| "csp-onboard-check".to_string())
        .use_current_thread()
        .build();
    source::read(path, options, &mut wiring)
}

struct Wiring<'a, S> {
    path: &'a Path,
    template: &'a Template,
    binding: Option<Binding<'a>>,
    /// The source's guess of its size ([`RowVisitor::expect_records`]), for the duplicate table.
    expected_records: u64,
    /// Rows above the header, passed over (numbers and first cell, for the warning).
    above: Vec<(u64, String)>,
    validator: Validator,
    scratch: Scratch,
    /// One per row of a batch, for [`RowVisitor::rows`].
    scratches: Vec<Scratch>,
    /// The judged rows of two pieces of a batch, kept empty between batches so their
    /// allocations are reused.
    spare: [Vec<(Draft<'static>, Alone)>; 2],
    sink: &'a mut S,
}

/// Below this many rows at hand, they are judged one after another: handing them to other
/// threads would cost more than it saves.
const PARALLEL_ROWS: usize = 64;

/// The rows of a batch are checked and handed on in pieces of this many.
const PIECE_ROWS: usize = 1024;

/// How many rows ahead of its duplicate check a row's table slot is fetched.
const PREFETCH_AHEAD: usize = 16;

impl<S: IntakeSink> RowVisitor for Wiring<'_, S> {
    type Error = Error;

    fn recognizes(&self, header: &[String]) -> bool {
        Binding::new(self.template, header, 0, "").is_ok()
    }

    fn expect_records(&mut self, records: u64) {
        self.expected_records = records;
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
        // Sized once the sheet is known to be one: a file refused at its header costs no table.
        self.validator.expect_rows(self.expected_records);
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

    /// Maps and checks the rows on every core (each row alone decides all but one rule), then,
    /// in sheet order on this thread, looks for duplicate domains and hands each row on. The rows
    /// go in pieces: while this thread hands one piece on, the others check the next.
    fn rows(&mut self, raws: &[RawRow]) -> Result<(), Error> {
        let Some(binding) = &self.binding else {
            return Ok(());
        };
        if raws.len() < PARALLEL_ROWS {
            return raws.iter().try_for_each(|raw| self.row(raw));
        }
        if self.scratches.len() < raws.len() {
            self.scratches.resize_with(raws.len(), Scratch::default);
        }
        let [spare, other] = &mut self.spare;
        let mut current = relabel(std::mem::take(spare));
        let mut next = relabel(std::mem::take(other));
        let mut pieces = raws
            .chunks(PIECE_ROWS)
            .zip(self.scratches.chunks_mut(PIECE_ROWS));
        if let Some((raws, scratches)) = pieces.next() {
            judge(binding, raws, scratches, &mut current);
        }
        let (validator, sink) = (&mut self.validator, &mut *self.sink);
        let handed = loop {
            let following = pieces.next();
            let last = following.is_none();
            let handed = rayon::in_place_scope(|scope| {
                if let Some((raws, scratches)) = following {
                    let next = &mut next;
                    scope.spawn(move |_| judge(binding, raws, scratches, next));
                }
                hand_on(validator, sink, binding, &mut current)
            });
            if handed.is_err() || last {
                break handed;
            }
            std::mem::swap(&mut current, &mut next);
        };
        self.spare = [relabel(current), relabel(next)];
        handed
    }
}

/// Maps and checks `raws` alone, on every core, into `judged` (in order).
fn judge<'r>(
    binding: &'r Binding<'r>,
    raws: &'r [RawRow],
    scratches: &'r mut [Scratch],
    judged: &mut Vec<(Draft<'r>, Alone)>,
) {
    raws.par_iter()
        .zip(scratches.par_iter_mut())
        .map(|(raw, scratch)| {
            let draft = binding.draft(raw, scratch);
            let alone = validate::check_alone(&draft, binding);
            (draft, alone)
        })
        .collect_into_vec(judged);
}

/// Finishes judged rows in sheet order — the duplicate check — and hands them to the sink.
fn hand_on(
    validator: &mut Validator,
    sink: &mut impl IntakeSink,
    binding: &Binding<'_>,
    judged: &mut [(Draft<'_>, Alone)],
) -> Result<(), Error> {
    // The slot for a row's domain is asked for a few rows ahead of its check: enough for the
    // misses to overlap, not so many that the processor drops the requests.
    for (_, alone) in judged.iter().take(PREFETCH_AHEAD) {
        validator.prefetch(alone);
    }
    for at in 0..judged.len() {
        if let Some((_, ahead)) = judged.get(at + PREFETCH_AHEAD) {
            validator.prefetch(ahead);
        }
        let (draft, alone) = &mut judged[at];
        let issues = validator.check_duplicate(draft, binding, alone);
        sink.row(Judged { draft, issues })?;
    }
    Ok(())
}

/// An empty vector of drafts of another lifetime (a batch's rows live only as long as the batch),
/// on the same allocation: the standard library collects an emptied vector into one whose
/// elements have the same layout in place (were it not to, this would only allocate anew). Reusing
/// it matters: a piece's judged rows are larger than the allocator keeps around for reuse, and a
/// fresh allocation every piece faults its pages in again.
fn relabel<'a, 'b>(mut rows: Vec<(Draft<'a>, Alone)>) -> Vec<(Draft<'b>, Alone)> {
    rows.clear();
    rows.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}
