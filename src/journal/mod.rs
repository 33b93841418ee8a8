//! The SQLite journal: the single source of truth for a job. It records each run, each row of the
//! sheet (keyed by its full lowercase domain), each attempt, the ids Partner Center returned and
//! the sealed credentials — so that a crash, a Ctrl-C or a network cut loses nothing and no
//! customer is ever created twice.
//!
//! Rules this module keeps (DESIGN.md):
//! - **Write-ahead intent.** A row is `in_flight`, with its request id, in a committed transaction
//!   before its request leaves ([`writer::JournalWriter`] answers only after the commit). When a
//!   journal is opened for work, every `in_flight` row becomes `in_doubt`.
//! - **One writer.** An OS advisory lock ([`lock`]) that the kernel drops with the process; readers
//!   (`status`, `export`) take no lock (WAL).
//! - **Imports are atomic**: one transaction per import ([`import`]).
//! - **Credentials are durable before they count**: sealed and committed with the `created` state.
//! - Created with mode 0600; SQLite gives its `-wal` and `-shm` files the same mode.

pub mod import;
mod lock;
pub mod ops;
pub mod queries;
pub mod resets;
pub mod steps;
pub mod writer;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

pub use lock::JournalLock;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The states of a row (CONTRACTS.md). `credentials_lost` and `changed_after_creation` are flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowState {
    Pending,
    InFlight,
    RetryWait,
    InDoubt,
    Created,
    Failed,
    Invalid,
}

