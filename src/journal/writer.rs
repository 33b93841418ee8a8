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
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Transaction, params};
use secrecy::SecretString;
use tokio::sync::oneshot;

use super::{Journal, JournalError, now};
use crate::credentials::{Sealer, Unsealed};

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&mut Batch<'_>) -> Completion + Send>;

const MAX_BATCH: usize = 512;

/// One transaction of the writer, with the work staged for its commit.
pub struct Batch<'c> {
    tx: Transaction<'c>,
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
    /// `row_id`'s credentials are sealed and stored when this transaction commits.
    pub fn stage_credentials(&mut self, row_id: i64, user_name: String, password: SecretString) {
        self.credentials.push(Unsealed {
            row_id,
            user_name,
            password,
        });
    }

    /// The counters of `run_id` that this transaction moves.
    pub fn counters(&mut self, run_id: i64) -> &mut RunCounters {
        self.counters.entry(run_id).or_default()
    }

    /// Seals the staged credentials and bumps the counters, then commits.
    fn commit(mut self, sealer: Option<&Sealer>) -> rusqlite::Result<()> {
        if !self.credentials.is_empty() {
            let staged = std::mem::take(&mut self.credentials);
            store_credentials(&self.tx, sealer, staged)?;
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

/// One age file for all the credentials of a transaction; a row of `credentials` per customer
/// pointing into it. If sealing fails (it cannot with a valid recipient, but nothing here may
/// write a password in the clear), the rows are flagged `credentials_lost` instead.
fn store_credentials(
    tx: &Transaction<'_>,
    sealer: Option<&Sealer>,
    staged: Vec<Unsealed>,
) -> rusqlite::Result<()> {
    let sealed = match sealer.map(|s| s.seal_batch(&staged)) {
        Some(Ok(sealed)) => sealed,
        failed => {
            let why = match failed {
                Some(Err(e)) => e.to_string(),
                _ => "no recipient to seal them to".to_string(),
            };
            tracing::error!(
                "{why}; the credentials of {} customer(s) are lost",
                staged.len()
            );
            let mut lost =
                tx.prepare_cached("UPDATE rows SET credentials_lost = 1 WHERE id = ?1")?;
            for credential in &staged {
                lost.execute([credential.row_id])?;
            }
            return Ok(());
        }
    };
    let created = now();
    tx.prepare_cached(
        "INSERT INTO credential_batches (sealed, recipient, created) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![sealed.ciphertext, sealed.recipient, created])?;
    let batch_id = tx.last_insert_rowid();
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO credentials (row_id, user_name, batch_id, created)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for credential in &staged {
        insert.execute(params![
            credential.row_id,
            credential.user_name,
            batch_id,
            created
        ])?;
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
    pub fn start(journal: Journal, sealer: Option<Sealer>) -> Result<JournalWriter, JournalError> {
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
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |batch| {
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
            .send(job)
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

fn write_loop(mut journal: Journal, sealer: Option<Sealer>, queue: mpsc::Receiver<Job>) -> Journal {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let tx = match journal.conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                // Never run: dropping the jobs reports the failure without touching the database.
                drop(jobs);
                tracing::error!("journal: cannot begin a transaction: {e}");
                continue;
            }
        };
        let mut batch = Batch {
            tx,
            credentials: Vec::new(),
            counters: HashMap::new(),
        };
        let completions: Vec<Completion> = jobs.into_iter().map(|job| job(&mut batch)).collect();
        let committed = batch.commit(sealer.as_ref()).map_err(|e| e.to_string());
        for completion in completions {
            completion(committed.clone());
        }
    }
    journal
}
