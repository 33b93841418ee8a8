//! Credential recovery (`recover-credentials`): for each created row whose one-time password never
//! reached the journal, find the customer's admin and reset its password (state machine and
//! invariants in [`crate::journal::resets`]).
//!
//! The rules of every request hold: a place among the requests out, a pace slot (both calls are
//! under `/v1/customers` and draw from the one budget), the write-ahead intent — here with the new
//! password sealed in it — committed before the reset leaves, the outcome judged by
//! [`verdict::judge`]. The admin is the user Partner Center made with the customer,
//! `admin@<domain>`; when no such user is listed, nothing is reset (resetting another user's
//! password would lock a person out): the row fails saying so.

use secrecy::{ExposeSecret, SecretString};

use super::Dispatcher;
use super::attempt::Told;
use super::verdict::{self, History, Verdict, Wait};
use crate::journal::JournalError;
use crate::journal::import::new_request_id;
use crate::journal::ops::{self, AttemptKind, CreateAttempt};
use crate::journal::resets::{self, LostRow, ResetSettle};
use crate::model::{CustomerUser, PasswordReset};
use crate::partner_center::{CreateOutcome, Lookup};

/// The admin among a customer's users: `admin@<domain>`, exactly.
pub fn admin_of<'u>(users: &'u [CustomerUser], domain: &str) -> Result<&'u CustomerUser, String> {
    let wanted = format!("admin@{domain}");
    users
        .iter()
        .find(|u| {
            u.user_principal_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&wanted))
        })
        .ok_or_else(|| {
            format!(
                "no user `{wanted}` among the customer's {} user(s): nothing was reset (reset the admin's password in Partner Center)",
                users.len()
            )
        })
}

/// What a reset's outcome means for its step: the create's verdict, read for a reset.
fn reset_settle(verdict: &Verdict, message: String) -> ResetSettle {
    match verdict {
        Verdict::Created => ResetSettle::Done,
        Verdict::Failed | Verdict::LookUp => ResetSettle::Failed { message },
        Verdict::InDoubt => ResetSettle::InDoubt { message },
        Verdict::Retry { .. } => ResetSettle::Pending { message },
    }
}

/// The reset being tried in this run: its password and request id, kept to be sent again as they
/// are after an unknown outcome.
struct Candidate {
    password: SecretString,
    request_id: String,
}

impl Dispatcher {
    /// Resets the password of one row without credentials, until done, failed or left.
    pub(super) async fn recover(&self, mut row: LostRow) -> Result<(), JournalError> {
        let mut candidate: Option<Candidate> = None;
        let mut tries = 0u32;
        let mut auth_retry = false;
        loop {
            if self.stop.is_set() {
                return Ok(());
            }
            if tries >= self.settings.max_attempts {
                tracing::warn!(domain = %row.domain, row = row.sheet_row,
                    "the password was not reset after {tries} attempts; left for the next `recover-credentials`");
                return Ok(());
            }
            let user_id = match row.user_id.clone() {
                Some(user_id) => user_id,
                None => match self.find_admin(&row).await? {
                    Some(user_id) => {
                        row.user_id = Some(user_id.clone());
                        user_id
                    }
                    None => return Ok(()),
                },
            };
            let next = candidate.take().unwrap_or_else(|| Candidate {
                password: crate::credentials::new_admin_password(),
                request_id: new_request_id(),
            });
            let body = serde_json::to_string(&PasswordReset::new(next.password.expose_secret()))
                .expect("a reset serializes");
            // Until the intent is committed, a stop leaves the row exactly as it was.
            let Some((place, token)) = self.clear_to_send().await else {
                return Ok(());
            };
            let (row_id, run_id) = (row.id, self.run_id);
            let (request_id, password) = (next.request_id.clone(), next.password.clone());
            let user_name = format!("admin@{}", row.domain);
            let started = self
                .journal
                .exec(move |tx| {
                    resets::mark_in_flight(tx, row_id, run_id, &request_id, user_name, password)
                })
                .await?;
            tries += 1;
            let sent = std::time::Instant::now();
            let outcome = self
                .pc
                .reset_password(&row.customer_id, &user_id, &body, &next.request_id, &token)
                .await;
            let latency_ms = sent.elapsed().as_millis() as u64;
            drop(place); // a reset's latency says nothing about a create's
            let (verdict, effect) = verdict::judge(
                &outcome,
                History {
                    ambiguous: false,
                    after_refresh: auth_retry,
                },
            );
            auth_retry = matches!(outcome, CreateOutcome::Unauthorized);
            let told = Told::of(&outcome);
            self.take_effect(effect, &token).await?;
            let attempt = CreateAttempt {
                request_id: next.request_id.clone(),
                correlation_id: self.pc.correlation_id().to_string(),
                started,
                end: told.end(latency_ms),
            };
            let message = told.coded_message();
            let settle = reset_settle(&verdict, message);
            let recorded = settle.clone();
            self.journal
                .exec(move |tx| {
                    ops::record_attempt(tx, row_id, run_id, AttemptKind::ResetPassword, &attempt)?;
                    resets::settle(tx, row_id, &recorded)
                })
                .await?;
            match (settle, verdict) {
                (ResetSettle::Done, _) => {
                    tracing::info!(domain = %row.domain, "the admin's password is reset and sealed");
                    self.succeeded();
                    return Ok(());
                }
                (ResetSettle::Failed { message }, _) => {
                    tracing::warn!(domain = %row.domain, row = row.sheet_row, "the password reset was refused: {message}");
                    return Ok(());
                }
                (ResetSettle::InDoubt { message }, _) => {
                    tracing::warn!(domain = %row.domain, "the reset's outcome is unknown ({message}); sending the same password again");
                    candidate = Some(next);
                }
                (ResetSettle::Pending { .. }, Verdict::Retry { wait, .. }) => {
                    let wait = match wait {
                        Wait::Now => std::time::Duration::ZERO,
                        Wait::Backoff => self.backoff(tries),
                        Wait::For(duration) => duration,
                    };
                    // The same password; a new request id once the server answered.
                    candidate = Some(Candidate {
                        request_id: if matches!(outcome, CreateOutcome::NotSent(_)) {
                            next.request_id
                        } else {
                            new_request_id()
                        },
                        password: next.password,
                    });
                    if !wait.is_zero() && !self.stop.sleep(wait).await {
                        return Ok(());
                    }
                }
                (ResetSettle::Pending { .. }, _) => unreachable!("only a retry is pending"),
            }
        }
    }

