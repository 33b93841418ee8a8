//! The pipeline that brings every journaled row to a terminal state: how many requests are out,
//! the pace, retries, reconciliation, and a prompt stop.
//!
//! Each row is driven through the journal's state machine (DESIGN.md) by a task of its own:
//!
//! ```text
//! pending ──request slot, pace slot, intent committed──► in_flight ── 2xx ──► created (credentials sealed in the same commit)
//!                                          ── 4xx data error, first attempt ──► failed
//!                                          ── 429, or never sent ──► retry_wait ──► pending
//!                                          ── timeout, reset, 5xx ──► in_doubt
//!                                          ── "taken" after an ambiguous attempt ──► in_doubt
//! in_doubt ──reconcile──► created (credentials lost) | pending (same request id) | failed (taken)
//! ```
//!
//! Safety rules kept here:
//! - A row is `in_flight` only when its request is about to leave: a task first gets a place
//!   among the requests out ([`in_flight`]), then its pace slot ([`pace`]), and only then commits
//!   the write-ahead intent and sends. Everything before the intent can be abandoned on a stop
//!   ([`stop`]) with nothing written and nothing sent, so a clean stop leaves no row in flight and
//!   a crash leaves only the requests really sent (about rate × latency) to reconcile.
//! - A create whose outcome is unknown is never sent again before the domain has been looked up
//!   ([`reconcile`]); a row whose earlier attempt was ambiguous is never failed as "domain taken"
//!   without that lookup ([`verdict`]).
//! - Every request to `/v1/customers...` — creates, lookups, retries — takes a pace slot.
//!
//! A created row with an attestation planned goes on to it ([`attest`]: the step after the
//! create, with the same rules — place, pace slot, intent, reconcile before sending again).
//!
//! Files: [`attempt`] sends one create and records its outcome; [`verdict`] decides what an
//! outcome means for the row (a pure function); [`reconcile`] resolves unknown outcomes;
//! [`in_flight`] sizes the number of requests out to the observed latency; [`pace`] keeps the
//! rate; [`stop`] ends it all promptly.

mod attempt;
pub mod attest;
pub mod in_flight;
pub mod pace;
mod reconcile;
mod recover;
pub mod stop;
pub mod verdict;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use secrecy::SecretString;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::auth::TokenProvider;
use crate::journal::ops::{self, CreateAttempt, QueuedRow, Settle};
use crate::journal::writer::JournalWriter;
use crate::journal::{JournalError, RowState};
use crate::partner_center::PartnerCenter;

pub use in_flight::InFlight;
pub use pace::Pacer;
pub use stop::{Ending, StopSignal};

/// Rows read from the journal at a time.
const PAGE: usize = 1000;

/// What a dispatch works through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Every row not yet created, and every created row with an attestation to do.
    Onboarding,
    /// Every created row without credentials: its admin's password is reset.
    LostCredentials,
}

enum Work {
    Row(QueuedRow),
    Lost(crate::journal::resets::LostRow),
}

impl Queue {
    fn page(
        self,
        conn: &rusqlite::Connection,
        cursor: &mut ops::QueueCursor,
    ) -> Result<Vec<Work>, rusqlite::Error> {
        Ok(match self {
            Queue::Onboarding => ops::work_page(conn, cursor, PAGE)?
                .into_iter()
                .map(Work::Row)
                .collect(),
            Queue::LostCredentials => crate::journal::resets::lost_page(conn, cursor, PAGE)?
                .into_iter()
                .map(Work::Lost)
                .collect(),
        })
    }
}

/// How a dispatch behaves; the defaults are the documented ones.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// The most requests out at once. Below it, the number follows rate × observed latency
    /// ([`in_flight`]); with no rate limit, this is the number.
    pub concurrency: usize,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long to keep looking for a customer whose create had an unknown outcome.
    pub reconcile_patience: Duration,
    pub reconcile_interval: Duration,
    /// Stop the run when this many creates in a row are refused for lack of permission and none
    /// has succeeded.
    pub permission_stop_after: u32,
}

/// The default ceiling on requests out: 500/min at 30 s ± 50 % per create needs about 470.
pub const DEFAULT_CONCURRENCY: usize = 1000;

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            concurrency: DEFAULT_CONCURRENCY,
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            reconcile_patience: Duration::from_secs(120),
            reconcile_interval: Duration::from_secs(10),
            permission_stop_after: 5,
        }
    }
}

