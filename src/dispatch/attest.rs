//! The attestation of the Microsoft Customer Agreement for a created customer: the step after the
//! create (state machine in [`crate::journal::steps`]).
//!
//! It obeys the create's rules: a place among the requests out, a pace slot (the call is under
//! `/v1/customers` and draws from the one budget), the write-ahead intent committed before the
//! request leaves, the outcome judged by [`verdict::judge`]. An attestation whose outcome is
//! unknown is never sent again before the customer's agreements were read
//! (`GET /v1/customers/{id}/agreements`): found → done; not found → sent again with the same
//! request id. A customer that already existed may have been attested by hand: its agreements are
//! read before the first attestation too. So each customer is attested exactly once.

use std::time::{Duration, Instant};

use super::Dispatcher;
use super::attempt::Told;
use super::verdict::{self, History, RequestId, Verdict, Wait};
use crate::journal::JournalError;
use crate::journal::import::new_request_id;
use crate::journal::ops::{self, AttemptKind, CreateAttempt, QueuedRow};
use crate::journal::steps::{self, QueuedStep, StepSettle, StepState};
use crate::model::{Agreement, AgreementRequest, CustomerRequest};
use crate::partner_center::{CreateOutcome, Lookup};

/// The agreement type Partner Center names the Microsoft Customer Agreement by.
pub const MCA: &str = "MicrosoftCustomerAgreement";

/// Whether a customer's agreements hold its acceptance of the Microsoft Customer Agreement.
pub fn attested(agreements: &[Agreement], template_id: &str) -> bool {
    agreements.iter().any(|a| {
        a.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(MCA))
            || a.template_id
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(template_id))
    })
}

/// What an attestation's outcome means for its step (the create's verdict, read for a step: there
/// is no domain to look up, so "taken" is a refusal like any other).
fn step_settle(verdict: Verdict, message: String, step: &QueuedStep) -> (StepSettle, Wait) {
    match verdict {
        Verdict::Created => (StepSettle::Done, Wait::Now),
        Verdict::Failed | Verdict::LookUp => (StepSettle::Failed { message }, Wait::Now),
        Verdict::InDoubt => (StepSettle::InDoubt { message }, Wait::Now),
        Verdict::Retry { wait, request_id } => {
            let request_id = match request_id {
                RequestId::Same => step.request_id.clone(),
                RequestId::New => new_request_id(),
            };
            let settle = StepSettle::Pending {
                request_id,
                message: Some(message),
            };
            (settle, wait)
        }
    }
}

impl Dispatcher {
    /// Works a created row's attestation one stage further. Returns false when it is left as it
    /// is for a later run (or finished).
    pub(super) async fn attest(&self, row: &mut QueuedRow) -> Result<bool, JournalError> {
        let Some(template) = self.attest_template.get().cloned() else {
            return Ok(false);
        };
        let Some(step) = row.attest.clone() else {
            return Ok(false);
        };
        match step.state {
            StepState::Done | StepState::Failed => Ok(false),
            StepState::InDoubt | StepState::InFlight => self.read_agreements(row, &template).await,
            StepState::Pending if row.already_existed && step.attempts == 0 && !step.looked => {
                self.read_agreements(row, &template).await
            }
            StepState::Pending => self.send_attestation(row, &template).await,
        }
    }

