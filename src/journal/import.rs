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
use crate::validate::{Issue, Judgement};

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

impl ImportSummary {
    /// Rows of the sheet the journal already knew (by domain), whatever became of them.
    pub fn rows_known(&self) -> u64 {
        self.requeued + self.unchanged + self.already_created
    }
}

/// An import under way: one transaction, committed by [`Import::commit`] (dropped, nothing
/// changes). Rows come in as validation judged them; the journal reads nothing else of them.
pub struct Import<'j> {
    tx: Transaction<'j>,
    journal: std::path::PathBuf,
    run_id: i64,
    retry_failed: bool,
    now: String,
    summary: ImportSummary,
}

impl super::Journal {
    /// Starts an import for run `run_id`: forgets the domain-less invalid rows of earlier imports.
    pub fn begin_import(
        &mut self,
        run_id: i64,
        retry_failed: bool,
    ) -> Result<Import<'_>, JournalError> {
        let journal = self.path.clone();
        let sqlite = |source| JournalError::Sqlite {
            path: journal.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sqlite)?;
        tx.execute(
            "DELETE FROM row_errors WHERE row_id IN (SELECT id FROM rows WHERE domain IS NULL)",
            [],
        )
        .map_err(sqlite)?;
        tx.execute("DELETE FROM rows WHERE domain IS NULL", [])
            .map_err(sqlite)?;
        Ok(Import {
            tx,
            journal,
            run_id,
            retry_failed,
            now: super::now(),
            summary: ImportSummary::default(),
        })
    }
}

impl Import<'_> {
    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        |source| JournalError::Sqlite {
            path: self.journal.clone(),
            source,
        }
    }

    /// What the import has done so far.
    pub fn summary(&self) -> &ImportSummary {
        &self.summary
    }

    pub fn journal(&self) -> &std::path::Path {
        &self.journal
    }

    /// A warning about the sheet, kept with the import's summary.
    pub fn warn(&mut self, warning: Issue) {
        self.summary.warnings.push(warning);
    }

    /// Stores one judged row (see the module docs for what happens to it).
    pub fn add(&mut self, row: &impl Judgement) -> Result<(), JournalError> {
        self.summary.rows += 1;
        self.store(row).map_err(self.sqlite())
    }

    /// Commits the import; what it did.
    pub fn commit(self) -> Result<ImportSummary, JournalError> {
        let journal = self.journal.clone();
        self.tx.commit().map_err(|source| JournalError::Sqlite {
            path: journal,
            source,
        })?;
        Ok(self.summary)
    }

    fn store(&mut self, row: &impl Judgement) -> Result<(), rusqlite::Error> {
        let issues = row.issues();
        let request = row.request();
        let valid = request.is_some();
        let domain = row.domain();
        let (body, hash) = match &request {
            Some(request) => {
                let body = serde_json::to_string(request).unwrap_or_default();
                let hash = hex128(body.as_bytes());
                (Some(body), hash)
            }
            None => (None, hex128(row.row_text().as_bytes())),
        };
        let fresh_state = if valid {
            RowState::Pending
        } else {
            RowState::Invalid
        };
        let (external_id, reseller, company) =
            (row.external_id(), row.reseller(), row.company_name());
        let number = row.number() as i64;

        let existing: Option<(i64, String, String)> = match domain {
            Some(domain) => self
                .tx
                .prepare_cached("SELECT id, state, content_hash FROM rows WHERE domain = ?1")?
                .query_row([domain], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?,
            None => None,
        };
        let Some((id, state, old_hash)) = existing else {
            self.tx
                .prepare_cached(
                    "INSERT INTO rows (domain, sheet_row, import_run, external_id, reseller, company_name,
                         content_hash, request_body, state, request_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                )?
                .execute(params![
                    domain,
                    number,
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
            .execute(params![id, number, external_id, reseller, company, self.now])?;
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
            .execute(params![row_id, first.to_string()])?;
        Ok(())
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
