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

/// Rows that need a person: failed, invalid, or still in doubt — and not acknowledged.
fn attention(
    conn: &Connection,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, String, String, String)>> {
    let acknowledged = if queries::has_table(conn, "acknowledgements")? {
        "AND content_hash NOT IN (SELECT content_hash FROM acknowledgements)"
    } else {
        ""
    };
    let mut statement = conn.prepare(&format!(
        "SELECT sheet_row, COALESCE(domain, '(no domain)'), state, COALESCE(last_error_message, '')
         FROM rows WHERE state IN ('failed', 'invalid', 'in_doubt') {acknowledged}
         ORDER BY sheet_row LIMIT ?1"
    ))?;
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
            RowState::Created
                if report.credentials_lost
                    + report.changed_after_creation
                    + report.already_existed
                    > 0 =>
            {
                format!(
                    "  ({} with credentials lost, {} changed after creation, {} already existed)",
                    report.credentials_lost, report.changed_after_creation, report.already_existed
                )
            }
            _ => String::new(),
        };
        writeln!(out, "  {:<11} {n:>8}{note}", state.as_str())?;
    }
    let a = report.attestations;
    if a.attested + a.pending + a.failed > 0 {
        writeln!(
            out,
            "  Microsoft Customer Agreement: {} attested, {} pending, {} failed",
            a.attested, a.pending, a.failed
        )?;
    }
    if report.acknowledged > 0 {
        writeln!(
            out,
            "  {:<11} {:>8}  (failed or invalid rows dealt with: `ack`)",
            "acknowledged", report.acknowledged
        )?;
    }
    if !report.by_reseller.is_empty() {
        writeln!(
            out,
            "by reseller:                              created   failed  invalid"
        )?;
        for (reseller, counts) in &report.by_reseller {
            writeln!(
                out,
                "  {reseller:<38} {:>8} {:>8} {:>8}{}",
                counts.created,
                counts.failed,
                counts.invalid,
                counts
                    .name
                    .as_ref()
                    .map_or_else(String::new, |name| format!("  {name}"))
            )?;
        }
    }
    writeln!(out, "runs:")?;
    for run in &report.runs {
        let per_min = run
            .creates_per_min
            .map_or_else(|| "-".into(), |p| format!("{p:.0}/min"));
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

pub fn load(conn: &Connection) -> rusqlite::Result<StatusReport> {
    queries::status(conn)
}
