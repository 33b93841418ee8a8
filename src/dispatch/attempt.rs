//! One create attempt, from a place among the requests out to the settled state.
//!
//! The order is the in-flight rule: a place among the requests out, a token, a pace slot — each
//! wait raced against the stop, and abandoned with nothing written — then the write-ahead intent
//! (committed), then the request. What its outcome means is [`verdict::judge`]'s to say; this file
//! carries the verdict out: the row's next state and the attempt in one transaction, and the
//! effect on the run (pause, fresh token, stop).

use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::Utc;
use secrecy::SecretString;

use super::verdict::{self, Effect, History, RequestId, Verdict, Wait};
use super::{Dispatcher, Ending};
use crate::journal::JournalError;
use crate::journal::import::new_request_id;
use crate::journal::ops::{self, AttemptEnd, CreateAttempt, NewCredentials, QueuedRow, Settle};
use crate::partner_center::{CreateOutcome, Rejection};

impl Dispatcher {
    /// One create attempt. Returns false when the row is left as it is for a later run.
    ///
    /// A row that used up `--max-attempts` in this run without a verdict (never sent, throttled,
    /// outcome unknown then found free) stays pending rather than failed: `failed` means Partner
    /// Center refused it, and failed rows are not retried unless their content changes. `resume`
    /// gives it a fresh set of attempts.
    pub(super) async fn attempt(&self, row: &mut QueuedRow) -> Result<bool, JournalError> {
        if row.tries >= self.settings.max_attempts {
            tracing::warn!(
                domain = %row.domain,
                row = row.sheet_row,
                "no verdict after {} attempts in this run; left for `resume`",
                row.tries
            );
            return Ok(false);
        }
        // Until the intent is committed, a stop leaves the row exactly as it was.
        let Some((mut place, token)) = self.clear_to_send().await else {
            return Ok(false);
        };
        // The request is about to leave: its intent goes to disk first.
        let (row_id, run_id) = (row.id, self.run_id);
        let request_id = row.request_id.clone();
        let started_at = self
            .journal
            .exec(move |tx| ops::mark_in_flight(tx, row_id, run_id, &request_id))
            .await?;
        row.attempts += 1;
        row.tries += 1;
        let sent = Instant::now();
        place.sent(sent);
        let outcome = self
            .pc
            .create_customer(&row.body, &row.request_id, &token)
            .await;
        let answered = Instant::now();
        // The request is over: recording its outcome need not keep another one from leaving.
        place.finish(answered);
        let attempt = CreateAttempt {
            request_id: row.request_id.clone(),
            correlation_id: self.pc.correlation_id().to_string(),
            started: started_at,
            end: AttemptEnd::default(),
        };
        let latency_ms = answered.duration_since(sent).as_millis() as u64;
        self.conclude(row, attempt, latency_ms, outcome, &token)
            .await?;
        Ok(true)
    }

    /// Carries out the verdict on an outcome: the run's part first (a 429 pauses everyone before
    /// this row's retry is even scheduled), then the row's.
    async fn conclude(
        &self,
        row: &mut QueuedRow,
        mut attempt: CreateAttempt,
        latency_ms: u64,
        outcome: CreateOutcome,
        token: &SecretString,
    ) -> Result<(), JournalError> {
        let history = History {
            ambiguous: row.ambiguous,
            after_refresh: row.auth_retry,
        };
        let (verdict, effect) = verdict::judge(&outcome, history);
        row.auth_retry = matches!(outcome, CreateOutcome::Unauthorized);
        let told = Told::of(&outcome);
        attempt.end = told.end(latency_ms);
        self.take_effect(effect, token).await?;
        let code = told.code.or(told.status.map(|s| s.to_string()));
        let message = told.message;
        // A refusal in a language we do not read: if the lookup finds the domain free, it was the
        // data (reconcile fails the row with these words instead of sending it again).
        let unread = matches!(
            outcome,
            CreateOutcome::Rejected {
                kind: Rejection::TakenOrInvalid,
                ..
            }
        );
        row.refused = unread.then(|| (code.clone(), message.clone()));
        let settle = match verdict {
            Verdict::Created => {
                let CreateOutcome::Created(customer) = outcome else {
                    unreachable!("only a 2xx is judged created")
                };
                tracing::debug!(domain = %row.domain, row = row.sheet_row, "created");
                Settle::Created {
                    customer_id: customer.id,
                    commerce_id: customer.commerce_id,
                    credentials: customer.user_credentials.map(|c| NewCredentials {
                        user_name: c.user_name,
                        password: c.password,
                    }),
                    already_existed: false,
                }
            }
            Verdict::Failed => {
                tracing::info!(domain = %row.domain, row = row.sheet_row, "failed: {message}");
                Settle::Failed { code, message }
            }
            Verdict::InDoubt => {
                tracing::warn!(domain = %row.domain, "outcome unknown ({message}); reconciling before any retry");
                Settle::InDoubt { code, message }
            }
            Verdict::LookUp => {
                tracing::info!(domain = %row.domain, "the domain may be taken; looking it up among the partner's customers");
                Settle::LookUp { code, message }
            }
            Verdict::Retry { wait, request_id } => {
                if matches!(outcome, CreateOutcome::NotSent(_)) {
                    tracing::warn!(domain = %row.domain, "not sent: {message}; retrying");
                }
                let wait = match wait {
                    Wait::Now => std::time::Duration::ZERO,
                    Wait::Backoff => self.backoff(row.attempts),
                    Wait::For(duration) => duration,
                };
                Settle::RetryWait {
                    not_before: Utc::now() + wait,
                    code,
                    message,
                    next_request_id: match request_id {
                        RequestId::Same => row.request_id.clone(),
                        RequestId::New => new_request_id(),
                    },
                }
            }
        };
        self.settle(row, Some(attempt), settle).await
    }

