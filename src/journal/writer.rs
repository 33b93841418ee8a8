//! The journal's single writer: a thread that owns the connection and runs operations sent from
//! async code, grouping whatever has queued up into one transaction.
//!
//! An operation's result is delivered only after its transaction has committed. That is what makes
//! write-ahead intent real: a dispatcher that awaits `mark_in_flight` knows the intent is on disk
//! before its request leaves. Grouping keeps that affordable when hundreds of rows move at once.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Transaction;
use tokio::sync::oneshot;

use super::{Journal, JournalError};

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Transaction<'_>) -> Completion + Send>;

const MAX_BATCH: usize = 512;

pub struct JournalWriter {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<Journal>>,
}

impl JournalWriter {
    /// Moves the journal (and its lock) onto the writer thread.
    pub fn start(journal: Journal) -> Result<JournalWriter, JournalError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let path = journal.path.clone();
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || write_loop(journal, queue))
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
        F: FnOnce(&Transaction<'_>) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |tx| {
            let result = op(tx);
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

fn write_loop(mut journal: Journal, queue: mpsc::Receiver<Job>) -> Journal {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let tx = match journal.conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                let message = e.to_string();
                for job in batch {
                    // Never run: report the failure without touching the database.
                    drop(job);
                }
                tracing::error!("journal: cannot begin a transaction: {message}");
                continue;
            }
        };
        let completions: Vec<Completion> = batch.into_iter().map(|job| job(&tx)).collect();
        let committed = tx.commit().map_err(|e| e.to_string());
        for completion in completions {
            completion(committed.clone());
        }
    }
    journal
}