    async fn send_attestation(
        &self,
        row: &mut QueuedRow,
        template: &str,
    ) -> Result<bool, JournalError> {
        let step = row.attest.clone().expect("checked by attest");
        if step.tries >= self.settings.max_attempts {
            tracing::warn!(domain = %row.domain, row = row.sheet_row,
                "the agreement was not attested after {} attempts in this run; left for `resume`",
                step.tries);
            return Ok(false);
        }
        let (Some(customer_id), Ok(customer)) = (
            row.customer_id.clone(),
            serde_json::from_str::<CustomerRequest>(&row.body),
        ) else {
            let message = "the journal holds no customer id or no request for this row".into();
            return self
                .settle_step(row, None, StepSettle::Failed { message })
                .await
                .map(|()| true);
        };
        let agreed = if step.agreed.is_empty() {
            chrono::Utc::now().format("%Y-%m-%d").to_string()
        } else {
            step.agreed.clone()
        };
        let agreement = AgreementRequest::mca(&customer, template, &agreed);
        let body = serde_json::to_string(&agreement).expect("an agreement serializes");
        // Until the intent is committed, a stop leaves the step exactly as it was.
        let Some((place, token)) = self.clear_to_send().await else {
            return Ok(false);
        };
        let (row_id, run_id) = (row.id, self.run_id);
        let (request_id, sent_body) = (step.request_id.clone(), body.clone());
        let started = self
            .journal
            .exec(move |tx| steps::mark_in_flight(tx, row_id, run_id, &request_id, &sent_body))
            .await?;
        if let Some(step) = row.attest.as_mut() {
            step.state = StepState::InFlight;
            step.attempts += 1;
            step.tries += 1;
        }
        let sent = Instant::now();
        let outcome = self
            .pc
            .attest_agreement(&customer_id, &body, &step.request_id, &token)
            .await;
        let latency_ms = sent.elapsed().as_millis() as u64;
        // An attestation's latency says nothing about a create's.
        drop(place);
        let history = History {
            ambiguous: false,
            after_refresh: row.auth_retry,
        };
        let (verdict, effect) = verdict::judge(&outcome, history);
        row.auth_retry = matches!(outcome, CreateOutcome::Unauthorized);
        let told = Told::of(&outcome);
        self.take_effect(effect, &token).await?;
        let attempt = CreateAttempt {
            request_id: step.request_id.clone(),
            correlation_id: self.pc.correlation_id().to_string(),
            started,
            end: told.end(latency_ms),
        };
        let message = told.coded_message();
        let (settle, wait) = step_settle(verdict, message, &step);
        let wait = match wait {
            Wait::Now => Duration::ZERO,
            Wait::Backoff => self.backoff(step.attempts + 1),
            Wait::For(duration) => duration,
        };
        match &settle {
            StepSettle::Done => {
                tracing::debug!(domain = %row.domain, "the Microsoft Customer Agreement is attested")
            }
            StepSettle::Failed { message } => {
                tracing::info!(domain = %row.domain, row = row.sheet_row, "attestation refused: {message}")
            }
            StepSettle::InDoubt { message } => {
                tracing::warn!(domain = %row.domain, "attestation outcome unknown ({message}); reading the customer's agreements before any retry")
            }
            StepSettle::Pending { .. } => {}
        }
        self.settle_step(row, Some(attempt), settle).await?;
        if !wait.is_zero() && !self.stop.sleep(wait).await {
            return Ok(false);
        }
        Ok(true)
    }

