//! The pipeline that brings every journaled row to a terminal state: pace, bounded concurrency,
//! retries, reconciliation, graceful stop.
//!
//! Each row is driven through the journal's state machine (DESIGN.md) by a task of its own:
//!
//! ```text
//! pending ──intent committed──► in_flight ── 2xx ──► created (credentials sealed in the same commit)
//!                                          ── 4xx data error, first attempt ──► failed
//!                                          ── 429, or never sent ──► retry_wait ──► pending
//!                                          ── timeout, reset, 5xx ──► in_doubt
//!                                          ── "taken" after an ambiguous attempt ──► in_doubt
//! in_doubt ──reconcile──► created (credentials lost) | pending (same request id) | failed (taken)
//! ```
//!
//! Safety rules kept here: the `in_flight` intent is committed before a create leaves; a create
//! whose outcome is unknown is never sent again before the domain has been looked up; a row whose
//! earlier attempt was ambiguous is never failed as "domain taken" without that lookup. Every
//! request to `/v1/customers...` — creates, lookups, retries — takes a slot from the [`Pacer`].

pub mod pacer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use secrecy::SecretString;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::auth::TokenProvider;
use crate::journal::import::new_request_id;
use crate::journal::ops::{
    self, AttemptEnd, AttemptKind, CreateAttempt, NewCredentials, QueuedRow, Settle,
};
use crate::journal::writer::JournalWriter;
use crate::journal::{JournalError, RowState};
use crate::partner_center::{CreateOutcome, Lookup, PartnerCenter};

pub use pacer::Pacer;

/// Rows read from the journal at a time.
const PAGE: usize = 1000;

/// How a dispatch behaves; the defaults are the documented ones.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Requests in flight at once. In-flight ≈ rate × latency: 100 reaches 500/min even when a
    /// create takes 12 s.
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

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            concurrency: 100,
            max_attempts: 10,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            reconcile_patience: Duration::from_secs(120),
            reconcile_interval: Duration::from_secs(10),
            permission_stop_after: 5,
        }
    }
}

/// Why a dispatch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every row it could reach is terminal (some may remain in doubt; the journal says).
    Complete,
    /// Stopped on request (Ctrl-C).
    Interrupted,
    /// Authentication or permission failed: the rest was left for a later `resume`.
    AuthStopped(String),
}

/// Tells the tasks to stop taking new work.
#[derive(Clone)]
pub struct StopSignal {
    sender: Arc<watch::Sender<Option<Ending>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal {
            sender: Arc::new(watch::channel(None).0),
        }
    }
}

impl StopSignal {
    pub fn stop(&self, why: Ending) {
        self.sender.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(why);
                true
            } else {
                false
            }
        });
    }

    pub fn reason(&self) -> Option<Ending> {
        self.sender.borrow().clone()
    }

    fn is_set(&self) -> bool {
        self.sender.borrow().is_some()
    }

    /// Sleeps `duration`, unless a stop comes first; returns whether it slept the whole time.
    async fn sleep(&self, duration: Duration) -> bool {
        let mut receiver = self.sender.subscribe();
        if receiver.borrow().is_some() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = receiver.changed() => false,
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
}

pub struct Dispatcher {
    pub pc: Arc<PartnerCenter>,
    pub auth: Arc<TokenProvider>,
    pub journal: Arc<JournalWriter>,
    pub pacer: Arc<Pacer>,
    pub settings: DispatchSettings,
    pub run_id: i64,
    pub stop: StopSignal,
    pub progress: Arc<Progress>,
    permission_refusals: AtomicU64,
    any_created: AtomicBool,
}