    pub(super) async fn take_effect(
        &self,
        effect: Effect,
        token: &SecretString,
    ) -> Result<(), JournalError> {
        match effect {
            Effect::None => {}
            Effect::Throttle(retry_after) => {
                self.pacer.throttled(retry_after);
                self.progress.throttled.fetch_add(1, Ordering::Relaxed);
                let run_id = self.run_id;
                self.journal
                    .exec(move |tx| ops::count_throttled(tx, run_id))
                    .await?;
            }
            Effect::RefreshToken => self.auth.invalidate(token).await,
            Effect::StopRun(why) => self.stop.stop(Ending::AuthStopped(why, None)),
            Effect::PermissionRefused(detail) => {
                let refusals = self.permission_refusals.fetch_add(1, Ordering::Relaxed) + 1;
                if !self.any_created.load(Ordering::Relaxed)
                    && refusals >= u64::from(self.settings.permission_stop_after)
                {
                    self.stop.stop(Ending::AuthStopped(
                        format!("every create is refused for lack of permission ({detail})"),
                        Some(
                            "the account needs the Admin agent role of the indirect provider"
                                .into(),
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What an outcome says, as the journal records it.
pub(super) struct Told {
    pub status: Option<u16>,
    /// Partner Center's error code.
    pub code: Option<String>,
    pub message: String,
    /// The attempt's outcome column.
    pub name: &'static str,
}

impl Told {
    /// The attempt's end, as the journal records it.
    pub(super) fn end(&self, latency_ms: u64) -> AttemptEnd {
        AttemptEnd {
            http_status: self.status,
            error_code: self.code.clone(),
            latency_ms,
            outcome: self.name.to_string(),
        }
    }

    /// The message with Partner Center's code in front, for a step's state.
    pub(super) fn coded_message(&self) -> String {
        match &self.code {
            Some(code) => format!("{code}: {}", self.message),
            None => self.message.clone(),
        }
    }

    pub(super) fn of<T>(outcome: &CreateOutcome<T>) -> Told {
        let told = |status, code: &Option<String>, message: String, name| Told {
            status,
            code: code.clone(),
            message,
            name,
        };
        match outcome {
            CreateOutcome::Created(_) => told(Some(201), &None, String::new(), "created"),
            CreateOutcome::Throttled { retry_after } => told(
                Some(429),
                &None,
                format!("throttled; retry after {} s", retry_after.as_secs()),
                "throttled",
            ),
            CreateOutcome::NotSent(message) => told(None, &None, message.clone(), "not_sent"),
            CreateOutcome::Ambiguous {
                status,
                code,
                message,
            } => told(*status, code, message.clone(), "ambiguous"),
            CreateOutcome::Unauthorized => told(
                Some(401),
                &None,
                "the access token was refused; refreshing it".into(),
                "unauthorized",
            ),
            CreateOutcome::Rejected {
                status,
                code,
                message,
                ..
            } => told(Some(*status), code, message.clone(), "rejected"),
        }
    }
}
