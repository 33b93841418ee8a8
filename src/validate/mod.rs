//! The offline rules of partner-center-api.md §3: everything that can be known wrong about a row
//! before anything is sent.
//!
//! A row is checked completely — every problem of every field is reported in one pass, so a user
//! fixes a sheet once, not once per error. Each [`Issue`] names the row, the column as written in
//! the sheet (or none when the value came from the template), the canonical field, the raw text
//! and a message that says how to fix it.
//!
//! Duplicate domains are found across the whole input with 64-bit hashes of the full lowercase
//! domain, so a million-row file costs a few dozen megabytes, not a copy of every domain. The first
//! row with a domain wins; the second and later rows are the errors.

mod judged;
mod rules;

pub use judged::{Judged, JudgedRow, Judgement, request_of};
use serde::Serialize;

use crate::mapping::{Binding, Draft, Field, Origin};

/// One problem with one row, or with the sheet as a whole (`row` = `None`, warnings only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub row: Option<u64>,
    pub column: Option<String>,
    pub field: Option<&'static str>,
    pub value: Option<String>,
    pub message: String,
}

impl Issue {
    /// A warning about the sheet as a whole.
    pub fn sheet_warning(message: String) -> Issue {
        Issue {
            row: None,
            column: None,
            field: None,
            value: None,
            message,
        }
    }

    /// A warning about a column of the sheet (one that maps to nothing, or that a constant
    /// overrides).
    pub fn column_warning(note: &crate::mapping::ColumnNote) -> Issue {
        Issue {
            row: None,
            column: note.column.clone(),
            field: None,
            value: None,
            message: note.message.clone(),
        }
    }
}

/// `row 4, column `Postal Code` (postal_code), `2134`: message`.
impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::shown::shown;
        let mut place = Vec::new();
        if let Some(row) = self.row {
            place.push(format!("row {row}"));
        }
        match (&self.column, self.field) {
            (Some(column), Some(field)) => {
                place.push(format!("column `{}` ({field})", shown(column)))
            }
            (Some(column), None) if self.row.is_some() => {
                place.push(format!("column `{}`", shown(column)))
            }
            (None, Some(field)) => place.push(format!("field `{field}`")),
            _ => {}
        }
        if let Some(value) = &self.value {
            place.push(format!("`{}`", shown(value)));
        }
        if place.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", place.join(", "), self.message)
        }
    }
}

/// Checks rows one after another; remembers the domains it has seen.
#[derive(Default)]
pub struct Validator {
    domains: FirstRows,
}

/// The first row of each domain seen, by the domain's hash: open addressing with linear probing,
/// one 16-byte slot (hash, row) per domain, so a lookup in a table far larger than the caches
/// costs one memory access (a general map keeps its control bytes apart: two). Grows at half
/// full. Hash 0 marks an empty slot, so a domain hashing to 0 is kept as 1 (odds 1 in 2^64).
#[derive(Default)]
struct FirstRows {
    slots: Vec<(u64, u64)>,
    len: usize,
}

impl FirstRows {
    /// The row that first had `hash`: `row` itself when it is the first.
    fn first_or_insert(&mut self, hash: u64, row: u64) -> u64 {
        let hash = hash.max(1);
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let (seen, first) = self.slots[at];
            if seen == 0 {
                self.slots[at] = (hash, row);
                self.len += 1;
                return row;
            }
            if seen == hash {
                return first;
            }
            at = (at + 1) & mask;
        }
    }

    /// Asks the processor to start loading the slot where a lookup of `hash` begins.
    fn prefetch(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let at = hash.max(1) as usize & (self.slots.len() - 1);
        crate::prefetch::line(&self.slots[at]);
    }

    /// Room for `domains` in all without growing.
    fn reserve(&mut self, domains: usize) {
        let capacity = (domains + 1).saturating_mul(2).next_power_of_two();
        if capacity > self.slots.len() {
            self.rehash(capacity);
        }
    }

    fn grow(&mut self) {
        self.rehash((self.slots.len() * 2).max(1 << 12));
    }

    fn rehash(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, zeroed_slots(capacity));
        let mask = capacity - 1;
        for (hash, row) in old.into_iter().filter(|(hash, _)| *hash != 0) {
            let mut at = hash as usize & mask;
            while self.slots[at].0 != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = (hash, row);
        }
    }
}

/// The most rows [`Validator::expect_rows`] makes room for at once: 2M rows, a 64 MiB table.
const PRESIZE_ROWS: u64 = (1 << 21) - 1;

