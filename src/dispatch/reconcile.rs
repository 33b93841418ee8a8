//! Resolving a create whose outcome is unknown, or whose domain is taken, before anything is sent
//! again.
//!
//! `HEAD /v1/domains/{domain}` says whether the domain exists anywhere; if it does, the partner's
//! customer list (`starts_with` filter, exact match here) says whether it is ours. Domain free →
//! the create never happened: `pending` again with the same request id. One of ours, with this
//! row's reseller → after an ambiguous attempt of this row, it was our create and its password
//! never reached us (`created`, credentials lost); otherwise the customer already existed (a sheet
//! re-run under a new journal, a customer created by hand): adopted as `created` with
//! `already_existed`. Ours but another reseller's → `failed`, saying whose. Taken by someone else —
//! after `--reconcile-patience`, since a new customer may stay invisible for a while — `failed`.
//!
//! Each lookup is a request like any other: a place among the requests out, a pace slot when it
//! is under `/v1/customers`, its attempt journaled before it leaves; a stop during the waits
//! leaves the row in doubt with nothing sent.

use std::future::Future;
use std::time::Instant;

use chrono::Utc;
use secrecy::SecretString;

use super::Dispatcher;
use crate::journal::JournalError;
use crate::journal::import::new_request_id;
use crate::journal::ops::{self, AttemptEnd, AttemptKind, QueuedRow, Settle};
use crate::model::Customer;
use crate::partner_center::Lookup;

/// What becomes of a row whose domain is one of the partner's customers.
fn adopt(row: &QueuedRow, customer: Customer) -> Settle {
    let same_reseller = match (&row.reseller, &customer.associated_partner_id) {
        (Some(ours), Some(theirs)) => ours.eq_ignore_ascii_case(theirs),
        (None, None) => true,
        _ => false,
    };
    if !same_reseller {
        let whose = customer.associated_partner_id.map_or_else(
            || "as a direct customer".to_string(),
            |r| format!("of reseller `{r}`"),
        );
        return Settle::Failed {
            code: Some("domain_taken".into()),
            message: format!(
                "`{}` is already a customer of this partner, {whose}, not of this row's reseller",
                row.domain
            ),
        };
    }
    if row.ambiguous {
        tracing::warn!(domain = %row.domain, "reconciled: created earlier; its password never reached us");
    } else {
        tracing::info!(domain = %row.domain, "already a customer of this partner: adopted");
    }
    Settle::Created {
        customer_id: customer.id,
        commerce_id: customer.commerce_id,
        credentials: None,
        already_existed: !row.ambiguous,
    }
}

