//! The journal's writes during dispatch, each a small function over a transaction (run by the
//! writer thread, see [`super::writer`]), and the read of the work queue.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use secrecy::SecretString;

use super::writer::Batch;
use super::{RowState, now, timestamp};

/// A row the dispatcher still has to bring to a terminal state.
#[derive(Debug, Clone)]
pub struct QueuedRow {
    pub id: i64,
    pub domain: String,
    pub sheet_row: i64,
    pub body: String,
    /// The reseller the row is for (`associatedPartnerId`), if any.
    pub reseller: Option<String>,
    pub state: RowState,
    pub attempts: u32,
    pub request_id: String,
    /// An earlier attempt's outcome was unknown: a "domain taken" answer must be reconciled.
    pub ambiguous: bool,
    pub in_doubt_since: Option<DateTime<Utc>>,
    pub not_before: Option<DateTime<Utc>>,
    /// In memory only: the last attempt got a 401 and is being retried with a fresh token.
    pub auth_retry: bool,
    /// In memory only: create attempts in this run (`--max-attempts` counts these).
    pub tries: u32,
    /// In memory only: the refusal (code, message) of a create Partner Center answered in a
    /// language csp-onboard does not read (400 / 3000): if the domain turns out free, it was the
    /// data, and the row fails with that message rather than being sent again.
    pub refused: Option<(Option<String>, String)>,
    /// The customer's id, once created.
    pub customer_id: Option<String>,
    /// The customer was the partner's already (adopted, not created by this journal).
    pub already_existed: bool,
    /// The attestation of the Microsoft Customer Agreement, when one is planned.
    pub attest: Option<super::steps::QueuedStep>,
}

fn parse_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Where a paged walk through the work queue stands: the last (sheet row, id) handed out.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueCursor {
    pub(super) sheet_row: i64,
    pub(super) id: i64,
}

/// A row is queued while its create, or a step after it, is unfinished.
const QUEUED: &str = "(rows.state IN ('pending', 'retry_wait', 'in_doubt', 'in_flight')
       OR (rows.state = 'created' AND EXISTS (SELECT 1 FROM steps s WHERE s.row_id = rows.id
             AND s.step = 'attest_mca' AND s.state IN ('pending', 'in_flight', 'in_doubt'))))
     AND rows.domain IS NOT NULL AND rows.request_body IS NOT NULL";

/// The domains of the rows created already (pre-flight does not ask about them again).
pub fn created_domains(
    conn: &Connection,
) -> Result<std::collections::HashSet<String>, rusqlite::Error> {
    let mut statement =
        conn.prepare("SELECT domain FROM rows WHERE state = 'created' AND domain IS NOT NULL")?;
    let domains = statement
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(domains)
}

/// How many rows the dispatcher has to bring to a terminal state.
pub fn work_count(conn: &Connection) -> Result<u64, rusqlite::Error> {
    conn.query_row(
        &format!("SELECT COUNT(*) FROM rows WHERE {QUEUED}"),
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// The next `limit` rows to dispatch after `cursor`, in sheet order. The queue is read a page at
/// a time so that memory stays flat however many rows a job has. The walk follows the
/// `rows_sheet_row` index (whose entries end with the rowid, i.e. `id`) from the cursor on: without
/// `INDEXED BY`, SQLite picks the state index and sorts every queued row again for each page.
pub fn work_page(
    conn: &Connection,
    cursor: &mut QueueCursor,
    limit: usize,
) -> Result<Vec<QueuedRow>, rusqlite::Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT rows.id, rows.domain, rows.sheet_row, rows.request_body, rows.state,
                rows.attempts, rows.request_id, rows.ambiguous, rows.in_doubt_since,
                rows.not_before, rows.reseller, rows.customer_id, rows.already_existed,
                st.state, st.request_id, st.attempts, st.detail
         FROM rows INDEXED BY rows_sheet_row
         LEFT JOIN steps st ON st.row_id = rows.id AND st.step = 'attest_mca'
         WHERE {QUEUED} AND (rows.sheet_row, rows.id) > (?1, ?2)
         ORDER BY rows.sheet_row, rows.id
         LIMIT ?3"
    ))?;
    let rows = statement
        .query_map(params![cursor.sheet_row, cursor.id, limit as i64], |r| {
            let state: String = r.get(4)?;
            Ok(QueuedRow {
                id: r.get(0)?,
                domain: r.get(1)?,
                sheet_row: r.get(2)?,
                body: r.get(3)?,
                state: RowState::parse(&state).unwrap_or(RowState::Pending),
                attempts: r.get(5)?,
                request_id: r
                    .get::<_, Option<String>>(6)?
                    .unwrap_or_else(super::import::new_request_id),
                ambiguous: r.get(7)?,
                in_doubt_since: parse_time(r.get(8)?),
                not_before: parse_time(r.get(9)?),
                reseller: r.get(10)?,
                auth_retry: false,
                tries: 0,
                refused: None,
                customer_id: r.get(11)?,
                already_existed: r.get(12)?,
                attest: match r.get::<_, Option<String>>(13)? {
                    Some(state) => Some(super::steps::QueuedStep {
                        state: super::steps::StepState::parse(&state)
                            .unwrap_or(super::steps::StepState::Pending),
                        request_id: r
                            .get::<_, Option<String>>(14)?
                            .unwrap_or_else(super::import::new_request_id),
                        attempts: r.get(15)?,
                        agreed: super::steps::agreed_of(r.get::<_, Option<String>>(16)?.as_deref())
                            .unwrap_or_default(),
                        tries: 0,
                        looked: false,
                    }),
                    None => None,
                },
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(last) = rows.last() {
        *cursor = QueueCursor {
            sheet_row: last.sheet_row,
            id: last.id,
        };
    }
    Ok(rows)
}

/// What kind of request an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    Create,
    LookupDomain,
    LookupCustomer,
    /// `POST /v1/customers/{id}/agreements`.
    AttestMca,
    /// `GET /v1/customers/{id}/agreements`, reconciling an attestation.
    LookupAgreements,
    /// `GET /v1/customers/{id}/users`, finding the admin whose password is reset.
    ListUsers,
    /// `PATCH /v1/customers/{id}/users/{userId}/resetpassword`.
    ResetPassword,
}

impl AttemptKind {
    fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Create => "create",
            AttemptKind::LookupDomain => "lookup_domain",
            AttemptKind::LookupCustomer => "lookup_customer",
            AttemptKind::AttestMca => "attest_mca",
            AttemptKind::LookupAgreements => "lookup_agreements",
            AttemptKind::ListUsers => "list_users",
            AttemptKind::ResetPassword => "reset_password",
        }
    }
}