/// A table of empty slots, written once. Zeroed memory straight from the system would fault twice
/// per page — on the first probe (a read, served by the shared zero page) and again on the first
/// insert — and a million-row table has eight thousand pages; written once, in huge pages where
/// the system offers them, it faults a few dozen times.
fn zeroed_slots(capacity: usize) -> Vec<(u64, u64)> {
    let mut slots = Vec::with_capacity(capacity);
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = slots.as_mut_ptr() as usize;
        let aligned = start.next_multiple_of(PAGE);
        let end = start + capacity * size_of::<(u64, u64)>();
        if end > aligned + PAGE {
            // SAFETY: the range lies inside the allocation just made; MADV_HUGEPAGE is advice
            // about how to back it, not a change to its contents. A refusal changes nothing.
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    slots.resize(capacity, (0, 0));
    slots
}

impl Validator {
    pub fn new() -> Validator {
        Validator::default()
    }

    /// Every problem of `draft`; empty when the row is valid.
    pub fn check(&mut self, draft: &Draft<'_>, binding: &Binding<'_>) -> Vec<Issue> {
        let mut alone = check_alone(draft, binding);
        self.check_duplicate(draft, binding, &mut alone)
    }

    /// Makes room for the domains of `rows` rows at once (up to a bound), so a large sheet does
    /// not fill and copy a table twice its size on the way. A guess: the table still grows if
    /// there are more.
    pub fn expect_rows(&mut self, rows: u64) {
        if rows > 0 {
            self.domains.reserve(rows.min(PRESIZE_ROWS) as usize);
        }
    }

    /// Starts fetching the table slot a later [`check_duplicate`](Validator::check_duplicate) of
    /// `alone` reads: issued for a batch of rows before their checks, the cache misses of a table
    /// far larger than the caches overlap instead of following one another.
    pub fn prefetch(&self, alone: &Alone) {
        if let Some(hash) = alone.domain_hash {
            self.domains.prefetch(hash);
        }
    }

    /// Adds the one check that needs the rows before it — is the domain already used? — to the
    /// checks `draft` passed alone, and takes the row's issues out of `alone`. Rows must come in
    /// sheet order: the first row wins.
    pub fn check_duplicate(
        &mut self,
        draft: &Draft<'_>,
        binding: &Binding<'_>,
        alone: &mut Alone,
    ) -> Vec<Issue> {
        let mut issues = std::mem::take(&mut alone.issues);
        let Some(hash) = alone.domain_hash else {
            return issues;
        };
        let row = draft.row;
        let first = self.domains.first_or_insert(hash, row);
        if first != row {
            let mut found = Findings {
                draft,
                binding,
                issues,
            };
            found.report(
                Field::Domain,
                format!(
                    "domain `{}` is already used by row {first}; each customer needs its own domain",
                    crate::shown::shown(draft.text(Field::Domain))
                ),
            );
            issues = found.issues;
        }
        issues
    }
}

/// What a row's checks decided before the duplicate check: its issues, and the hash of its
/// domain when the domain itself is valid (only then can it be a duplicate).
#[derive(Debug)]
pub struct Alone {
    issues: Vec<Issue>,
    domain_hash: Option<u64>,
}

/// Every check that one row decides alone (all but the duplicate domain). A pure function of the
/// row and the binding, so rows can be checked on several threads at once.
pub fn check_alone(draft: &Draft<'_>, binding: &Binding<'_>) -> Alone {
    let mut found = Findings {
        draft,
        binding,
        issues: Vec::new(),
    };
    rules::check_row(&mut found, binding.template().direct);
    let domain = draft.text(Field::Domain);
    let domain_hash =
        (!domain.is_empty() && !found.has(Field::Domain)).then(|| domain_hash(domain));
    Alone {
        issues: found.issues,
        domain_hash,
    }
}

/// A 64-bit hash of a full lowercase domain (xxh3: fast, and collisions among a million distinct
/// domains have odds of about 1 in 30 million).
fn domain_hash(domain: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(domain.as_bytes())
}

/// The issues of one row, being collected.
struct Findings<'d, 'r> {
    draft: &'d Draft<'r>,
    binding: &'d Binding<'d>,
    issues: Vec<Issue>,
}

impl Findings<'_, '_> {
    fn text(&self, field: Field) -> &str {
        self.draft.text(field)
    }

    fn has(&self, field: Field) -> bool {
        self.issues.iter().any(|i| i.field == Some(field.name()))
    }

    fn report(&mut self, field: Field, message: String) {
        let value = self.draft.get(field);
        let column = match value.origin {
            Origin::Column(_) | Origin::Missing => value
                .column
                .and_then(|c| self.binding.header(c))
                .map(str::to_owned),
            Origin::Default | Origin::Constant | Origin::Derived => None,
        };
        let raw = match value.origin {
            Origin::Column(_) => self.draft.raw(field),
            _ => value.text,
        };
        self.issues.push(Issue {
            row: Some(self.draft.row),
            column,
            field: Some(field.name()),
            value: (!raw.is_empty()).then(|| crate::shown::cut(raw).into_owned()),
            message,
        });
    }
}

#[cfg(test)]
mod first_rows_tests {
    use super::FirstRows;

    #[test]
    fn the_first_row_of_each_hash_is_kept_through_growth() {
        let mut rows = FirstRows::default();
        for n in 1..=100_000u64 {
            let hash = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(rows.first_or_insert(hash, n + 2), n + 2);
        }
        for n in (1..=100_000u64).step_by(7) {
            let hash = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(rows.first_or_insert(hash, 1_000_000), n + 2);
        }
        // Hashes that share their low bits probe on, and 0 is kept as 1.
        assert_eq!(rows.first_or_insert(0, 5), 5);
        assert_eq!(rows.first_or_insert(1, 6), 5);
        assert_eq!(rows.len, 100_001);
    }
}
