//! What `status`, `export` and the run summary read. Everything is computed from the journal,
//! never from a run's memory: the journal is the truth.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use super::RowState;

/// `status --format json` (CONTRACTS.md).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub rows: BTreeMap<&'static str, i64>,
    pub credentials_lost: i64,
    pub changed_after_creation: i64,
    pub throttled: i64,
    /// Failed or invalid rows the distributor has acknowledged (`ack`).
    pub acknowledged: i64,
    /// Created rows that were the partner's customers already (adopted).
    pub already_existed: i64,
    /// The attestations of the Microsoft Customer Agreement, for created rows.
    pub attestations: Attestations,
    pub by_reseller: BTreeMap<String, ResellerCounts>,
    pub runs: Vec<RunInfo>,
}

/// `"attestations": {"attested": n, "pending": n, "failed": n}` (CONTRACTS.md).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Attestations {
    pub attested: i64,
    pub pending: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ResellerCounts {
    pub created: i64,
    pub failed: i64,
    pub invalid: i64,
    /// The reseller's name, as Partner Center last listed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: i64,
    pub started: String,
    pub finished: Option<String>,
    pub sheet: Option<String>,
    pub requests: i64,
    pub throttled: i64,
    pub created: i64,
    pub failed: i64,
    /// Creates per minute, first to last (n creates span n - 1 intervals); `None` below two.
    pub creates_per_min: Option<f64>,
}

impl StatusReport {
    pub fn count(&self, state: RowState) -> i64 {
        self.rows.get(state.as_str()).copied().unwrap_or(0)
    }
}

pub fn status(conn: &Connection) -> Result<StatusReport, rusqlite::Error> {
    let mut rows: BTreeMap<&'static str, i64> =
        RowState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut by_state = conn.prepare("SELECT state, COUNT(*) FROM rows GROUP BY state")?;
    for item in by_state.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (state, n) = item?;
        if let Some(state) = RowState::parse(&state) {
            rows.insert(state.as_str(), n);
        }
    }
    let (credentials_lost, changed_after_creation): (i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(credentials_lost), 0), COALESCE(SUM(changed_after_creation), 0) FROM rows",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let throttled: i64 =
        conn.query_row("SELECT COALESCE(SUM(throttled), 0) FROM runs", [], |r| {
            r.get(0)
        })?;
    let acknowledged = acknowledged(conn)?;
    let already_existed: i64 = if has_column(conn, "rows", "already_existed")? {
        conn.query_row(
            "SELECT COALESCE(SUM(already_existed), 0) FROM rows",
            [],
            |r| r.get(0),
        )?
    } else {
        0
    };
    let attestations = if has_table(conn, "steps")? {
        let (attested, pending, failed) = super::steps::counts(conn)?;
        Attestations {
            attested,
            pending,
            failed,
        }
    } else {
        Attestations::default()
    };
    let mut by_reseller: BTreeMap<String, ResellerCounts> = BTreeMap::new();
    let mut grouped = conn.prepare(
        "SELECT COALESCE(reseller, 'direct'), state, COUNT(*) FROM rows
         WHERE state IN ('created', 'failed', 'invalid') GROUP BY 1, 2",
    )?;
    for item in grouped.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (reseller, state, n) = item?;
        let counts = by_reseller.entry(reseller).or_default();
        match state.as_str() {
            "created" => counts.created = n,
            "failed" => counts.failed = n,
            _ => counts.invalid = n,
        }
    }
    if has_table(conn, "resellers")? {
        let mut names = conn.prepare("SELECT id, name FROM resellers")?;
        for item in names.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (id, name) = item?;
            if let Some(counts) = by_reseller
                .iter_mut()
                .find(|(reseller, _)| reseller.eq_ignore_ascii_case(&id))
                .map(|(_, counts)| counts)
            {
                counts.name = Some(name);
            }
        }
    }
    let mut run_rows = conn.prepare(
        "SELECT id, started, finished, sheet, requests, throttled, created, failed FROM runs ORDER BY id",
    )?;
    let runs = run_rows
        .query_map([], |r| {
            Ok(RunInfo {
                id: r.get(0)?,
                started: r.get(1)?,
                finished: r.get(2)?,
                sheet: r.get(3)?,
                requests: r.get(4)?,
                throttled: r.get(5)?,
                created: r.get(6)?,
                failed: r.get(7)?,
                creates_per_min: None,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut runs = runs;
    let mut paces = conn.prepare(
        "SELECT run_id, COUNT(*), MIN(started), MAX(started) FROM attempts
         WHERE kind = 'create' AND http_status = 201 GROUP BY run_id",
    )?;
    for pace in paces.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })? {
        let (run_id, n, first, last) = pace?;
        let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
        let span = parse(&last)
            .zip(parse(&first))
            .map(|(l, f)| (l - f).num_milliseconds() as f64 / 60_000.0);
        if let (Some(minutes), Some(run)) = (span, runs.iter_mut().find(|r| r.id == run_id))
            && n > 1
            && minutes > 0.0
        {
            run.creates_per_min = Some(((n - 1) as f64 / minutes * 10.0).round() / 10.0);
        }
    }
    Ok(StatusReport {
        rows,
        credentials_lost,
        changed_after_creation,
        throttled,
        acknowledged,
        already_existed,
        attestations,
        by_reseller,
        runs,
    })
}

/// One line of the results export (CONTRACTS.md column order).
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    pub row: i64,
    pub domain: Option<String>,
    pub company_name: Option<String>,
    pub associated_partner_id: Option<String>,
    pub external_id: Option<String>,
    pub state: String,
    pub customer_id: Option<String>,
    pub commerce_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: u32,
    pub credentials_lost: bool,
    pub changed_after_creation: bool,
    pub already_existed: bool,
    /// The Microsoft Customer Agreement is attested.
    pub mca_attested: bool,
}