/// The write-ahead intent of a create: the row becomes `in_flight` with the request id it is about
/// to use. Returns the time the attempt starts. Its attempt row is written with its outcome
/// ([`record_attempt`]); an attempt cut short by a crash is recorded by
/// [`Journal::recover_in_flight`](super::Journal::recover_in_flight).
pub fn mark_in_flight(
    tx: &mut Batch<'_>,
    row_id: i64,
    run_id: i64,
    request_id: &str,
) -> Result<String, rusqlite::Error> {
    let now = now();
    tx.prepare_cached(
        "UPDATE rows SET state = 'in_flight', attempts = attempts + 1, request_id = ?2,
             not_before = NULL, updated_at = ?3
         WHERE id = ?1",
    )?
    .execute(params![row_id, request_id, now])?;
    tx.counters(run_id).requests += 1;
    Ok(now)
}

/// A create attempt and how it ended.
#[derive(Debug, Clone)]
pub struct CreateAttempt {
    pub request_id: String,
    pub correlation_id: String,
    /// When its intent was committed ([`mark_in_flight`]).
    pub started: String,
    pub end: AttemptEnd,
}

/// Records a create (or an attestation: `kind`) attempt with its outcome.
pub fn record_attempt(
    tx: &Batch<'_>,
    row_id: i64,
    run_id: i64,
    kind: AttemptKind,
    attempt: &CreateAttempt,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO attempts (row_id, run_id, kind, request_id, correlation_id, started,
                               finished, http_status, error_code, latency_ms, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        row_id,
        run_id,
        kind.as_str(),
        attempt.request_id,
        attempt.correlation_id,
        attempt.started,
        now(),
        attempt.end.http_status,
        attempt.end.error_code,
        attempt.end.latency_ms as i64,
        attempt.end.outcome
    ])?;
    Ok(())
}

/// Records a lookup before its request leaves; returns the attempt's id for [`finish_attempt`].
pub fn begin_lookup(
    tx: &mut Batch<'_>,
    row_id: i64,
    run_id: i64,
    kind: AttemptKind,
    request_id: &str,
    correlation_id: &str,
) -> Result<i64, rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO attempts (row_id, run_id, kind, request_id, correlation_id, started)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        row_id,
        run_id,
        kind.as_str(),
        request_id,
        correlation_id,
        now()
    ])?;
    tx.counters(run_id).requests += 1;
    Ok(tx.last_insert_rowid())
}

/// The MS-CorrelationId a run's requests carry, for the attempts recovery records.
pub fn set_correlation_id(
    tx: &Batch<'_>,
    run_id: i64,
    correlation_id: &str,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached("UPDATE runs SET correlation_id = ?2 WHERE id = ?1")?
        .execute(params![run_id, correlation_id])?;
    Ok(())
}

/// How an attempt ended, for the attempts table.
#[derive(Debug, Clone, Default)]
pub struct AttemptEnd {
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub latency_ms: u64,
    pub outcome: String,
}

pub fn finish_attempt(
    tx: &Batch<'_>,
    attempt_id: i64,
    end: &AttemptEnd,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "UPDATE attempts SET finished = ?2, http_status = ?3, error_code = ?4, latency_ms = ?5,
             outcome = ?6 WHERE id = ?1",
    )?
    .execute(params![
        attempt_id,
        now(),
        end.http_status,
        end.error_code,
        end.latency_ms as i64,
        end.outcome
    ])?;
    Ok(())
}