/// Live counters for the progress display (the journal remains the truth for reports).
#[derive(Default)]
pub struct Progress {
    pub created: AtomicU64,
    pub failed: AtomicU64,
    pub retrying: AtomicU64,
    pub throttled: AtomicU64,
    pub attested: AtomicU64,
}

pub struct Dispatcher {
    pub pc: Arc<PartnerCenter>,
    pub auth: Arc<TokenProvider>,
    pub journal: Arc<JournalWriter>,
    pub pacer: Arc<Pacer>,
    pub in_flight: Arc<InFlight>,
    pub settings: DispatchSettings,
    pub run_id: i64,
    pub stop: StopSignal,
    pub progress: Arc<Progress>,
    /// The Microsoft Customer Agreement's template id, fetched once per run when attestations
    /// are to be made; without it, none is.
    pub attest_template: OnceLock<String>,
    permission_refusals: AtomicU64,
    any_created: AtomicBool,
}

impl Dispatcher {
    /// `rate_per_s`: the pace's requests per second at full speed (`None`: no limit), which sizes
    /// the requests out together with their latency.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pc: Arc<PartnerCenter>,
        auth: Arc<TokenProvider>,
        journal: Arc<JournalWriter>,
        pacer: Arc<Pacer>,
        rate_per_s: Option<f64>,
        settings: DispatchSettings,
        run_id: i64,
        stop: StopSignal,
    ) -> Dispatcher {
        Dispatcher {
            pc,
            auth,
            journal,
            pacer,
            in_flight: InFlight::new(rate_per_s, settings.concurrency),
            settings,
            run_id,
            stop,
            progress: Arc::new(Progress::default()),
            attest_template: OnceLock::new(),
            permission_refusals: AtomicU64::new(0),
            any_created: AtomicBool::new(false),
        }
    }

    /// Drives every row of `queue` until it is done or the run stops. The queue is read from the
    /// journal a page at a time.
    pub async fn run(self: Arc<Self>, queue: Queue) -> Result<Ending, JournalError> {
        let adjusting = tokio::spawn(self.clone().keep_limit_up_to_date());
        let result = self.clone().drive_all(queue).await;
        adjusting.abort();
        // Awaited so that its hold on the dispatcher (and the journal writer) is gone when this
        // returns: the job takes the journal back next.
        let _ = adjusting.await;
        result?;
        Ok(self.stop.reason().unwrap_or(Ending::Complete))
    }

    async fn drive_all(self: Arc<Self>, queue: Queue) -> Result<(), JournalError> {
        // Rows waiting (for a request slot, a backoff, a reconciliation) are tasks too: bound them.
        let live = Arc::new(Semaphore::new(self.settings.concurrency.max(1) * 4));
        let mut tasks = JoinSet::new();
        let mut failure = None;
        let mut cursor = ops::QueueCursor::default();
        let mut page = Vec::new().into_iter();
        loop {
            let row = match page.next() {
                Some(row) => row,
                None => {
                    let mut at = cursor;
                    let (rows, next) = self
                        .journal
                        .exec(move |tx| queue.page(tx, &mut at).map(|rows| (rows, at)))
                        .await?;
                    cursor = next;
                    if rows.is_empty() {
                        break;
                    }
                    page = rows.into_iter();
                    continue;
                }
            };
            let Some(Ok(permit)) = self.stop.unless_stopped(live.clone().acquire_owned()).await
            else {
                break;
            };
            let me = self.clone();
            tasks.spawn(async move {
                let _live = permit;
                match row {
                    Work::Row(row) => me.drive(row).await,
                    Work::Lost(row) => me.recover(row).await,
                }
            });
            while let Some(done) = tasks.try_join_next() {
                self.note_failure(done, &mut failure);
            }
        }
        while let Some(done) = tasks.join_next().await {
            self.note_failure(done, &mut failure);
        }
        failure.map_or(Ok(()), Err)
    }

    /// A task that failed (the journal could not record something) stops the run.
    fn note_failure(
        &self,
        done: Result<Result<(), JournalError>, tokio::task::JoinError>,
        failure: &mut Option<JournalError>,
    ) {
        let error = match done {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(join) => JournalError::WriterGone(format!("a row task failed: {join}")),
        };
        failure.get_or_insert(error);
        self.stop.stop(Ending::Interrupted);
    }

    /// Keeps the number of requests out in step with the latency while the run lasts.
    async fn keep_limit_up_to_date(self: Arc<Self>) {
        while self.stop.sleep(in_flight::ADJUST_EVERY).await {
            self.in_flight.adjust(Instant::now(), self.pacer.level());
        }
    }

    async fn drive(&self, mut row: QueuedRow) -> Result<(), JournalError> {
        loop {
            if self.stop.is_set() {
                return Ok(());
            }
            let went_on = match row.state {
                RowState::InDoubt | RowState::InFlight => self.reconcile(&mut row).await?,
                RowState::Pending | RowState::RetryWait => {
                    if let Some(at) = row.not_before {
                        let wait = (at - Utc::now()).to_std().unwrap_or_default();
                        if !wait.is_zero() && !self.stop.sleep(wait).await {
                            return Ok(());
                        }
                    }
                    self.attempt(&mut row).await?
                }
                RowState::Created => self.attest(&mut row).await?,
                RowState::Failed | RowState::Invalid => return Ok(()),
            };
            if !went_on {
                return Ok(()); // left as it is for a later run
            }
        }
    }

    /// Full-jitter exponential backoff: a random wait up to `base × 2^(n-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .settings
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.settings.backoff_cap);
        if ceiling.is_zero() {
            return ceiling;
        }
        ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Records where the row goes (with the attempt that sent it there, if any) and follows it.
    async fn settle(
        &self,
        row: &mut QueuedRow,
        attempt: Option<CreateAttempt>,
        settle: Settle,
    ) -> Result<(), JournalError> {
        use std::sync::atomic::Ordering::Relaxed;
        let (row_id, run_id) = (row.id, self.run_id);
        let settle = self
            .journal
            .exec_settle(move |tx| {
                if let Some(attempt) = &attempt {
                    ops::record_attempt(tx, row_id, run_id, ops::AttemptKind::Create, attempt)?;
                }
                let mut settle = settle;
                ops::settle_row(tx, row_id, run_id, &mut settle)?;
                Ok(settle)
            })
            .await?;
        match settle {
            Settle::Created {
                customer_id,
                already_existed,
                ..
            } => {
                row.state = RowState::Created;
                row.customer_id = Some(customer_id);
                row.already_existed = already_existed;
                self.succeeded();
            }
            Settle::Failed { .. } => {
                row.state = RowState::Failed;
                self.progress.failed.fetch_add(1, Relaxed);
            }
            Settle::RetryWait {
                not_before,
                next_request_id,
                ..
            } => {
                row.state = RowState::RetryWait;
                row.not_before = Some(not_before);
                row.request_id = next_request_id;
                self.progress.retrying.fetch_add(1, Relaxed);
            }
            Settle::InDoubt { .. } => {
                row.state = RowState::InDoubt;
                row.ambiguous = true;
                row.in_doubt_since.get_or_insert_with(Utc::now);
            }
            Settle::LookUp { .. } => {
                row.state = RowState::InDoubt;
                row.in_doubt_since.get_or_insert_with(Utc::now);
            }
            Settle::Pending { not_before } => {
                row.state = RowState::Pending;
                row.not_before = not_before;
                row.in_doubt_since = None;
            }
        }
        Ok(())
    }

    /// A row got what it was sent for: the run is not one where every request is refused.
    fn succeeded(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.any_created.store(true, Relaxed);
        self.progress.created.fetch_add(1, Relaxed);
    }

    /// The in-flight rule before a request leaves: a place among the requests out, a token, a
    /// pace slot — in that order, every wait raced against the stop. `None` when the run stops
    /// (or the sign-in is gone): nothing was sent and nothing recorded, so the caller leaves its
    /// row or step exactly as it was.
    async fn clear_to_send(&self) -> Option<(in_flight::Permit, SecretString)> {
        let place = self.stop.unless_stopped(self.in_flight.acquire()).await?;
        let token = self.token().await?;
        self.stop.unless_stopped(self.pacer.acquire()).await?;
        Some((place, token))
    }

    /// A live access token, or `None` when signing in failed (which stops the run).
    async fn token(&self) -> Option<SecretString> {
        match self.auth.token().await {
            Ok(token) => Some(token),
            Err(error) => {
                tracing::error!("{error}");
                self.stop
                    .stop(Ending::AuthStopped(error.to_string(), error.hint()));
                None
            }
        }
    }
}
