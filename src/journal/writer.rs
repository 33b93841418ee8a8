//! The journal's single writer: a thread that owns the connection and runs operations sent from
//! async code, grouping whatever has queued up into one transaction.
//!
//! An operation's result is delivered only after its transaction has committed. That is what makes
//! write-ahead intent real: a dispatcher that awaits `mark_in_flight` knows the intent is on disk
//! before its request leaves. Grouping keeps that affordable when hundreds of rows move at once.
//!
//! Work that is cheaper done once per transaction than once per operation is staged on the
//! [`Batch`] and done right before the commit: the new customers' credentials are sealed together
//! into one age file (an X25519 exchange per transaction instead of per customer), and the run's
//! counters are bumped once.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Transaction, params};
use secrecy::SecretString;
use tokio::sync::oneshot;

use super::{Journal, JournalError, now};
use crate::credentials::{Sealer, Unsealed};

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

struct Job {
    urgency: Urgency,
    run: Box<dyn FnOnce(&mut Batch<'_>) -> Completion + Send>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urgency {
    /// Something waits on this commit (a request that may leave only once its intent is durable).
    Now,
    /// An outcome being recorded: may wait for a bigger transaction.
    CanWait,
}

/// At most this many operations per transaction.
const MAX_BATCH: usize = 512;
/// Outcomes held back for a bigger transaction are committed once this many have gathered...
const SETTLE_BATCH: usize = 256;
/// ...or the oldest has waited this long.
pub const SETTLE_WAIT: Duration = Duration::from_millis(20);

/// One transaction of the writer, with the work staged for its commit.
pub struct Batch<'c> {
    tx: Transaction<'c>,
    /// The `credential_batches` row this transaction's credentials go to, once one is staged.
    credential_batch: Option<i64>,
    credentials: Vec<Unsealed>,
    counters: HashMap<i64, RunCounters>,
}

/// What a transaction adds to a run's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunCounters {
    pub requests: i64,
    pub throttled: i64,
    pub created: i64,
    pub failed: i64,
}

impl<'c> Batch<'c> {
    /// `row_id`'s credentials are sealed and stored when this transaction commits, in the
    /// `credential_batches` row whose id this returns.
    pub fn stage_credentials(
        &mut self,
        row_id: i64,
        user_name: String,
        password: SecretString,
    ) -> rusqlite::Result<i64> {
        let batch_id = match self.credential_batch {
            Some(id) => id,
            None => {
                // A placeholder, filled in by `commit`: the rows need the id before then.
                self.tx
                    .prepare_cached(
                        "INSERT INTO credential_batches (sealed, recipient, created)
                         VALUES (x'', '', ?1)",
                    )?
                    .execute([now()])?;
                let id = self.tx.last_insert_rowid();
                self.credential_batch = Some(id);
                id
            }
        };
        self.credentials.push(Unsealed {
            row_id,
            user_name,
            password,
        });
        Ok(batch_id)
    }

    /// The counters of `run_id` that this transaction moves.
    pub fn counters(&mut self, run_id: i64) -> &mut RunCounters {
        self.counters.entry(run_id).or_default()
    }

    /// Seals the staged credentials and bumps the counters, then commits.
    fn commit(mut self, sealer: &Sealer) -> rusqlite::Result<()> {
        if let Some(batch_id) = self.credential_batch {
            let staged = std::mem::take(&mut self.credentials);
            store_credentials(&self.tx, sealer, batch_id, staged)?;
        }
        for (run_id, c) in std::mem::take(&mut self.counters) {
            self.tx
                .prepare_cached(
                    "UPDATE runs SET requests = requests + ?2, throttled = throttled + ?3,
                         created = created + ?4, failed = failed + ?5
                     WHERE id = ?1",
                )?
                .execute(params![
                    run_id,
                    c.requests,
                    c.throttled,
                    c.created,
                    c.failed
                ])?;
        }
        self.tx.commit()
    }
}

impl<'c> Deref for Batch<'c> {
    type Target = Transaction<'c>;

    fn deref(&self) -> &Transaction<'c> {
        &self.tx
    }
}

