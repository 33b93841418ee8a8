//! `export`: the results file (CSV or XLSX, one line per sheet row, keyed by its number) and the
//! credentials file (decrypted with the identity, mode 0600).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rusqlite::Connection;
use secrecy::{ExposeSecret, SecretString};

use crate::credentials::{CredentialError, Opener};
use crate::error::Error;
use crate::journal::queries::{self, RESULT_COLUMNS, ResultRow, SealedAt};

fn cells(row: &ResultRow) -> [String; 13] {
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
    ]
}

/// Writes the results to `out` (`.xlsx` → a workbook, anything else → CSV); returns the rows.
pub fn write_results(conn: &Connection, out: &Path) -> Result<usize, Error> {
    let rows = queries::results(conn)
        .map_err(|e| Error::usage(format!("cannot read the journal: {e}"), None))?;
    let write_error = |message: String| Error::Write {
        path: out.to_path_buf(),
        source: std::io::Error::other(message),
    };
    let is_xlsx = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    if is_xlsx {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        for (c, name) in RESULT_COLUMNS.iter().enumerate() {
            sheet
                .write_string_with_format(0, c as u16, *name, &bold)
                .map_err(|e| write_error(e.to_string()))?;
        }
        for (r, row) in rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, value) in cells(row).iter().enumerate() {
                if c == 0 || c == 10 {
                    let n: f64 = value.parse().unwrap_or_default();
                    sheet
                        .write_number(r, c as u16, n)
                        .map_err(|e| write_error(e.to_string()))?;
                } else {
                    sheet
                        .write_string(r, c as u16, value)
                        .map_err(|e| write_error(e.to_string()))?;
                }
            }
        }
        sheet.autofit();
        workbook.save(out).map_err(|e| write_error(e.to_string()))?;
    } else {
        let mut writer = csv::Writer::from_path(out).map_err(|e| write_error(e.to_string()))?;
        writer
            .write_record(RESULT_COLUMNS)
            .map_err(|e| write_error(e.to_string()))?;
        for row in &rows {
            writer
                .write_record(cells(row))
                .map_err(|e| write_error(e.to_string()))?;
        }
        writer.flush().map_err(|e| write_error(e.to_string()))?;
    }
    Ok(rows.len())
}

/// Decrypts every created customer's credentials into a new 0600 CSV. Customers whose credentials
/// were lost are listed with an empty password.
pub fn write_credentials(conn: &Connection, identity: &Path, out: &Path) -> Result<usize, Error> {
    let opener = Opener::from_file(identity).map_err(|e| Error::usage(e.to_string(), None))?;
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
    let write_error = |source: std::io::Error| Error::Write {
        path: out.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::usage(
                    format!("`{}` already exists", out.display()),
                    Some("credentials are never written over an existing file: remove it or name another".into()),
                )
            } else {
                write_error(e)
            }
        })?;
    let mut writer = csv::Writer::from_writer(file);
    writer
        .write_record([
            "domain",
            "company_name",
            "associated_partner_id",
            "customer_id",
            "user_name",
            "password",
        ])
        .map_err(|e| write_error(e.into()))?;
    for line in &lines {
        writer
            .write_record(line)
            .map_err(|e| write_error(e.into()))?;
    }
    writer.flush().map_err(write_error)?;
    Ok(lines.len())
}