pub const RESULT_COLUMNS: [&str; 15] = [
    "row",
    "domain",
    "company_name",
    "associated_partner_id",
    "external_id",
    "state",
    "customer_id",
    "commerce_id",
    "error_code",
    "error_message",
    "attempts",
    "credentials_lost",
    "changed_after_creation",
    "already_existed",
    "mca_attested",
];

pub fn results(conn: &Connection) -> Result<Vec<ResultRow>, rusqlite::Error> {
    let already_existed = if has_column(conn, "rows", "already_existed")? {
        "already_existed"
    } else {
        "0"
    };
    let attested = if has_table(conn, "steps")? {
        "EXISTS (SELECT 1 FROM steps s WHERE s.row_id = rows.id AND s.step = 'attest_mca'
                 AND s.state = 'done')"
    } else {
        "0"
    };
    let mut statement = conn.prepare(&format!(
        "SELECT sheet_row, domain, company_name, reseller, external_id, state, customer_id,
                commerce_id, last_error_code, last_error_message, attempts, credentials_lost,
                changed_after_creation, {already_existed}, {attested}
         FROM rows ORDER BY sheet_row, id"
    ))?;
    statement
        .query_map([], |r| {
            Ok(ResultRow {
                row: r.get(0)?,
                domain: r.get(1)?,
                company_name: r.get(2)?,
                associated_partner_id: r.get(3)?,
                external_id: r.get(4)?,
                state: r.get(5)?,
                customer_id: r.get(6)?,
                commerce_id: r.get(7)?,
                error_code: r.get(8)?,
                error_message: r.get(9)?,
                attempts: r.get(10)?,
                credentials_lost: r.get(11)?,
                changed_after_creation: r.get(12)?,
                already_existed: r.get(13)?,
                mca_attested: r.get(14)?,
            })
        })?
        .collect()
}

/// A created customer and where its sealed credentials are (nowhere when they were lost).
#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub row_id: i64,
    pub sheet_row: i64,
    pub domain: String,
    pub company_name: Option<String>,
    pub associated_partner_id: Option<String>,
    /// The reseller's name, as Partner Center last listed it.
    pub reseller_name: Option<String>,
    pub external_id: Option<String>,
    pub customer_id: Option<String>,
    pub user_name: Option<String>,
    pub credentials_lost: bool,
    pub already_existed: bool,
    pub sealed: Option<SealedAt>,
}

/// Where a customer's password is sealed.
#[derive(Debug, Clone)]
pub enum SealedAt {
    /// In the age file of a batch (`credential_batches.id`), with the other customers of the
    /// transaction that created it.
    Batch(i64),
    /// In an age file of its own (journals written before batches).
    Own(Vec<u8>),
}

