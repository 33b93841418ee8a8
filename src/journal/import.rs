//! Importing a sheet into the journal, in one transaction: a crash mid-import leaves the previous
//! state, and the next `run` imports again.
//!
//! Row identity is the full lowercase domain. Re-importing the same or a grown sheet (the nightly
//! case):
//! - a new domain is added (`pending`, or `invalid` with its errors — never sent);
//! - a `created` row is never re-created; if its content changed it is flagged
//!   `changed_after_creation`;
//! - a `pending`, `retry_wait`, `failed` or `invalid` row whose content changed is re-queued (or
//!   re-judged invalid) with a fresh request id; an unchanged `failed` row stays failed unless
//!   `--retry-failed`;
//! - an `in_flight` or `in_doubt` row keeps the body that may have been sent: it is reconciled first;
//! - rows without a usable domain are journaled as `invalid` under their row number for this
//!   import, replacing those of earlier imports.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use super::{JournalError, RowState};
use crate::error::Error;
use crate::intake::IntakeSink;
use crate::mapping::{Binding, Draft, Field};
use crate::model::CustomerRequest;
use crate::source::{Header, RawRow};
use crate::validate::Issue;

/// What an import did, for the user.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportSummary {
    pub rows: u64,
    pub new: u64,
    pub requeued: u64,
    pub unchanged: u64,
    pub already_created: u64,
    pub changed_after_creation: u64,
    pub invalid: u64,
    pub warnings: Vec<Issue>,
}

pub struct ImportSink<'t> {
    tx: &'t Transaction<'t>,
    journal: std::path::PathBuf,
    run_id: i64,
    retry_failed: bool,
    now: String,
    pub summary: ImportSummary,
}

