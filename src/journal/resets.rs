//! Credential recovery's part of the journal: the `reset_password` step of a created row whose
//! one-time password never reached us (`credentials_lost`).
//!
//! ```text
//! (no step) ──admin found──► pending ──place, pace slot, new password sealed with the intent──► in_flight
//! in_flight ── 2xx ──► done (the row takes the sealed password; credentials_lost cleared)
//!           ── refused ──► failed (the row stays lost; a later `recover-credentials` tries again)
//!           ── 429, never sent ──► pending
//!           ── timeout, reset, 5xx ──► in_doubt
//! ```
//!
//! Invariants: the new password is chosen by us and sealed into a credential batch in the same
//! transaction as the write-ahead intent, so whatever Partner Center did, no password it may hold
//! is one we never recorded; the row takes that batch only once the reset is confirmed, so an
//! export never hands out a password that was perhaps never set. A reset in doubt is sent again
//! — setting a password again is harmless — with the same password and request id while the run
//! lasts, and with a new password after a crash (the one sealed before is no longer certain).

use rusqlite::{Connection, params};
use secrecy::SecretString;

use super::now;
use super::ops::QueueCursor;
use super::steps::StepState;
use super::writer::Batch;

pub const RESET_PASSWORD: &str = "reset_password";

const LOST: &str = "r.state = 'created' AND r.credentials_lost = 1 AND r.customer_id IS NOT NULL
     AND r.domain IS NOT NULL";

/// A created row whose credentials were lost, with where its reset stands.
#[derive(Debug, Clone)]
pub struct LostRow {
    pub id: i64,
    pub sheet_row: i64,
    pub domain: String,
    pub customer_id: String,
    /// The admin's user id, once found.
    pub user_id: Option<String>,
    pub state: Option<StepState>,
}

/// How many created rows have no credentials.
pub fn lost_count(conn: &Connection) -> Result<u64, rusqlite::Error> {
    conn.query_row(
        &format!("SELECT COUNT(*) FROM rows r WHERE {LOST}"),
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// The next `limit` rows without credentials after `cursor`, in sheet order.
pub fn lost_page(
    conn: &Connection,
    cursor: &mut QueueCursor,
    limit: usize,
) -> Result<Vec<LostRow>, rusqlite::Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT r.id, r.sheet_row, r.domain, r.customer_id, s.detail, s.state
         FROM rows r LEFT JOIN steps s ON s.row_id = r.id AND s.step = '{RESET_PASSWORD}'
         WHERE {LOST} AND (r.sheet_row, r.id) > (?1, ?2)
         ORDER BY r.sheet_row, r.id LIMIT ?3"
    ))?;
    let rows = statement
        .query_map(params![cursor.sheet_row, cursor.id, limit as i64], |r| {
            let detail: Option<String> = r.get(4)?;
            let state: Option<String> = r.get(5)?;
            Ok(LostRow {
                id: r.get(0)?,
                sheet_row: r.get(1)?,
                domain: r.get(2)?,
                customer_id: r.get(3)?,
                user_id: detail.as_deref().and_then(user_id_of),
                state: state.as_deref().and_then(StepState::parse),
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

fn user_id_of(detail: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(detail).ok()?;
    Some(value.get("user_id")?.as_str()?.to_string())
}

/// The admin was found: the reset is planned (again, after an earlier recovery failed).
pub fn plan(tx: &Batch<'_>, row_id: i64, user_id: &str) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO steps (row_id, step, state, attempts, detail, updated_at)
         VALUES (?1, ?2, 'pending', 0, ?3, ?4)
         ON CONFLICT (row_id, step) DO UPDATE SET state = 'pending', detail = excluded.detail,
             updated_at = excluded.updated_at",
    )?
    .execute(params![
        row_id,
        RESET_PASSWORD,
        serde_json::json!({ "user_id": user_id }).to_string(),
        now()
    ])?;
    Ok(())
}

/// The write-ahead intent of a reset: `in_flight`, and the new password sealed (at this
/// transaction's commit) into a batch the step points to. Returns the time the attempt starts.
pub fn mark_in_flight(
    tx: &mut Batch<'_>,
    row_id: i64,
    run_id: i64,
    request_id: &str,
    user_name: String,
    password: SecretString,
) -> Result<String, rusqlite::Error> {
    let now = now();
    let batch = tx.stage_credentials(row_id, user_name, password)?;
    tx.prepare_cached(
        "UPDATE steps SET state = 'in_flight', attempts = attempts + 1, request_id = ?3,
             credential_batch = ?4, updated_at = ?5
         WHERE row_id = ?1 AND step = ?2",
    )?
    .execute(params![row_id, RESET_PASSWORD, request_id, batch, now])?;
    tx.counters(run_id).requests += 1;
    Ok(now)
}

/// Where a reset goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetSettle {
    /// Confirmed: the row's credentials are the sealed new password.
    Done,
    Failed {
        message: String,
    },
    InDoubt {
        message: String,
    },
    Pending {
        message: String,
    },
}

pub fn settle(tx: &Batch<'_>, row_id: i64, settle: &ResetSettle) -> Result<(), rusqlite::Error> {
    let (state, message) = match settle {
        ResetSettle::Done => (StepState::Done, None),
        ResetSettle::Failed { message } => (StepState::Failed, Some(message)),
        ResetSettle::InDoubt { message } => (StepState::InDoubt, Some(message)),
        ResetSettle::Pending { message } => (StepState::Pending, Some(message)),
    };
    let now = now();
    tx.prepare_cached(
        "UPDATE steps SET state = ?3, last_error = COALESCE(?4, last_error), updated_at = ?5
         WHERE row_id = ?1 AND step = ?2",
    )?
    .execute(params![
        row_id,
        RESET_PASSWORD,
        state.as_str(),
        message,
        now
    ])?;
    if *settle == ResetSettle::Done {
        tx.prepare_cached(
            "UPDATE rows SET credentials_lost = 0, updated_at = ?2,
                 credential_batch = (SELECT credential_batch FROM steps
                                     WHERE row_id = ?1 AND step = ?3)
             WHERE id = ?1",
        )?
        .execute(params![row_id, now, RESET_PASSWORD])?;
    }
    Ok(())
}

/// A row whose admin could not be found, or whose reset cannot be made: the step is failed with
/// `message` (planned first if it was not).
pub fn fail_unplanned(tx: &Batch<'_>, row_id: i64, message: &str) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO steps (row_id, step, state, attempts, last_error, updated_at)
         VALUES (?1, ?2, 'failed', 0, ?3, ?4)
         ON CONFLICT (row_id, step) DO UPDATE SET state = 'failed', last_error = excluded.last_error,
             updated_at = excluded.updated_at",
    )?
    .execute(params![row_id, RESET_PASSWORD, message, now()])?;
    Ok(())
}

/// Passwords reset and confirmed, over the journal's life.
pub fn recovered(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*) FROM steps WHERE step = ?1 AND state = 'done'",
        [RESET_PASSWORD],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_id_is_read_back_from_the_detail() {
        assert_eq!(user_id_of(r#"{"user_id":"u-1"}"#).as_deref(), Some("u-1"));
        assert_eq!(user_id_of("{}"), None);
        assert_eq!(user_id_of("garbage"), None);
    }
}
