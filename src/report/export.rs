//! `export`: the results file (CSV or XLSX, one line per sheet row, keyed by its number) and the
//! credentials file (decrypted with the identity, mode 0600).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use rusqlite::Connection;
use secrecy::{ExposeSecret, SecretString};

use crate::credentials::{CredentialError, Opener};
use crate::error::Error;
use crate::journal::queries::{self, RESULT_COLUMNS, ResultRow, SealedAt};
use crate::report::table::{TableFormat, TableSpec, write_table};

fn cells(row: &ResultRow) -> [String; 14] {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        row.row.to_string(),
        text(&row.domain),
        text(&row.company_name),
        text(&row.associated_partner_id),
        text(&row.external_id),
        row.state.clone(),
        text(&row.customer_id),
        text(&row.commerce_id),
        text(&row.error_code),
        text(&row.error_message),
        row.attempts.to_string(),
        row.credentials_lost.to_string(),
        row.changed_after_creation.to_string(),
        row.already_existed.to_string(),
    ]
}

/// Writes the results to `out` (`.xlsx` → a workbook, `.csv` → CSV); returns the rows.
pub fn write_results(conn: &Connection, out: &Path) -> Result<usize, Error> {
    TableFormat::of(out)?;
    let rows = queries::results(conn)
        .map_err(|e| Error::usage(format!("cannot read the journal: {e}"), None))?;
    let lines: Vec<[String; 14]> = rows.iter().map(cells).collect();
    let spec = TableSpec {
        columns: &RESULT_COLUMNS,
        verbatim: &[],
        private: false,
        sheet: "Results",
    };
    write_table(out, &spec, &lines)?;
    Ok(rows.len())
}

/// Decrypts every created customer's credentials into a new 0600 CSV. Customers whose credentials
/// were lost are listed with an empty password.
pub fn write_credentials(conn: &Connection, identity: &Path, out: &Path) -> Result<usize, Error> {
    TableFormat::of(out)?;
    let opener = Opener::from_file(identity)?;
    let unreadable =
        |e: rusqlite::Error| Error::usage(format!("cannot read the journal: {e}"), None);
    let rows = queries::credentials(conn).map_err(unreadable)?;
    // Decrypt everything before writing anything: a wrong key leaves no half-written file.
    let mut batches: HashMap<i64, HashMap<i64, (String, SecretString)>> = HashMap::new();
    let wrong_key = |e: CredentialError| {
        Error::usage(
            e.to_string(),
            Some("use the identity whose public key the run sealed to".into()),
        )
    };
    let mut lines = Vec::with_capacity(rows.len());
    for row in &rows {
        let (user, password) = match &row.sealed {
            Some(SealedAt::Own(sealed)) => {
                let (user, password) = opener.open(&row.domain, sealed).map_err(wrong_key)?;
                (user, password.expose_secret().to_string())
            }
            Some(SealedAt::Batch(batch_id)) => {
                let batch = match batches.entry(*batch_id) {
                    Entry::Occupied(open) => open.into_mut(),
                    Entry::Vacant(slot) => {
                        let sealed =
                            queries::credential_batch(conn, *batch_id).map_err(unreadable)?;
                        let context = format!("{} (credential batch {batch_id})", row.domain);
                        slot.insert(opener.open_batch(&context, &sealed).map_err(wrong_key)?)
                    }
                };
                match batch.get(&row.row_id) {
                    Some((user, password)) => (user.clone(), password.expose_secret().to_string()),
                    None => {
                        return Err(Error::usage(
                            format!(
                                "the credentials of `{}` are missing from credential batch {batch_id}",
                                row.domain
                            ),
                            Some(
                                "the journal is damaged; `status` lists the customers created"
                                    .into(),
                            ),
                        ));
                    }
                }
            }
            None => (row.user_name.clone().unwrap_or_default(), String::new()),
        };
        lines.push([
            row.domain.clone(),
            row.company_name.clone().unwrap_or_default(),
            row.associated_partner_id.clone().unwrap_or_default(),
            row.customer_id.clone().unwrap_or_default(),
            user,
            password,
        ]);
    }
    let spec = TableSpec {
        columns: &[
            "domain",
            "company_name",
            "associated_partner_id",
            "customer_id",
            "user_name",
            "password",
        ],
        verbatim: &["password"],
        private: true,
        sheet: "Credentials",
    };
    write_table(out, &spec, &lines)?;
    Ok(lines.len())
}
