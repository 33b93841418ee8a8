//! The steps after the create (DESIGN.md, "Steps after the create"): today one, the attestation
//! of the Microsoft Customer Agreement (`attest_mca`).
//!
//! A step has its own state machine, kept in the `steps` table beside its row:
//!
//! ```text
//! pending ──place, pace slot, intent committed──► in_flight ── 2xx ──► done
//!                                                  ── refused ──► failed
//!                                                  ── 429, never sent ──► pending
//!                                                  ── timeout, reset, 5xx ──► in_doubt
//! in_doubt ──GET the customer's agreements──► done (it was attested) | pending (same request id)
//! ```
//!
//! Invariants: a step is `in_flight` only while its request may be out (the write-ahead intent,
//! committed before it leaves); a crash leaves it `in_flight`, which [`recover_in_flight`] turns
//! into `in_doubt`; an `in_doubt` step is never sent again before the customer's agreements were
//! read. A step is planned (`pending`) for a row before or after its create: it is worked once the
//! row is `created`. The date the customer agreed is fixed when the step is planned, so a `resume`
//! days later attests the same date.

use rusqlite::{Connection, params};

use super::now;
use super::writer::Batch;

/// The one step there is so far.
pub const ATTEST_MCA: &str = "attest_mca";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Pending,
    InFlight,
    InDoubt,
    Done,
    Failed,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::InFlight => "in_flight",
            StepState::InDoubt => "in_doubt",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<StepState> {
        [
            StepState::Pending,
            StepState::InFlight,
            StepState::InDoubt,
            StepState::Done,
            StepState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, StepState::Done | StepState::Failed)
    }
}

/// A row's attestation, as the dispatcher works it.
#[derive(Debug, Clone)]
pub struct QueuedStep {
    pub state: StepState,
    /// The MS-RequestId to use: kept after an ambiguous attempt, new after an answer.
    pub request_id: String,
    pub attempts: u32,
    /// The day the customer agreed, `YYYY-MM-DD`.
    pub agreed: String,
    /// In memory only: attempts in this run.
    pub tries: u32,
    /// In memory only: the customer's agreements were read in this run and hold none.
    pub looked: bool,
}

/// What the step's `detail` holds before the agreement is first sent: the date agreed.
fn planned_detail(agreed: &str) -> String {
    serde_json::json!({ "agreed": agreed }).to_string()
}

/// The date agreed, from a step's `detail` (the plan, or the agreement as sent).
pub fn agreed_of(detail: Option<&str>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(detail?).ok()?;
    if let Some(agreed) = value.get("agreed").and_then(|v| v.as_str()) {
        return Some(agreed.to_string());
    }
    let sent = value.get("dateAgreed")?.as_str()?;
    Some(sent.split('T').next().unwrap_or(sent).to_string())
}

/// Plans the attestation of every row that is or may yet be created and has none: customers
/// created earlier (by a run without `--attest-mca`) are attested too. Returns how many were
/// planned. Rows failed or invalid get none; a row whose create fails later keeps a pending step
/// that is never worked (and not counted: only created rows' steps are).
pub fn plan_attestations(conn: &Connection, agreed: &str) -> Result<usize, rusqlite::Error> {
    conn.execute(
        "INSERT OR IGNORE INTO steps (row_id, step, state, attempts, detail, updated_at)
         SELECT id, ?1, 'pending', 0, ?2, ?3 FROM rows
         WHERE state IN ('pending', 'retry_wait', 'in_doubt', 'in_flight', 'created')
           AND domain IS NOT NULL AND request_body IS NOT NULL",
        params![ATTEST_MCA, planned_detail(agreed), now()],
    )
}

/// How many created rows still have an attestation to do.
pub fn unfinished(conn: &Connection) -> Result<u64, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*) FROM steps s JOIN rows r ON r.id = s.row_id
         WHERE r.state = 'created' AND s.step = ?1 AND s.state IN ('pending', 'in_flight', 'in_doubt')",
        [ATTEST_MCA],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// Whether any row has a step planned that is not finished (created or not yet).
pub fn any_planned(conn: &Connection) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM steps WHERE step = ?1
                        AND state IN ('pending', 'in_flight', 'in_doubt'))",
        [ATTEST_MCA],
        |r| r.get(0),
    )
}