impl<'t> ImportSink<'t> {
    /// Starts an import: forgets the domain-less invalid rows of earlier imports.
    pub fn begin(
        tx: &'t Transaction<'t>,
        journal: &std::path::Path,
        run_id: i64,
        retry_failed: bool,
    ) -> Result<ImportSink<'t>, JournalError> {
        let sqlite = |source| JournalError::Sqlite {
            path: journal.to_path_buf(),
            source,
        };
        tx.execute(
            "DELETE FROM row_errors WHERE row_id IN (SELECT id FROM rows WHERE domain IS NULL)",
            [],
        )
        .map_err(sqlite)?;
        tx.execute("DELETE FROM rows WHERE domain IS NULL", [])
            .map_err(sqlite)?;
        Ok(ImportSink {
            tx,
            journal: journal.to_path_buf(),
            run_id,
            retry_failed,
            now: super::now(),
            summary: ImportSummary::default(),
        })
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| {
            Error::Journal(JournalError::Sqlite {
                path: self.journal.clone(),
                source,
            })
        }
    }

    fn store(
        &mut self,
        raw: &RawRow,
        draft: &Draft<'_>,
        issues: &[Issue],
    ) -> Result<(), rusqlite::Error> {
        let valid = issues.is_empty();
        let domain = draft.text(Field::Domain);
        let usable_domain = !domain.is_empty() && !issues.iter().any(|i| i.field == Some("domain"));
        let (body, hash) = if valid {
            let body =
                serde_json::to_string(&CustomerRequest::from_draft(draft)).unwrap_or_default();
            let hash = hex128(body.as_bytes());
            (Some(body), hash)
        } else {
            (None, hex128(raw.cells.as_slice().as_bytes()))
        };
        let fresh_state = if valid {
            RowState::Pending
        } else {
            RowState::Invalid
        };
        let optional = |f: Field| Some(draft.text(f)).filter(|s| !s.is_empty());
        let external_id = optional(Field::ExternalId);
        let reseller = optional(Field::AssociatedPartnerId);
        let company = optional(Field::CompanyName);

        let existing: Option<(i64, String, String)> = if usable_domain {
            self.tx
                .prepare_cached("SELECT id, state, content_hash FROM rows WHERE domain = ?1")?
                .query_row([domain], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?
        } else {
            None
        };
        let Some((id, state, old_hash)) = existing else {
            self.tx
                .prepare_cached(
                    "INSERT INTO rows (domain, sheet_row, import_run, external_id, reseller, company_name,
                         content_hash, request_body, state, request_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                )?
                .execute(params![
                    usable_domain.then_some(domain),
                    raw.number as i64,
                    self.run_id,
                    external_id,
                    reseller,
                    company,
                    hash,
                    body,
                    fresh_state.as_str(),
                    valid.then(new_request_id),
                    self.now,
                ])?;
            let id = self.tx.last_insert_rowid();
            self.summary.new += u64::from(valid);
            self.write_errors(id, issues)?;
            return Ok(());
        };

        let state = RowState::parse(&state).unwrap_or(RowState::Pending);
        let changed = old_hash != hash;
        self.tx
            .prepare_cached(
                "UPDATE rows SET sheet_row = ?2, external_id = ?3, reseller = COALESCE(?4, reseller),
                     company_name = COALESCE(?5, company_name), updated_at = ?6 WHERE id = ?1",
            )?
            .execute(params![id, raw.number as i64, external_id, reseller, company, self.now])?;
        match state {
            RowState::Created => {
                self.summary.already_created += 1;
                self.summary.changed_after_creation += u64::from(changed);
                self.tx
                    .prepare_cached("UPDATE rows SET changed_after_creation = ?2 WHERE id = ?1")?
                    .execute(params![id, changed])?;
            }
            // The body may have been sent: it stays until reconciliation says what happened.
            RowState::InFlight | RowState::InDoubt => self.summary.unchanged += 1,
            RowState::Pending | RowState::RetryWait | RowState::Failed | RowState::Invalid => {
                let retry = state == RowState::Failed && self.retry_failed && valid;
                if changed || retry || (state == RowState::Invalid && valid) {
                    self.tx
                        .prepare_cached(
                            "UPDATE rows SET content_hash = ?2, request_body = ?3, state = ?4,
                                 request_id = ?5, attempts = 0, ambiguous = 0, in_doubt_since = NULL,
                                 not_before = NULL, last_error_code = NULL, last_error_message = NULL
                             WHERE id = ?1",
                        )?
                        .execute(params![id, hash, body, fresh_state.as_str(), valid.then(new_request_id)])?;
                    self.write_errors(id, issues)?;
                    self.summary.requeued += u64::from(valid);
                } else {
                    self.summary.unchanged += 1;
                }
            }
        }
        Ok(())
    }

    fn write_errors(&mut self, row_id: i64, issues: &[Issue]) -> Result<(), rusqlite::Error> {
        self.tx
            .prepare_cached("DELETE FROM row_errors WHERE row_id = ?1")?
            .execute([row_id])?;
        if issues.is_empty() {
            return Ok(());
        }
        self.summary.invalid += 1;
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO row_errors (row_id, col, field, value, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for issue in issues {
            insert.execute(params![
                row_id,
                issue.column,
                issue.field,
                issue.value,
                issue.message
            ])?;
        }
        let first = &issues[0];
        self.tx
            .prepare_cached(
                "UPDATE rows SET last_error_code = 'invalid', last_error_message = ?2 WHERE id = ?1",
            )?
            .execute(params![row_id, crate::report::validation::describe(first)])?;
        Ok(())
    }
}

impl IntakeSink for ImportSink<'_> {
    fn bound(&mut self, binding: &Binding<'_>, _header: &Header) -> Result<(), Error> {
        self.summary
            .warnings
            .extend(binding.notes().iter().map(Issue::column_warning));
        Ok(())
    }

    fn row(&mut self, raw: &RawRow, draft: &Draft<'_>, issues: Vec<Issue>) -> Result<(), Error> {
        self.summary.rows += 1;
        self.store(raw, draft, &issues).map_err(self.sqlite())
    }
}

/// A new `MS-RequestId`.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn hex128(bytes: &[u8]) -> String {
    format!("{:032x}", xxh3_128(bytes))
}

/// The xxh3-128 of a file's bytes, streamed (the sheet hash of a run).
pub fn file_hash(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

impl super::Journal {
    /// Imports a sheet in one transaction (see the module docs for what happens to each row).
    pub fn import(
        &mut self,
        sheet: &std::path::Path,
        options: &crate::source::SourceOptions,
        template: &crate::mapping::Template,
        run_id: i64,
        retry_failed: bool,
    ) -> Result<ImportSummary, Error> {
        let path = self.path.clone();
        let sqlite = |source| {
            Error::Journal(JournalError::Sqlite {
                path: path.clone(),
                source,
            })
        };
        let tx = self.conn.transaction().map_err(sqlite)?;
        let summary = {
            let mut sink = ImportSink::begin(&tx, &path, run_id, retry_failed)?;
            let info = crate::intake::read_sheet(sheet, options, template, &mut sink)?;
            let mut summary = sink.summary;
            summary
                .warnings
                .extend(info.encoding_note().map(Issue::sheet_warning));
            summary
        };
        tx.commit().map_err(sqlite)?;
        Ok(summary)
    }
}
