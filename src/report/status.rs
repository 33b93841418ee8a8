//! `status`: where a job stands, computed from the journal — as a table for people and as the JSON
//! document of CONTRACTS.md for programs.

use std::io::{self, Write};

use rusqlite::Connection;

use crate::journal::RowState;
use crate::journal::queries::{self, StatusReport};

pub fn write_json(out: &mut impl Write, report: &StatusReport) -> io::Result<()> {
    serde_json::to_writer(&mut *out, report)?;
    writeln!(out)
}

/// Rows that need a person: failed, invalid, or still in doubt.
fn attention(
    conn: &Connection,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, String, String, String)>> {
    let mut statement = conn.prepare(
        "SELECT sheet_row, COALESCE(domain, '(no domain)'), state, COALESCE(last_error_message, '')
         FROM rows WHERE state IN ('failed', 'invalid', 'in_doubt') ORDER BY sheet_row LIMIT ?1",
    )?;
    statement
        .query_map([limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect()
}

pub fn write_text(
    out: &mut impl Write,
    conn: &Connection,
    report: &StatusReport,
    journal: &str,
) -> io::Result<()> {
    let total: i64 = report.rows.values().sum();
    writeln!(out, "journal {journal}: {total} rows")?;
    for state in RowState::ALL {
        let n = report.count(state);
        let note = match state {
            RowState::Created if report.credentials_lost + report.changed_after_creation > 0 => {
                format!(
                    "  ({} with credentials lost, {} changed after creation)",
                    report.credentials_lost, report.changed_after_creation
                )
            }
            _ => String::new(),
        };
        writeln!(out, "  {:<11} {n:>8}{note}", state.as_str())?;
    }
    if !report.by_reseller.is_empty() {
        writeln!(
            out,
            "by reseller:                              created   failed  invalid"
        )?;
        for (reseller, counts) in &report.by_reseller {
            writeln!(
                out,
                "  {reseller:<38} {:>8} {:>8} {:>8}",
                counts.created, counts.failed, counts.invalid
            )?;
        }
    }
    writeln!(out, "runs:")?;
    for run in &report.runs {
        let seconds = duration_s(&run.started, run.finished.as_deref());
        let per_min = match seconds {
            Some(s) if s > 0.0 => format!("{:.0}/min", run.created as f64 * 60.0 / s),
            _ => "-".into(),
        };
        writeln!(
            out,
            "  #{} {} → {}  {}  requests {} · 429s {} · created {} · failed {} · {per_min}",
            run.id,
            run.started,
            run.finished.as_deref().unwrap_or("(did not finish)"),
            run.sheet.as_deref().unwrap_or("(resume)"),
            run.requests,
            run.throttled,
            run.created,
            run.failed
        )?;
    }
    let rows = attention(conn, 50).map_err(io::Error::other)?;
    if !rows.is_empty() {
        writeln!(out, "needs attention:")?;
        for (row, domain, state, message) in rows {
            writeln!(out, "  row {row} {domain} {state}: {message}")?;
        }
    }
    Ok(())
}

fn duration_s(started: &str, finished: Option<&str>) -> Option<f64> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let (start, end) = (parse(started)?, parse(finished?)?);
    Some((end - start).num_milliseconds() as f64 / 1000.0)
}

pub fn load(conn: &Connection) -> rusqlite::Result<StatusReport> {
    queries::status(conn)
}