pub fn credentials(conn: &Connection) -> Result<Vec<CredentialRow>, rusqlite::Error> {
    // `status` and `export` do not migrate: a journal last worked by an older version has no
    // batches yet.
    let batch_column = if has_column(conn, "rows", "credential_batch")? {
        "r.credential_batch"
    } else {
        "NULL"
    };
    let already_existed = if has_column(conn, "rows", "already_existed")? {
        "r.already_existed"
    } else {
        "0"
    };
    let (reseller_name, resellers) = if has_table(conn, "resellers")? {
        ("s.name", "LEFT JOIN resellers s ON s.id = r.reseller")
    } else {
        ("NULL", "")
    };
    let mut statement = conn.prepare(&format!(
        "SELECT r.id, r.sheet_row, r.domain, r.company_name, r.reseller, {reseller_name},
                r.external_id, r.customer_id, c.user_name, r.credentials_lost, {already_existed},
                {batch_column}, c.sealed
         FROM rows r LEFT JOIN credentials c ON c.row_id = r.id {resellers}
         WHERE r.state = 'created' ORDER BY r.sheet_row, r.id"
    ))?;
    statement
        .query_map([], |r| {
            let batch: Option<i64> = r.get(11)?;
            let own: Option<Vec<u8>> = r.get(12)?;
            Ok(CredentialRow {
                row_id: r.get(0)?,
                sheet_row: r.get(1)?,
                domain: r.get(2)?,
                company_name: r.get(3)?,
                associated_partner_id: r.get(4)?,
                reseller_name: r.get(5)?,
                external_id: r.get(6)?,
                customer_id: r.get(7)?,
                user_name: r.get(8)?,
                credentials_lost: r.get(9)?,
                already_existed: r.get(10)?,
                sealed: batch.map(SealedAt::Batch).or(own.map(SealedAt::Own)),
            })
        })?
        .collect()
}

/// The age file of a batch of credentials.
pub fn credential_batch(conn: &Connection, batch_id: i64) -> Result<Vec<u8>, rusqlite::Error> {
    conn.query_row(
        "SELECT sealed FROM credential_batches WHERE id = ?1",
        [batch_id],
        |r| r.get(0),
    )
}

/// The failed and invalid rows whose content is acknowledged (none in a journal from before `ack`).
fn acknowledged(conn: &Connection) -> Result<i64, rusqlite::Error> {
    if !has_table(conn, "acknowledgements")? {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COUNT(*) FROM rows r JOIN acknowledgements a ON a.content_hash = r.content_hash
         WHERE r.state IN ('failed', 'invalid')",
        [],
        |r| r.get(0),
    )
}

pub fn has_table(conn: &Connection, table: &str) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// The sheet of a journal's import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Its path, as it was given.
    pub sheet: String,
    /// The hash of its bytes then.
    pub hash: Option<String>,
    /// The template it was read with (`built-in` or a path).
    pub template: Option<String>,
}

/// The sheet of the journal's most recent import.
pub fn last_import(conn: &Connection) -> Result<Option<Imported>, rusqlite::Error> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT sheet, sheet_hash, template FROM runs WHERE sheet IS NOT NULL
         ORDER BY id DESC LIMIT 1",
        [],
        |r| {
            Ok(Imported {
                sheet: r.get(0)?,
                hash: r.get(1)?,
                template: r.get(2)?,
            })
        },
    )
    .optional()
}

/// What the write-back appends to a row of the sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOutcome {
    pub state: String,
    pub customer_id: Option<String>,
    pub domain: Option<String>,
    pub error: Option<String>,
    /// The attestation's state (`done`, `pending`, ...), when one was asked for.
    pub attestation: Option<String>,
}

/// Each row's outcome by its number in the sheet; `Err` with a number two rows share (a journal
/// that holds rows of two sheets, `--add-sheet`).
pub fn outcomes_by_row(
    conn: &Connection,
) -> Result<Result<std::collections::HashMap<i64, RowOutcome>, i64>, rusqlite::Error> {
    let attestation = if has_table(conn, "steps")? {
        "(SELECT s.state FROM steps s WHERE s.row_id = rows.id AND s.step = 'attest_mca')"
    } else {
        "NULL"
    };
    let mut statement = conn.prepare(&format!(
        "SELECT sheet_row, state, customer_id, domain, last_error_message, {attestation}
         FROM rows ORDER BY sheet_row, id"
    ))?;
    let mut outcomes = std::collections::HashMap::new();
    let mut rows = statement.query([])?;
    while let Some(r) = rows.next()? {
        let number: i64 = r.get(0)?;
        let outcome = RowOutcome {
            state: r.get(1)?,
            customer_id: r.get(2)?,
            domain: r.get(3)?,
            error: r.get(4)?,
            attestation: r.get(5)?,
        };
        if outcomes.insert(number, outcome).is_some() {
            return Ok(Err(number));
        }
    }
    Ok(Ok(outcomes))
}