impl Dispatcher {
    /// Resolves a row whose create had an unknown outcome. Returns false when the row stays in
    /// doubt (lookups kept failing, or the run stops).
    pub(super) async fn reconcile(&self, row: &mut QueuedRow) -> Result<bool, JournalError> {
        let since = *row.in_doubt_since.get_or_insert_with(Utc::now);
        let mut failures = 0u32;
        loop {
            if self.stop.is_set() {
                return Ok(false);
            }
            let Some(token) = self.token().await else {
                return Ok(false);
            };
            let Some(exists) = self.lookup_domain(row, &token).await? else {
                return Ok(false);
            };
            let verdict = match exists {
                Lookup::Found(false) if row.refused.is_some() => {
                    // Refused in a language we do not read, and the domain is free: the data was
                    // refused, not the domain. The row fails with Partner Center's own words.
                    let (code, message) = row.refused.take().unwrap_or_default();
                    tracing::info!(domain = %row.domain, "refused, and the domain is free: the row's data was refused");
                    return self
                        .settle(row, None, Settle::Failed { code, message })
                        .await
                        .map(|()| true);
                }
                Lookup::Found(false) => {
                    tracing::info!(domain = %row.domain, "reconciled: the create never happened; sending again");
                    return self
                        .settle(row, None, Settle::Pending { not_before: None })
                        .await
                        .map(|()| true);
                }
                Lookup::Found(true) => match self.lookup_customer(row, &token).await? {
                    Some(found) => found,
                    None => return Ok(false),
                },
                other => other.map_found(|_| None),
            };
            match verdict {
                Lookup::Found(Some(found)) => {
                    let settle = adopt(row, found);
                    return self.settle(row, None, settle).await.map(|()| true);
                }
                Lookup::Found(None) => {
                    // Patience is for our own create, which may stay invisible for a while; a
                    // domain that was taken at our first attempt is not ours to wait for.
                    let patience = if row.ambiguous {
                        self.settings.reconcile_patience
                    } else {
                        std::time::Duration::ZERO
                    };
                    let waited = (Utc::now() - since).to_std().unwrap_or_default();
                    if waited >= patience {
                        let message = format!(
                            "the domain `{}` is taken, and not by one of this partner's customers",
                            row.domain
                        );
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
                undecided => {
                    if !self
                        .wait_after_lookup(
                            undecided,
                            &token,
                            &mut failures,
                            &row.domain,
                            "lookup failed",
                        )
                        .await
                    {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// A lookup that decided nothing (throttled, unauthorized, failed): waits as its answer says
    /// before the caller looks again. False when the run stops or lookups keep failing (the row
    /// or step then stays as it is, to be reconciled later).
    pub(super) async fn wait_after_lookup<T>(
        &self,
        lookup: Lookup<T>,
        token: &SecretString,
        failures: &mut u32,
        domain: &str,
        what: &str,
    ) -> bool {
        match lookup {
            Lookup::Found(_) => true,
            Lookup::Throttled(retry_after) => {
                self.pacer.throttled(retry_after);
                self.stop.sleep(retry_after).await
            }
            Lookup::Unauthorized => {
                self.auth.invalidate(token).await;
                true
            }
            Lookup::Failed(message) => {
                *failures += 1;
                tracing::warn!(domain, "{what}: {message}");
                *failures < self.settings.max_attempts
                    && self.stop.sleep(self.backoff(*failures)).await
            }
        }
    }

    /// Whether the domain exists anywhere (not the Customer resource: no pace slot).
    async fn lookup_domain(
        &self,
        row: &QueuedRow,
        token: &SecretString,
    ) -> Result<Option<Lookup<bool>>, JournalError> {
        self.lookup(row.id, AttemptKind::LookupDomain, false, |request_id| async move {
            self.pc.domain_exists(&row.domain, &request_id, token).await
        })
        .await
    }

    /// Our customer with the row's domain, if Partner Center lists one yet.
    async fn lookup_customer(
        &self,
        row: &QueuedRow,
        token: &SecretString,
    ) -> Result<Option<Lookup<Option<Customer>>>, JournalError> {
        self.lookup(
            row.id,
            AttemptKind::LookupCustomer,
            true,
            |request_id| async move { self.pc.find_customer(&row.domain, &request_id, token).await },
        )
        .await
    }

    /// One lookup: a place among the requests out, a pace slot if `paced`, the attempt journaled,
    /// the request, the attempt finished. `None` when the run stopped before it was sent.
    pub(super) async fn lookup<T, F: Future<Output = Lookup<T>>>(
        &self,
        row_id: i64,
        kind: AttemptKind,
        paced: bool,
        send: impl FnOnce(String) -> F,
    ) -> Result<Option<Lookup<T>>, JournalError> {
        let Some(mut place) = self.stop.unless_stopped(self.in_flight.acquire()).await else {
            return Ok(None);
        };
        if paced
            && self
                .stop
                .unless_stopped(self.pacer.acquire())
                .await
                .is_none()
        {
            return Ok(None);
        }
        let request_id = new_request_id();
        let run_id = self.run_id;
        let correlation = self.pc.correlation_id().to_string();
        let recorded = request_id.clone();
        let attempt_id = self
            .journal
            .exec(move |tx| ops::begin_lookup(tx, row_id, run_id, kind, &recorded, &correlation))
            .await?;
        let started = Instant::now();
        place.sent(started);
        let found = send(request_id).await;
        let answered = Instant::now();
        drop(place); // a lookup's latency says nothing about a create's
        let (status, outcome) = match &found {
            Lookup::Found(_) => (Some(200), "found"),
            Lookup::Throttled(_) => (Some(429), "throttled"),
            Lookup::Unauthorized => (Some(401), "unauthorized"),
            Lookup::Failed(_) => (None, "failed"),
        };
        let end = AttemptEnd {
            http_status: status,
            error_code: None,
            latency_ms: answered.duration_since(started).as_millis() as u64,
            outcome: outcome.into(),
        };
        let throttled = matches!(found, Lookup::Throttled(_));
        self.journal
            .exec(move |tx| {
                if throttled {
                    ops::count_throttled(tx, run_id)?;
                }
                ops::finish_attempt(tx, attempt_id, &end)
            })
            .await?;
        Ok(Some(found))
    }
}