    /// Reads the customer's agreements: attested → done; not → pending, to be sent (again, with
    /// the same request id). Returns false when they could not be read (left for a later run).
    async fn read_agreements(
        &self,
        row: &mut QueuedRow,
        template: &str,
    ) -> Result<bool, JournalError> {
        let Some(customer_id) = row.customer_id.clone() else {
            return Ok(false);
        };
        let mut failures = 0u32;
        loop {
            if self.stop.is_set() {
                return Ok(false);
            }
            let Some(token) = self.token().await else {
                return Ok(false);
            };
            let found = self
                .lookup(row.id, AttemptKind::LookupAgreements, true, |request_id| {
                    let (customer_id, token) = (customer_id.clone(), token.clone());
                    async move { self.pc.agreements(&customer_id, &request_id, &token).await }
                })
                .await?;
            let Some(found) = found else {
                return Ok(false);
            };
            match found {
                Lookup::Found(agreements) => {
                    let settle = if attested(&agreements, template) {
                        tracing::info!(domain = %row.domain, "the customer's agreements hold the Microsoft Customer Agreement: attested");
                        StepSettle::Done
                    } else {
                        let step = row.attest.as_ref().expect("checked by attest");
                        StepSettle::Pending {
                            request_id: step.request_id.clone(),
                            message: None,
                        }
                    };
                    return self.settle_step(row, None, settle).await.map(|()| true);
                }
                undecided => {
                    let what = "the customer's agreements could not be read";
                    if !self
                        .wait_after_lookup(undecided, &token, &mut failures, &row.domain, what)
                        .await
                    {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Records where the step goes (with the attempt that sent it there, if any) and follows it.
    async fn settle_step(
        &self,
        row: &mut QueuedRow,
        attempt: Option<CreateAttempt>,
        settle: StepSettle,
    ) -> Result<(), JournalError> {
        use std::sync::atomic::Ordering::Relaxed;
        let (row_id, run_id) = (row.id, self.run_id);
        let recorded = settle.clone();
        self.journal
            .exec(move |tx| {
                if let Some(attempt) = &attempt {
                    ops::record_attempt(tx, row_id, run_id, AttemptKind::AttestMca, attempt)?;
                }
                steps::settle(tx, row_id, &recorded)
            })
            .await?;
        let Some(step) = row.attest.as_mut() else {
            return Ok(());
        };
        match settle {
            StepSettle::Done => {
                step.state = StepState::Done;
                self.progress.attested.fetch_add(1, Relaxed);
            }
            StepSettle::Failed { .. } => step.state = StepState::Failed,
            StepSettle::InDoubt { .. } => step.state = StepState::InDoubt,
            StepSettle::Pending {
                request_id,
                message,
            } => {
                step.state = StepState::Pending;
                step.request_id = request_id;
                // Pending without a message: the agreements were read and hold none.
                step.looked |= message.is_none();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement(template: Option<&str>, kind: Option<&str>) -> Agreement {
        Agreement {
            template_id: template.map(Into::into),
            kind: kind.map(Into::into),
        }
    }

    fn step() -> QueuedStep {
        QueuedStep {
            state: StepState::InFlight,
            request_id: "r-1".into(),
            attempts: 1,
            agreed: "2026-11-20".into(),
            tries: 1,
            looked: false,
        }
    }

    #[test]
    fn an_agreement_of_the_type_or_the_template_counts() {
        assert!(attested(&[agreement(None, Some(MCA))], "t-1"));
        assert!(attested(&[agreement(Some("T-1"), None)], "t-1"));
        assert!(!attested(&[agreement(Some("t-2"), Some("Other"))], "t-1"));
        assert!(!attested(&[], "t-1"));
    }

    #[test]
    fn every_verdict_has_its_step_state() {
        let s = step();
        let retry = |wait, request_id| Verdict::Retry { wait, request_id };
        let table = [
            (Verdict::Created, StepSettle::Done, Wait::Now),
            (
                Verdict::Failed,
                StepSettle::Failed {
                    message: "m".into(),
                },
                Wait::Now,
            ),
            (
                Verdict::LookUp,
                StepSettle::Failed {
                    message: "m".into(),
                },
                Wait::Now,
            ),
            (
                Verdict::InDoubt,
                StepSettle::InDoubt {
                    message: "m".into(),
                },
                Wait::Now,
            ),
            (
                retry(Wait::For(Duration::from_secs(3)), RequestId::Same),
                StepSettle::Pending {
                    request_id: "r-1".into(),
                    message: Some("m".into()),
                },
                Wait::For(Duration::from_secs(3)),
            ),
            (
                retry(Wait::Backoff, RequestId::Same),
                StepSettle::Pending {
                    request_id: "r-1".into(),
                    message: Some("m".into()),
                },
                Wait::Backoff,
            ),
        ];
        for (verdict, settle, wait) in table {
            assert_eq!(
                step_settle(verdict.clone(), "m".into(), &s),
                (settle, wait),
                "{verdict:?}"
            );
        }
        // After an answer, a new request id.
        let (settle, _) = step_settle(retry(Wait::Now, RequestId::New), "m".into(), &s);
        assert!(matches!(settle, StepSettle::Pending { request_id, .. } if request_id != "r-1"));
    }
}