/// Seals all the credentials of a transaction into its batch. If sealing fails (it cannot with a
/// valid recipient, but nothing here may write a password in the clear), the rows are flagged
/// `credentials_lost` instead.
fn store_credentials(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    batch_id: i64,
    staged: Vec<Unsealed>,
) -> rusqlite::Result<()> {
    match sealer.seal_batch(&staged) {
        Ok(sealed) => {
            tx.prepare_cached(
                "UPDATE credential_batches SET sealed = ?2, recipient = ?3 WHERE id = ?1",
            )?
            .execute(params![batch_id, sealed.ciphertext, sealed.recipient])?;
        }
        Err(error) => {
            tracing::error!(
                "{error}; the credentials of {} customer(s) are lost",
                staged.len()
            );
            let mut lost = tx.prepare_cached(
                "UPDATE rows SET credentials_lost = 1, credential_batch = NULL WHERE id = ?1",
            )?;
            for credential in &staged {
                lost.execute([credential.row_id])?;
            }
            tx.execute("DELETE FROM credential_batches WHERE id = ?1", [batch_id])?;
        }
    }
    Ok(())
}

pub struct JournalWriter {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<Journal>>,
}

impl JournalWriter {
    /// Moves the journal (and its lock) onto the writer thread. Credentials staged by operations
    /// are sealed to `sealer`'s recipient.
    pub fn start(journal: Journal, sealer: Sealer) -> Result<JournalWriter, JournalError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let path = journal.path.clone();
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || write_loop(journal, sealer, queue))
            .map_err(|source| JournalError::Io { path, source })?;
        Ok(JournalWriter {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `op` in the next transaction; returns its result once that transaction committed.
    pub async fn exec<T, F>(&self, op: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Batch<'_>) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        self.submit(Urgency::Now, op).await
    }

    /// Like [`exec`](Self::exec), for recording the outcome of a request: nothing waits to be sent
    /// on it, so when the journal is busy it may ride in a later, bigger transaction (at most
    /// [`SETTLE_WAIT`] later) — at full speed that is what makes sealing one age file per
    /// transaction cheap. An idle writer commits it at once.
    pub async fn exec_settle<T, F>(&self, op: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Batch<'_>) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        self.submit(Urgency::CanWait, op).await
    }

    async fn submit<T, F>(&self, urgency: Urgency, op: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Batch<'_>) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let run: Box<dyn FnOnce(&mut Batch<'_>) -> Completion + Send> = Box::new(move |batch| {
            let result = op(batch);
            Box::new(move |committed: Result<(), String>| {
                let outcome = match (committed, result) {
                    (Ok(()), Ok(value)) => Ok(value),
                    (Err(e), _) => Err(JournalError::WriterGone(format!("commit failed: {e}"))),
                    (Ok(()), Err(e)) => Err(JournalError::WriterGone(e.to_string())),
                };
                let _ = reply.send(outcome);
            })
        });
        self.jobs
            .as_ref()
            .ok_or_else(|| JournalError::WriterGone("closed".into()))?
            .send(Job { urgency, run })
            .map_err(|_| JournalError::WriterGone("the writer thread ended".into()))?;
        answer
            .await
            .map_err(|_| JournalError::WriterGone("no answer from the writer thread".into()))?
    }

    /// Stops the writer after everything sent so far is committed; gives the journal back.
    pub fn finish(mut self) -> Option<Journal> {
        self.jobs.take();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Commits urgent operations as soon as they arrive, together with whatever else has queued up;
/// outcomes that can wait are held back until enough have gathered, the oldest has waited
/// [`SETTLE_WAIT`], or nothing urgent is left (an idle writer never sits on them).
fn write_loop(mut journal: Journal, sealer: Sealer, queue: mpsc::Receiver<Job>) -> Journal {
    let mut held: Vec<Job> = Vec::new();
    let mut oldest_held = Instant::now();
    let mut open = true;
    while open || !held.is_empty() {
        let mut urgent = Vec::new();
        let first = if !open {
            None
        } else if held.is_empty() {
            let job = queue.recv().ok();
            open = job.is_some();
            job
        } else {
            let due = (oldest_held + SETTLE_WAIT).saturating_duration_since(Instant::now());
            match queue.recv_timeout(due) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    None
                }
            }
        };
        let mut next = first;
        while let Some(job) = next {
            match job.urgency {
                Urgency::Now => urgent.push(job),
                Urgency::CanWait => {
                    if held.is_empty() {
                        oldest_held = Instant::now();
                    }
                    held.push(job);
                }
            }
            if urgent.len() + held.len() >= MAX_BATCH {
                break;
            }
            next = match queue.try_recv() {
                Ok(job) => Some(job),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    None
                }
            };
        }
        let release_held = !open
            || urgent.is_empty()
            || held.len() >= SETTLE_BATCH
            || oldest_held.elapsed() >= SETTLE_WAIT;
        if release_held {
            urgent.append(&mut held);
        }
        if !urgent.is_empty() {
            commit_jobs(&mut journal, &sealer, urgent);
        }
    }
    journal
}