impl RowState {
    pub const ALL: [RowState; 7] = [
        RowState::Pending,
        RowState::InFlight,
        RowState::RetryWait,
        RowState::InDoubt,
        RowState::Created,
        RowState::Failed,
        RowState::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::InFlight => "in_flight",
            RowState::RetryWait => "retry_wait",
            RowState::InDoubt => "in_doubt",
            RowState::Created => "created",
            RowState::Failed => "failed",
            RowState::Invalid => "invalid",
        }
    }

    pub fn parse(text: &str) -> Option<RowState> {
        RowState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing more will happen to the row in this job (unless its sheet row changes).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RowState::Created | RowState::Failed | RowState::Invalid
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal `{}` does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("journal `{}` is in use by {holder}", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error("journal `{}` cannot be used", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal `{}` cannot be used", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("journal `{}` cannot be brought up to date: {message}", path.display())]
    Migration { path: PathBuf, message: String },
    #[error("the journal writer stopped: {0}")]
    WriterGone(String),
}

impl JournalError {
    pub fn hint(&self) -> Option<String> {
        match self {
            JournalError::Missing { .. } => {
                Some("start a job with `csp-onboard run SHEET --journal J`".into())
            }
            JournalError::Locked { .. } => Some(
                "wait for that run to finish, or stop it (Ctrl-C) and run `csp-onboard resume`"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Every commit is on disk before it is acknowledged (WAL, `synchronous = FULL`). A dispatch
/// rewrites the same pages many times over: checkpointing every 64 MiB of WAL instead of SQLite's
/// 4 MiB copies each page back once instead of dozens of times, and a 64 MiB page cache keeps the
/// pages being worked on in memory (both measured: docs/performance.md).
const PRAGMAS: &str = "PRAGMA journal_mode = WAL;
     PRAGMA synchronous = FULL;
     PRAGMA foreign_keys = ON;
     PRAGMA wal_autocheckpoint = 16384;
     PRAGMA cache_size = -65536;";

/// How a journal is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `run`: create the file if needed; take the lock.
    CreateAndWork,
    /// `resume`: the file must exist; take the lock.
    Work,
    /// `status`, `export`: the file must exist; no lock, no writes.
    Read,
}

/// An open journal. Holds the lock (when working) for as long as it lives.
pub struct Journal {
    pub(crate) path: PathBuf,
    pub(crate) conn: Connection,
    /// Held for as long as the journal is open; dropping it releases the lock.
    pub(crate) _lock: Option<JournalLock>,
}

impl Journal {
    pub fn open(path: &Path, access: Access) -> Result<Journal, JournalError> {
        let exists = path.exists();
        if !exists && access != Access::CreateAndWork {
            return Err(JournalError::Missing {
                path: path.to_path_buf(),
            });
        }
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if !exists {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
        }
        let lock = match access {
            Access::Read => None,
            Access::CreateAndWork | Access::Work => Some(JournalLock::acquire(path)?),
        };
        let sqlite = |source| JournalError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        // Readers open read-only: `status` and `export` work on a journal they may not change
        // (a copy handed over, a read-only mount), and can never change one by mistake.
        let mut conn = match access {
            Access::Read => open_read_only(path),
            Access::CreateAndWork | Access::Work => Connection::open(path),
        }
        .map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite)?;
        if access != Access::Read {
            conn.execute_batch(PRAGMAS).map_err(sqlite)?;
            migrate(&mut conn).map_err(|message| JournalError::Migration {
                path: path.to_path_buf(),
                message,
            })?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            conn,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn sqlite(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        |source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// After a crash, nobody knows whether an `in_flight` request was processed. Each becomes
    /// `in_doubt`, and its attempt is recorded as interrupted, under the run before `run_id` (the
    /// one that sent it: only one process works a journal at a time). Attestations in flight are
    /// recovered the same way ([`steps::recover_in_flight`]). Returns the rows and the
    /// attestations recovered.
    pub fn recover_in_flight(&self, run_id: i64) -> Result<(usize, usize), JournalError> {
        let now = now();
        let tx = self.conn.unchecked_transaction().map_err(self.sqlite())?;
        tx.execute(
            "INSERT INTO attempts (row_id, run_id, kind, request_id, correlation_id, started,
                                       outcome)
                 SELECT r.id, p.id, 'create', r.request_id, COALESCE(p.correlation_id, ''),
                        r.updated_at, 'interrupted'
                 FROM rows r, (SELECT id, correlation_id FROM runs WHERE id < ?1
                               ORDER BY id DESC LIMIT 1) p
                 WHERE r.state = 'in_flight' AND r.request_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.row_id = r.id
                                   AND a.request_id = r.request_id AND a.finished IS NULL)",
            [run_id],
        )
        .map_err(self.sqlite())?;
        let recovered = tx
            .execute(
                "UPDATE rows SET state = 'in_doubt', ambiguous = 1,
                        in_doubt_since = COALESCE(in_doubt_since, ?1), updated_at = ?1
                 WHERE state = 'in_flight'",
                [&now],
            )
            .map_err(self.sqlite())?;
        let attestations = steps::recover_in_flight(&tx, run_id).map_err(self.sqlite())?;
        tx.commit().map_err(self.sqlite())?;
        Ok((recovered, attestations))
    }

    /// Records the start of a run; returns its id.
    pub fn begin_run(
        &self,
        command: &str,
        sheet: Option<&str>,
        sheet_hash: Option<&str>,
        template: Option<&str>,
        options: &serde_json::Value,
    ) -> Result<i64, JournalError> {
        self.conn
            .execute(
                "INSERT INTO runs (started, command, sheet, sheet_hash, template, options)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    now(),
                    command,
                    sheet,
                    sheet_hash,
                    template,
                    options.to_string()
                ],
            )
            .map_err(self.sqlite())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Acknowledges failed or invalid rows (by their sheet row numbers): they no longer make a run
    /// exit 1, until their content changes. All or nothing: a row that is neither failed nor
    /// invalid refuses the whole request. Returns each row with its state.
    pub fn acknowledge(
        &self,
        sheet_rows: &[i64],
        note: Option<&str>,
    ) -> Result<Result<Vec<(i64, String)>, String>, JournalError> {
        let tx = self.conn.unchecked_transaction().map_err(self.sqlite())?;
        let mut done = Vec::new();
        for &row in sheet_rows {
            let found: Vec<(String, String)> = tx
                .prepare_cached(
                    "SELECT content_hash, state FROM rows WHERE sheet_row = ?1
                     ORDER BY import_run DESC, id",
                )
                .and_then(|mut statement| {
                    statement
                        .query_map([row], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .map_err(self.sqlite())?;
            let Some((hash, state)) = found.first().cloned() else {
                return Ok(Err(format!("the journal has no row {row}")));
            };
            if state != "failed" && state != "invalid" {
                return Ok(Err(format!(
                    "row {row} is `{state}`: only failed or invalid rows can be acknowledged"
                )));
            }
            tx.execute(
                "INSERT OR REPLACE INTO acknowledgements
                     (content_hash, sheet_row, state, acknowledged_at, note)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![hash, row, state, now(), note],
            )
            .map_err(self.sqlite())?;
            done.push((row, state));
        }
        tx.commit().map_err(self.sqlite())?;
        Ok(Ok(done))
    }

    /// Records how run `run_id` ended.
    pub fn finish_run(&self, run_id: i64, exit_code: i32) -> Result<(), JournalError> {
        ops::finish_run(&self.conn, run_id, exit_code).map_err(self.sqlite())
    }

    /// The sheet the journal's last import before run `run_id` came from, if it has rows.
    pub fn made_from(&self, run_id: i64) -> Result<Option<PathBuf>, JournalError> {
        let rows: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM rows", [], |r| r.get(0))
            .map_err(self.sqlite())?;
        if rows == 0 {
            return Ok(None);
        }
        self.conn
            .query_row(
                "SELECT sheet FROM runs WHERE sheet IS NOT NULL AND id < ?1 ORDER BY id DESC LIMIT 1",
                [run_id],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map(|sheet| sheet.map(PathBuf::from))
            .map_err(self.sqlite())
    }

    /// The options and sheet of the most recent run, for `resume`.
    pub fn last_run(&self) -> Result<Option<(serde_json::Value, Option<String>)>, JournalError> {
        let mut statement = self
            .conn
            .prepare("SELECT options, sheet FROM runs ORDER BY id DESC LIMIT 1")
            .map_err(self.sqlite())?;
        let mut rows = statement.query([]).map_err(self.sqlite())?;
        match rows.next().map_err(self.sqlite())? {
            Some(row) => {
                let options: String = row.get(0).map_err(self.sqlite())?;
                let sheet: Option<String> = row.get(1).map_err(self.sqlite())?;
                let options = serde_json::from_str(&options).unwrap_or(serde_json::Value::Null);
                Ok(Some((options, sheet)))
            }
            None => Ok(None),
        }
    }
}

/// A reader's connection. A WAL journal is read through its `-shm` file, which SQLite must be
/// able to create; in a folder nobody may write to (a read-only mount, a copy handed over) it
/// cannot, and then — when no `-wal` file holds changes not yet written back — the file is read as
/// the immutable file it is.
fn open_read_only(path: &Path) -> Result<Connection, rusqlite::Error> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // SQLite opens lazily: the first read says whether the file can be read this way.
    let opened = Connection::open_with_flags(path, flags).and_then(|conn| {
        conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(conn)
    });
    match opened {
        Ok(conn) => Ok(conn),
        Err(error) => {
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            if Path::new(&wal).exists() {
                return Err(error);
            }
            let mut url = url_path(path);
            url.insert_str(0, "file:");
            url.push_str("?immutable=1");
            Connection::open_with_flags(url, flags | OpenFlags::SQLITE_OPEN_URI)
        }
    }
}

/// `path` as the path of a `file:` URI (absolute, with `%`, `?` and `#` escaped).
fn url_path(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for byte in absolute.as_os_str().as_encoded_bytes() {
        match byte {
            b'%' | b'?' | b'#' => out.push_str(&format!("%{byte:02X}")),
            _ if byte.is_ascii() => out.push(*byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Brings the schema up to date. Foreign keys are off while migrations run, as SQLite's procedure
/// for rebuilding a table asks (a migration may drop and recreate a table others refer to); they
/// are checked after a migration ran.
fn migrate(conn: &mut Connection) -> Result<(), String> {
    conn.execute_batch("PRAGMA foreign_keys = OFF;")
        .map_err(|e| e.to_string())?;
    let migrated = embedded::migrations::runner()
        .run(conn)
        .map(|report| !report.applied_migrations().is_empty())
        .map_err(|e| e.to_string());
    conn.execute_batch("PRAGMA foreign_keys = ON;")
        .map_err(|e| e.to_string())?;
    if !migrated? {
        return Ok(());
    }
    let broken: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .map_err(|e| e.to_string())?;
    if broken > 0 {
        return Err(format!(
            "{broken} reference(s) between its tables are broken"
        ));
    }
    Ok(())
}

/// Now, as the journal writes times: RFC 3339, UTC, milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::credentials::key_file;

    /// A journal as version 1 wrote it: one created customer with its own age file, one pending
    /// row with an attempt and one invalid row with its error.
    fn version_1_journal(path: &Path, recipient: &str) {
        let mut conn = Connection::open(path).unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(1))
            .run(&mut conn)
            .unwrap();
        let recipient = age::x25519::Recipient::from_str(recipient).unwrap();
        let sealed = age::encrypt(
            &recipient,
            br#"{"userName":"admin@old.onmicrosoft.com","password":"V1-secret!pass"}"#,
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO runs (id, started, command, options) VALUES (1, 't', 'run', '{}');
             INSERT INTO rows (id, domain, sheet_row, import_run, content_hash, request_body, state,
                               customer_id, created_at, updated_at)
                 VALUES (1, 'old.onmicrosoft.com', 2, 1, 'h1', '{}', 'created', 'c-1', 't', 't'),
                        (2, 'next.onmicrosoft.com', 3, 1, 'h2', '{}', 'pending', NULL, 't', 't'),
                        (3, NULL, 4, 1, 'h3', NULL, 'invalid', NULL, 't', 't');
             INSERT INTO attempts (row_id, run_id, kind, request_id, correlation_id, started)
                 VALUES (2, 1, 'create', 'r-1', 'c', 't');
             INSERT INTO row_errors (row_id, col, field, value, message)
                 VALUES (3, 'Domain', 'domain', '', 'a domain is required');",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO credentials (row_id, user_name, sealed, recipient, created)
             VALUES (1, 'admin@old.onmicrosoft.com', ?1, 'age1', 't')",
            [sealed],
        )
        .unwrap();
    }

    #[test]
    fn a_version_1_journal_keeps_its_rows_and_credentials_through_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let (key, recipient) = key_file(dir.path(), "key.txt");
        let path = dir.path().join("old.journal.sqlite");
        version_1_journal(&path, &recipient);

        // `export` reads an old journal as it is (readers never migrate)...
        let before = Journal::open(&path, Access::Read).unwrap();
        let legacy = queries::credentials(&before.conn).unwrap();
        assert_eq!(legacy.len(), 1);
        assert!(matches!(legacy[0].sealed, Some(queries::SealedAt::Own(_))));
        drop(before);

        // ...and `run`/`resume` bring it up to date.
        let journal = Journal::open(&path, Access::Work).unwrap();
        let states: Vec<(i64, String)> = journal
            .conn
            .prepare("SELECT id, state FROM rows ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            states,
            [
                (1, "created".to_string()),
                (2, "pending".to_string()),
                (3, "invalid".to_string())
            ]
        );
        let attempts: i64 = journal
            .conn
            .query_row("SELECT COUNT(*) FROM attempts WHERE row_id = 2", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(attempts, 1);
        let broken: i64 = journal
            .conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(broken, 0);
        let refused = journal
            .conn
            .execute("UPDATE rows SET state = 'done' WHERE id = 2", []);
        assert!(refused.is_err(), "the state CHECK survives the migration");

        let out = dir.path().join("credentials.csv");
        let opened = crate::report::export::open_credentials(&journal.conn, &key).unwrap();
        let written = crate::report::export::write_credentials(&opened, &out).unwrap();
        assert_eq!(written.customers, 1);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("old.onmicrosoft.com"), "{text}");
        assert!(
            text.contains("admin@old.onmicrosoft.com,V1-secret!pass"),
            "{text}"
        );
    }
}