impl Dispatcher {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pc: Arc<PartnerCenter>,
        auth: Arc<TokenProvider>,
        journal: Arc<JournalWriter>,
        pacer: Arc<Pacer>,
        settings: DispatchSettings,
        run_id: i64,
        stop: StopSignal,
    ) -> Dispatcher {
        Dispatcher {
            pc,
            auth,
            journal,
            pacer,
            settings,
            run_id,
            stop,
            progress: Arc::new(Progress::default()),
            permission_refusals: AtomicU64::new(0),
            any_created: AtomicBool::new(false),
        }
    }

    /// Drives every queued row of the journal until it is terminal or the run stops. The queue is
    /// read from the journal a page at a time.
    pub async fn run(self: Arc<Self>) -> Result<Ending, JournalError> {
        let in_flight = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        // Rows waiting (backoff, reconciliation) hold no request slot; bound them anyway.
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
                        .exec(move |tx| ops::work_page(tx, &mut at, PAGE).map(|rows| (rows, at)))
                        .await?;
                    cursor = next;
                    if rows.is_empty() {
                        break;
                    }
                    page = rows.into_iter();
                    continue;
                }
            };
            if self.stop.is_set() {
                break;
            }
            let Ok(permit) = live.clone().acquire_owned().await else {
                break;
            };
            let me = self.clone();
            let slots = in_flight.clone();
            tasks.spawn(async move {
                let _live = permit;
                me.drive(row, &slots).await
            });
            while let Some(done) = tasks.try_join_next() {
                if let Err(error) = flatten(done) {
                    failure.get_or_insert(error);
                    self.stop.stop(Ending::Interrupted);
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(error) = flatten(done) {
                failure.get_or_insert(error);
                self.stop.stop(Ending::Interrupted);
            }
        }
        if let Some(error) = failure {
            return Err(error);
        }
        Ok(self.stop.reason().unwrap_or(Ending::Complete))
    }

    async fn drive(&self, mut row: QueuedRow, slots: &Semaphore) -> Result<(), JournalError> {
        loop {
            if self.stop.is_set() {
                return Ok(());
            }
            match row.state {
                RowState::InDoubt | RowState::InFlight => {
                    if !self.reconcile(&mut row).await? {
                        return Ok(()); // left in doubt for a later run
                    }
                }
                RowState::Pending | RowState::RetryWait => {
                    if let Some(at) = row.not_before {
                        let wait = (at - Utc::now()).to_std().unwrap_or_default();
                        if !wait.is_zero() && !self.stop.sleep(wait).await {
                            return Ok(());
                        }
                    }
                    if !self.attempt(&mut row, slots).await? {
                        return Ok(()); // left as it is for a later run
                    }
                }
                RowState::Created | RowState::Failed | RowState::Invalid => return Ok(()),
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

    async fn settle(
        &self,
        row: &mut QueuedRow,
        attempt: Option<CreateAttempt>,
        settle: Settle,
    ) -> Result<(), JournalError> {
        let (row_id, run_id) = (row.id, self.run_id);
        let settle = self
            .journal
            .exec_settle(move |tx| {
                if let Some(attempt) = &attempt {
                    ops::record_create_attempt(tx, row_id, run_id, attempt)?;
                }
                let mut settle = settle;
                ops::settle_row(tx, row_id, run_id, &mut settle)?;
                Ok(settle)
            })
            .await?;
        match settle {
            Settle::Created { .. } => {
                row.state = RowState::Created;
                self.any_created.store(true, Ordering::Relaxed);
                self.progress.created.fetch_add(1, Ordering::Relaxed);
            }
            Settle::Failed { .. } => {
                row.state = RowState::Failed;
                self.progress.failed.fetch_add(1, Ordering::Relaxed);
            }
            Settle::RetryWait {
                not_before,
                next_request_id,
                ..
            } => {
                row.state = RowState::RetryWait;
                row.not_before = Some(not_before);
                row.request_id = next_request_id;
                self.progress.retrying.fetch_add(1, Ordering::Relaxed);
            }
            Settle::InDoubt { .. } => {
                row.state = RowState::InDoubt;
                row.ambiguous = true;
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

    fn ended(&self, started: Started, end: AttemptEnd) -> CreateAttempt {
        CreateAttempt {
            request_id: started.request_id,
            correlation_id: self.pc.correlation_id().to_string(),
            started: started.at,
            end,
        }
    }

    async fn token(&self) -> Option<SecretString> {
        match self.auth.token().await {
            Ok(token) => Some(token),
            Err(error) => {
                tracing::error!("{error}");
                self.stop.stop(Ending::AuthStopped(error.to_string()));
                None
            }
        }
    }

    /// One create attempt, from the write-ahead intent to the settled state. Returns false when
    /// the row is left as it is for a later run.
    ///
    /// A row that used up `--max-attempts` in this run without a verdict (never sent, throttled,
    /// outcome unknown then found free) stays pending rather than failed: `failed` means Partner
    /// Center refused it, and failed rows are not retried unless their content changes. `resume`
    /// gives it a fresh set of attempts.
    async fn attempt(&self, row: &mut QueuedRow, slots: &Semaphore) -> Result<bool, JournalError> {
        if row.tries >= self.settings.max_attempts {
            tracing::warn!(
                domain = %row.domain,
                row = row.sheet_row,
                "no verdict after {} attempts in this run; left for `resume`",
                row.tries
            );
            return Ok(false);
        }
        let Ok(slot) = slots.acquire().await else {
            return Ok(false);
        };
        if self.stop.is_set() {
            return Ok(false); // nothing written, nothing sent: the row stays as it was
        }
        let (row_id, run_id) = (row.id, self.run_id);
        let request_id = row.request_id.clone();
        // Write-ahead intent first, then the pace slot: the slot is taken right before the bytes
        // leave, so a slow commit cannot bunch requests up at the server.
        let started_at = self
            .journal
            .exec(move |tx| ops::mark_in_flight(tx, row_id, run_id, &request_id))
            .await?;
        let attempt = Started {
            request_id: row.request_id.clone(),
            at: started_at,
        };
        row.attempts += 1;
        row.tries += 1;
        self.pacer.acquire().await;
        let token = if self.stop.is_set() {
            None
        } else {
            self.token().await
        };
        let Some(token) = token else {
            // The intent is on disk but nothing was sent: back to pending, same request id.
            let end = AttemptEnd {
                outcome: "not_sent".into(),
                ..AttemptEnd::default()
            };
            let settle = Settle::Pending { not_before: None };
            let attempt = self.ended(attempt, end);
            self.settle(row, Some(attempt), settle).await?;
            return Ok(false);
        };
        let started = Instant::now();
        let outcome = self
            .pc
            .create_customer(&row.body, &row.request_id, &token)
            .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        // The request is over: recording its outcome need not keep another one from leaving.
        drop(slot);
        if !matches!(outcome, CreateOutcome::Unauthorized) {
            row.auth_retry = false;
        }
        self.conclude(row, attempt, latency_ms, outcome, &token)
            .await?;
        Ok(true)
    }

    async fn conclude(
        &self,
        row: &mut QueuedRow,
        attempt: Started,
        latency_ms: u64,
        outcome: CreateOutcome,
        token: &SecretString,
    ) -> Result<(), JournalError> {
        let end = |status: Option<u16>, code: Option<String>, outcome: &str| {
            self.ended(
                attempt.clone(),
                AttemptEnd {
                    http_status: status,
                    error_code: code,
                    latency_ms,
                    outcome: outcome.to_string(),
                },
            )
        };
        match outcome {
            CreateOutcome::Created(customer) => {
                let credentials = customer.user_credentials.map(|c| NewCredentials {
                    user_name: c.user_name,
                    password: c.password,
                });
                tracing::debug!(domain = %row.domain, row = row.sheet_row, "created");
                let settle = Settle::Created {
                    customer_id: customer.id,
                    commerce_id: customer.commerce_id,
                    credentials,
                };
                self.settle(row, Some(end(Some(201), None, "created")), settle)
                    .await
            }
            CreateOutcome::Throttled { retry_after } => {
                self.pacer.throttled(retry_after);
                self.progress.throttled.fetch_add(1, Ordering::Relaxed);
                let run_id = self.run_id;
                self.journal
                    .exec(move |tx| ops::count_throttled(tx, run_id))
                    .await?;
                let settle = Settle::RetryWait {
                    not_before: Utc::now() + retry_after,
                    code: Some("429".into()),
                    message: format!("throttled; retry after {} s", retry_after.as_secs()),
                    next_request_id: new_request_id(),
                };
                self.settle(row, Some(end(Some(429), None, "throttled")), settle)
                    .await
            }
            CreateOutcome::NotSent(message) => {
                tracing::warn!(domain = %row.domain, "not sent: {message}; retrying");
                let settle = Settle::RetryWait {
                    not_before: Utc::now() + self.backoff(row.attempts),
                    code: None,
                    message,
                    // Nothing reached the server: the same request id is still unused.
                    next_request_id: row.request_id.clone(),
                };
                self.settle(row, Some(end(None, None, "not_sent")), settle)
                    .await
            }
            CreateOutcome::Ambiguous {
                status,
                code,
                message,
            } => {
                tracing::warn!(domain = %row.domain, "outcome unknown ({message}); reconciling before any retry");
                let settle = Settle::InDoubt {
                    code: code.clone().or(status.map(|s| s.to_string())),
                    message,
                };
                self.settle(row, Some(end(status, code, "ambiguous")), settle)
                    .await
            }
            CreateOutcome::Unauthorized => {
                self.auth.invalidate(token).await;
                if row.auth_retry {
                    self.stop.stop(Ending::AuthStopped(
                        "Partner Center refused a freshly refreshed token (401)".into(),
                    ));
                }
                row.auth_retry = true;
                // A 401 was not processed: send again at once, with a new token and request id.
                let settle = Settle::RetryWait {
                    not_before: Utc::now(),
                    code: Some("401".into()),
                    message: "the access token was refused; refreshing it".into(),
                    next_request_id: new_request_id(),
                };
                self.settle(row, Some(end(Some(401), None, "unauthorized")), settle)
                    .await
            }
            CreateOutcome::Rejected {
                status,
                code,
                message,
            } => {
                let attempt = Some(end(Some(status), code.clone(), "rejected"));
                let code_is = |c: &str| code.as_deref() == Some(c);
                if code_is("900329") {
                    self.stop.stop(Ending::AuthStopped(format!(
                        "Partner Center wants an App+User token (403 / 900329): {message}"
                    )));
                    let settle = Settle::RetryWait {
                        not_before: Utc::now(),
                        code,
                        message,
                        next_request_id: new_request_id(),
                    };
                    return self.settle(row, attempt, settle).await;
                }
                if status == 403 && (code_is("600006") || code_is("1002") || code_is("900308")) {
                    let refusals = self.permission_refusals.fetch_add(1, Ordering::Relaxed) + 1;
                    if !self.any_created.load(Ordering::Relaxed)
                        && refusals >= u64::from(self.settings.permission_stop_after)
                    {
                        self.stop.stop(Ending::AuthStopped(format!(
                            "every create is refused for lack of permission (403 / {}): {message}",
                            code.as_deref().unwrap_or("")
                        )));
                    }
                }
                let taken = code_is("3000") && message.contains("hostname");
                if taken && row.ambiguous {
                    // Perhaps our own earlier attempt took it: look before concluding.
                    let settle = Settle::InDoubt { code, message };
                    return self.settle(row, attempt, settle).await;
                }
                tracing::info!(domain = %row.domain, row = row.sheet_row, "failed: {message}");
                self.settle(row, attempt, Settle::Failed { code, message })
                    .await
            }
        }
    }

    /// Resolves a row whose create had an unknown outcome. Returns false when the row stays in
    /// doubt (lookups kept failing, or the run stops).
    async fn reconcile(&self, row: &mut QueuedRow) -> Result<bool, JournalError> {
        let since = *row.in_doubt_since.get_or_insert_with(Utc::now);
        let mut failures = 0u32;
        loop {
            if self.stop.is_set() {
                return Ok(false);
            }
            let Some(token) = self.token().await else {
                return Ok(false);
            };
            let exists = self.lookup_domain(row, &token).await?;
            let verdict = match exists {
                Lookup::Found(false) => {
                    tracing::info!(domain = %row.domain, "reconciled: the create never happened; sending again");
                    return self
                        .settle(row, None, Settle::Pending { not_before: None })
                        .await
                        .map(|()| true);
                }
                Lookup::Found(true) => self.lookup_customer(row, &token).await?,
                other => other.map_found(|_| None),
            };
            match verdict {
                Lookup::Found(Some((customer_id, commerce_id))) => {
                    tracing::warn!(domain = %row.domain, "reconciled: created earlier; its password never reached us");
                    let settle = Settle::Created {
                        customer_id,
                        commerce_id,
                        credentials: None,
                    };
                    return self.settle(row, None, settle).await.map(|()| true);
                }
                Lookup::Found(None) => {
                    let waited = (Utc::now() - since).to_std().unwrap_or_default();
                    if waited >= self.settings.reconcile_patience {
                        let message =
                            "the domain is taken, and not by one of our customers".to_string();
                        let settle = Settle::Failed {
                            code: Some("domain_taken".into()),
                            message,
                        };
                        return self.settle(row, None, settle).await.map(|()| true);
                    }
                    // A new customer may stay invisible for a while: look again later.
                    if !self.stop.sleep(self.settings.reconcile_interval).await {
                        return Ok(false);
                    }
                }
                Lookup::Throttled(retry_after) => {
                    self.pacer.throttled(retry_after);
                    if !self.stop.sleep(retry_after).await {
                        return Ok(false);
                    }
                }
                Lookup::Unauthorized => self.auth.invalidate(&token).await,
                Lookup::Failed(message) => {
                    failures += 1;
                    tracing::warn!(domain = %row.domain, "lookup failed: {message}");
                    if failures >= self.settings.max_attempts {
                        return Ok(false);
                    }
                    if !self.stop.sleep(self.backoff(failures)).await {
                        return Ok(false);
                    }
                }
            }
        }
    }

    async fn lookup_domain(
        &self,
        row: &QueuedRow,
        token: &SecretString,
    ) -> Result<Lookup<bool>, JournalError> {
        let request_id = new_request_id();
        let attempt_id = self
            .begin_lookup(row, AttemptKind::LookupDomain, &request_id)
            .await?;
        let started = Instant::now();
        let found = self.pc.domain_exists(&row.domain, &request_id, token).await;
        self.end_lookup(attempt_id, started, &found).await?;
        Ok(found)
    }

    async fn lookup_customer(
        &self,
        row: &QueuedRow,
        token: &SecretString,
    ) -> Result<Lookup<Option<(String, Option<String>)>>, JournalError> {
        let request_id = new_request_id();
        let attempt_id = self
            .begin_lookup(row, AttemptKind::LookupCustomer, &request_id)
            .await?;
        self.pacer.acquire().await;
        let started = Instant::now();
        let found = self
            .pc
            .find_customer(&row.domain, &request_id, token)
            .await
            .map_found(|c| c.map(|c| (c.id, c.commerce_id)));
        self.end_lookup(attempt_id, started, &found).await?;
        Ok(found)
    }

    async fn begin_lookup(
        &self,
        row: &QueuedRow,
        kind: AttemptKind,
        request_id: &str,
    ) -> Result<i64, JournalError> {
        let (row_id, run_id) = (row.id, self.run_id);
        let request_id = request_id.to_string();
        let correlation = self.pc.correlation_id().to_string();
        self.journal
            .exec(move |tx| ops::begin_lookup(tx, row_id, run_id, kind, &request_id, &correlation))
            .await
    }

    async fn end_lookup<T>(
        &self,
        attempt_id: i64,
        started: Instant,
        found: &Lookup<T>,
    ) -> Result<(), JournalError> {
        let (status, outcome) = match found {
            Lookup::Found(_) => (Some(200), "found"),
            Lookup::Throttled(_) => (Some(429), "throttled"),
            Lookup::Unauthorized => (Some(401), "unauthorized"),
            Lookup::Failed(_) => (None, "failed"),
        };
        let end = AttemptEnd {
            http_status: status,
            error_code: None,
            latency_ms: started.elapsed().as_millis() as u64,
            outcome: outcome.into(),
        };
        if matches!(found, Lookup::Throttled(_)) {
            let run_id = self.run_id;
            self.journal
                .exec(move |tx| ops::count_throttled(tx, run_id))
                .await?;
        }
        self.journal
            .exec(move |tx| ops::finish_attempt(tx, attempt_id, &end))
            .await
    }
}

/// A create attempt whose intent is committed: its request id and when it started.
#[derive(Clone)]
struct Started {
    request_id: String,
    at: String,
}

impl<T> Lookup<T> {
    fn map_found<U>(self, f: impl FnOnce(T) -> U) -> Lookup<U> {
        match self {
            Lookup::Found(t) => Lookup::Found(f(t)),
            Lookup::Throttled(d) => Lookup::Throttled(d),
            Lookup::Unauthorized => Lookup::Unauthorized,
            Lookup::Failed(m) => Lookup::Failed(m),
        }
    }
}

fn flatten(
    done: Result<Result<(), JournalError>, tokio::task::JoinError>,
) -> Result<(), JournalError> {
    match done {
        Ok(result) => result,
        Err(join) => Err(JournalError::WriterGone(format!(
            "a row task failed: {join}"
        ))),
    }
}