/// The write-ahead intent of an attestation: `in_flight`, with the request id and the agreement
/// about to be sent. Returns the time the attempt starts.
pub fn mark_in_flight(
    tx: &mut Batch<'_>,
    row_id: i64,
    run_id: i64,
    request_id: &str,
    agreement: &str,
) -> Result<String, rusqlite::Error> {
    let now = now();
    tx.prepare_cached(
        "UPDATE steps SET state = 'in_flight', attempts = attempts + 1, request_id = ?3,
             detail = ?4, updated_at = ?5
         WHERE row_id = ?1 AND step = ?2",
    )?
    .execute(params![row_id, ATTEST_MCA, request_id, agreement, now])?;
    tx.counters(run_id).requests += 1;
    Ok(now)
}

/// Where an attestation goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepSettle {
    Done,
    Failed {
        message: String,
    },
    InDoubt {
        message: String,
    },
    /// Again, with this request id (the same when nothing reached the server).
    Pending {
        request_id: String,
        message: Option<String>,
    },
}

pub fn settle(tx: &Batch<'_>, row_id: i64, settle: &StepSettle) -> Result<(), rusqlite::Error> {
    let (state, request_id, message) = match settle {
        StepSettle::Done => (StepState::Done, None, None),
        StepSettle::Failed { message } => (StepState::Failed, None, Some(message.as_str())),
        StepSettle::InDoubt { message } => (StepState::InDoubt, None, Some(message.as_str())),
        StepSettle::Pending {
            request_id,
            message,
        } => (
            StepState::Pending,
            Some(request_id.as_str()),
            message.as_deref(),
        ),
    };
    tx.prepare_cached(
        "UPDATE steps SET state = ?3, request_id = COALESCE(?4, request_id),
             last_error = COALESCE(?5, last_error), updated_at = ?6
         WHERE row_id = ?1 AND step = ?2",
    )?
    .execute(params![
        row_id,
        ATTEST_MCA,
        state.as_str(),
        request_id,
        message,
        now()
    ])?;
    Ok(())
}

/// After a crash, an attestation `in_flight` may or may not have been made: `in_doubt`, so that
/// the customer's agreements are read before it is sent again; its attempt is recorded as
/// interrupted under the run before `run_id` (the one that sent it).
pub fn recover_in_flight(conn: &Connection, run_id: i64) -> Result<usize, rusqlite::Error> {
    conn.execute(
        "INSERT INTO attempts (row_id, run_id, kind, request_id, correlation_id, started, outcome)
         SELECT s.row_id, p.id, s.step, s.request_id, COALESCE(p.correlation_id, ''),
                s.updated_at, 'interrupted'
         FROM steps s, (SELECT id, correlation_id FROM runs WHERE id < ?1
                        ORDER BY id DESC LIMIT 1) p
         WHERE s.state = 'in_flight' AND s.request_id IS NOT NULL",
        params![run_id],
    )?;
    conn.execute(
        "UPDATE steps SET state = 'in_doubt', updated_at = ?1 WHERE state = 'in_flight'",
        [now()],
    )
}

/// The attestations of created rows, for `status`: attested, pending, failed.
pub fn counts(conn: &Connection) -> Result<(i64, i64, i64), rusqlite::Error> {
    conn.query_row(
        "SELECT COALESCE(SUM(s.state = 'done'), 0),
                COALESCE(SUM(s.state IN ('pending', 'in_flight', 'in_doubt')), 0),
                COALESCE(SUM(s.state = 'failed'), 0)
         FROM steps s JOIN rows r ON r.id = s.row_id
         WHERE s.step = ?1 AND r.state = 'created'",
        [ATTEST_MCA],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_agreed_survives_the_plan_and_the_send() {
        assert_eq!(
            agreed_of(Some(&planned_detail("2026-11-20"))).as_deref(),
            Some("2026-11-20")
        );
        assert_eq!(
            agreed_of(Some(r#"{"dateAgreed":"2026-11-21T00:00:00Z","type":"x"}"#)).as_deref(),
            Some("2026-11-21")
        );
        assert_eq!(agreed_of(Some("not json")), None);
        assert_eq!(agreed_of(None), None);
    }

    #[test]
    fn step_states_round_trip() {
        for state in [
            StepState::Pending,
            StepState::InFlight,
            StepState::InDoubt,
            StepState::Done,
            StepState::Failed,
        ] {
            assert_eq!(StepState::parse(state.as_str()), Some(state));
        }
        assert_eq!(StepState::parse("created"), None);
    }
}