/// A new customer's one-time credentials, as Partner Center returned them. They are sealed when
/// the transaction that marks the row `created` commits (see [`Batch`]).
#[derive(Debug)]
pub struct NewCredentials {
    pub user_name: String,
    pub password: SecretString,
}

/// Where a row goes next.
#[derive(Debug)]
pub enum Settle {
    Created {
        customer_id: String,
        commerce_id: Option<String>,
        credentials: Option<NewCredentials>,
        /// One of the partner's customers before this row: adopted, its password not ours.
        already_existed: bool,
    },
    Failed {
        code: Option<String>,
        message: String,
    },
    RetryWait {
        not_before: DateTime<Utc>,
        code: Option<String>,
        message: String,
        next_request_id: String,
    },
    InDoubt {
        code: Option<String>,
        message: String,
    },
    /// The domain is taken: look it up among the partner's customers before deciding (the row's
    /// own attempts were answered, so it is not `ambiguous`).
    LookUp {
        code: Option<String>,
        message: String,
    },
    /// Reconciled: the create never happened; send again with the same request id.
    Pending { not_before: Option<DateTime<Utc>> },
}

/// Records where a row goes next. A new customer's credentials move out of `settle` onto the
/// transaction, to be sealed when it commits; the rest of `settle` is left for the caller.
pub fn settle_row(
    tx: &mut Batch<'_>,
    row_id: i64,
    run_id: i64,
    settle: &mut Settle,
) -> Result<(), rusqlite::Error> {
    let now = now();
    let credentials = match settle {
        Settle::Created { credentials, .. } => credentials.take(),
        _ => None,
    };
    match &*settle {
        Settle::Created {
            customer_id,
            commerce_id,
            already_existed,
            ..
        } => {
            let lost = credentials.is_none() && !already_existed;
            let batch = match credentials {
                Some(NewCredentials {
                    user_name,
                    password,
                }) => Some(tx.stage_credentials(row_id, user_name, password)?),
                None => None,
            };
            tx.prepare_cached(
                "UPDATE rows SET state = 'created', customer_id = ?2, commerce_id = ?3,
                     credentials_lost = ?4, credential_batch = ?5, last_error_code = NULL,
                     last_error_message = NULL, not_before = NULL, updated_at = ?6,
                     already_existed = ?7
                 WHERE id = ?1",
            )?
            .execute(params![
                row_id,
                customer_id,
                commerce_id,
                lost,
                batch,
                now,
                already_existed
            ])?;
            tx.counters(run_id).created += 1;
        }
        Settle::Failed { code, message } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'failed', last_error_code = ?2, last_error_message = ?3,
                     not_before = NULL, updated_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![row_id, code, message, now])?;
            tx.counters(run_id).failed += 1;
        }
        Settle::RetryWait {
            not_before,
            code,
            message,
            next_request_id,
        } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'retry_wait', not_before = ?2, last_error_code = ?3,
                     last_error_message = ?4, request_id = ?5, updated_at = ?6
                 WHERE id = ?1",
            )?
            .execute(params![
                row_id,
                timestamp(*not_before),
                code,
                message,
                next_request_id,
                now
            ])?;
        }
        Settle::InDoubt { code, message } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'in_doubt', ambiguous = 1,
                     in_doubt_since = COALESCE(in_doubt_since, ?4), last_error_code = ?2,
                     last_error_message = ?3, updated_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![row_id, code, message, now])?;
        }
        Settle::LookUp { code, message } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'in_doubt', in_doubt_since = COALESCE(in_doubt_since, ?4),
                     last_error_code = ?2, last_error_message = ?3, updated_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![row_id, code, message, now])?;
        }
        Settle::Pending { not_before } => {
            tx.prepare_cached(
                "UPDATE rows SET state = 'pending', in_doubt_since = NULL, not_before = ?2, updated_at = ?3
                 WHERE id = ?1",
            )?
            .execute(params![row_id, not_before.map(timestamp), now])?;
        }
    }
    Ok(())
}

pub fn count_throttled(tx: &mut Batch<'_>, run_id: i64) -> Result<(), rusqlite::Error> {
    tx.counters(run_id).throttled += 1;
    Ok(())
}

pub fn finish_run(conn: &Connection, run_id: i64, exit_code: i32) -> Result<(), rusqlite::Error> {
    conn.execute(
        "UPDATE runs SET finished = ?2, exit_code = ?3 WHERE id = ?1",
        params![run_id, now(), exit_code],
    )?;
    Ok(())
}

/// The provider's indirect resellers as Partner Center just listed them (names shown everywhere
/// ids are).
pub fn store_resellers(
    tx: &Batch<'_>,
    resellers: &[crate::model::Reseller],
) -> Result<(), rusqlite::Error> {
    let now = now();
    let mut upsert = tx.prepare_cached(
        "INSERT INTO resellers (id, name, state, listed_at) VALUES (lower(?1), ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state,
             listed_at = excluded.listed_at",
    )?;
    for reseller in resellers {
        upsert.execute(params![reseller.id, reseller.name, reseller.state, now])?;
    }
    Ok(())
}