/// Runs `jobs` in one transaction and tells each how the commit went.
fn commit_jobs(journal: &mut Journal, sealer: &Sealer, jobs: Vec<Job>) {
    let tx = match journal.conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            // Never run: dropping the jobs reports the failure without touching the database.
            drop(jobs);
            tracing::error!("journal: cannot begin a transaction: {e}");
            return;
        }
    };
    let mut batch = Batch {
        tx,
        credential_batch: None,
        credentials: Vec::new(),
        counters: HashMap::new(),
    };
    let completions: Vec<Completion> = jobs.into_iter().map(|job| (job.run)(&mut batch)).collect();
    let committed = batch.commit(sealer).map_err(|e| e.to_string());
    for completion in completions {
        completion(committed.clone());
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::credentials::{Opener, generate_identity, key_file};
    use crate::journal::Access;
    use crate::journal::ops::{NewCredentials, Settle, settle_row};

    fn journal_with_rows(dir: &std::path::Path, rows: i64) -> Journal {
        let journal = Journal::open(&dir.join("j.sqlite"), Access::CreateAndWork).unwrap();
        journal
            .conn
            .execute_batch(
                "INSERT INTO runs (id, started, command, options) VALUES (1, 't', 'run', '{}')",
            )
            .unwrap();
        for id in 1..=rows {
            journal
                .conn
                .execute(
                    "INSERT INTO rows (id, domain, sheet_row, import_run, content_hash, request_body,
                                       state, created_at, updated_at)
                     VALUES (?1, ?2, ?1 + 1, 1, 'h', '{}', 'in_flight', 't', 't')",
                    params![id, format!("d{id}.onmicrosoft.com")],
                )
                .unwrap();
        }
        journal
    }

    fn created(id: i64) -> Settle {
        Settle::Created {
            customer_id: format!("tenant-{id}"),
            commerce_id: None,
            credentials: Some(NewCredentials {
                user_name: format!("admin@d{id}.onmicrosoft.com"),
                password: SecretString::from(format!("Pass-{id}-!secret")),
            }),
            already_existed: false,
        }
    }

    #[test]
    fn settles_in_one_transaction_share_one_sealed_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (key, recipient) = key_file(dir.path(), "key.txt");
        let journal = journal_with_rows(dir.path(), 3);
        let writer = JournalWriter::start(journal, Sealer::new(&recipient).unwrap()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(writer.exec(|tx| {
                for id in 1..=3 {
                    settle_row(tx, id, 1, &mut created(id))?;
                }
                Ok(())
            }))
            .unwrap();
        let journal = writer.finish().unwrap();

        let (batches, pointing, created_count): (i64, i64, i64) = journal
            .conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM credential_batches),
                        (SELECT COUNT(DISTINCT credential_batch) FROM rows),
                        (SELECT created FROM runs WHERE id = 1)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((batches, pointing, created_count), (1, 1, 3));
        let sealed: Vec<u8> = journal
            .conn
            .query_row("SELECT sealed FROM credential_batches", [], |r| r.get(0))
            .unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("secret"));
        let opened = Opener::from_file(&key)
            .unwrap()
            .open_batch("test", &sealed)
            .unwrap();
        assert_eq!(opened.len(), 3);
        assert_eq!(opened[&2].0, "admin@d2.onmicrosoft.com");
        assert_eq!(opened[&3].1.expose_secret(), "Pass-3-!secret");
    }

    #[test]
    fn an_outcome_that_can_wait_is_committed_before_it_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let (_, recipient) = generate_identity();
        let journal = journal_with_rows(dir.path(), 2);
        let path = journal.path().to_path_buf();
        let writer = JournalWriter::start(journal, Sealer::new(&recipient).unwrap()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(writer.exec_settle(|tx| settle_row(tx, 1, 1, &mut created(1))))
            .unwrap();
        // Acknowledged means committed: another connection sees it.
        let reader = Journal::open(&path, Access::Read).unwrap();
        let state = |id: i64| -> String {
            reader
                .conn
                .query_row("SELECT state FROM rows WHERE id = ?1", [id], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(state(1), "created");

        // Sent together with urgent work, it may be held back for a bigger transaction; either way
        // it is committed by the time it is acknowledged, and nothing is left when the writer stops.
        let (held, urgent) = runtime.block_on(async {
            futures::join!(
                writer.exec_settle(|tx| settle_row(tx, 2, 1, &mut created(2))),
                writer.exec(
                    |tx| tx.query_row("SELECT COUNT(*) FROM rows", [], |r| r.get::<_, i64>(0))
                )
            )
        });
        held.unwrap();
        assert_eq!(urgent.unwrap(), 2);
        assert_eq!(state(2), "created");
        writer.finish().unwrap();
    }
}