    /// The admin's user id, journaled; `None` when the users could not be listed (left for a
    /// later run), or the admin is not among them (the row's reset fails saying so).
    async fn find_admin(&self, row: &LostRow) -> Result<Option<String>, JournalError> {
        let mut failures = 0u32;
        loop {
            let Some(token) = self.token().await else {
                return Ok(None);
            };
            let listed = self
                .lookup(row.id, AttemptKind::ListUsers, true, |request_id| {
                    let token = token.clone();
                    async move { self.pc.users(&row.customer_id, &request_id, &token).await }
                })
                .await?;
            let Some(listed) = listed else {
                return Ok(None);
            };
            match listed {
                Lookup::Found(users) => {
                    let row_id = row.id;
                    return match admin_of(&users, &row.domain) {
                        Ok(admin) => {
                            let user_id = admin.id.clone();
                            let planned = user_id.clone();
                            self.journal
                                .exec(move |tx| resets::plan(tx, row_id, &planned))
                                .await?;
                            Ok(Some(user_id))
                        }
                        Err(message) => {
                            tracing::warn!(domain = %row.domain, row = row.sheet_row, "{message}");
                            self.journal
                                .exec(move |tx| resets::fail_unplanned(tx, row_id, &message))
                                .await?;
                            Ok(None)
                        }
                    };
                }
                Lookup::Throttled(retry_after) => {
                    self.pacer.throttled(retry_after);
                    if !self.stop.sleep(retry_after).await {
                        return Ok(None);
                    }
                }
                Lookup::Unauthorized => self.auth.invalidate(&token).await,
                Lookup::Failed(message) => {
                    failures += 1;
                    tracing::warn!(domain = %row.domain, "the customer's users could not be listed: {message}");
                    if failures >= self.settings.max_attempts
                        || !self.stop.sleep(self.backoff(failures)).await
                    {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: Option<&str>) -> CustomerUser {
        CustomerUser {
            id: id.into(),
            user_principal_name: name.map(Into::into),
        }
    }

    #[test]
    fn the_admin_is_admin_at_the_domain_and_nobody_else() {
        let users = [
            user("u-1", Some("gena@contoso.onmicrosoft.com")),
            user("u-2", Some("Admin@Contoso.onmicrosoft.com")),
            user("u-3", None),
        ];
        assert_eq!(
            admin_of(&users, "contoso.onmicrosoft.com").unwrap().id,
            "u-2"
        );
        assert_eq!(
            admin_of(&users[..1], "contoso.onmicrosoft.com").unwrap_err(),
            "no user `admin@contoso.onmicrosoft.com` among the customer's 1 user(s): nothing was reset (reset the admin's password in Partner Center)"
        );
        assert!(admin_of(&users, "fabrikam.onmicrosoft.com").is_err());
    }

    #[test]
    fn every_verdict_has_its_reset_state() {
        let m = || "m".to_string();
        let table = [
            (Verdict::Created, ResetSettle::Done),
            (Verdict::Failed, ResetSettle::Failed { message: m() }),
            (Verdict::LookUp, ResetSettle::Failed { message: m() }),
            (Verdict::InDoubt, ResetSettle::InDoubt { message: m() }),
            (
                Verdict::Retry {
                    wait: Wait::Now,
                    request_id: verdict::RequestId::New,
                },
                ResetSettle::Pending { message: m() },
            ),
        ];
        for (verdict, settle) in table {
            assert_eq!(reset_settle(&verdict, m()), settle, "{verdict:?}");
        }
    }
}
