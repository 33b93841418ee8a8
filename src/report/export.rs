//! `export`: the results file (CSV or XLSX, one line per sheet row, keyed by its number) and the
//! credentials — one private file (decrypted with the identity, mode 0600), or one per reseller
//! (`--by-reseller`), each holding exactly that reseller's customers, sealed to the reseller's own
//! recipient when the configuration names one.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use secrecy::{ExposeSecret, SecretString};

use crate::credentials::{CredentialError, Opener};
use crate::error::Error;
use crate::journal::queries::{self, CredentialRow, RESULT_COLUMNS, ResultRow, SealedAt};
use crate::report::table::{TableFormat, TableSpec, create, table_bytes, write_table};
use zeroize::Zeroizing;

fn cells(row: &ResultRow) -> [String; 15] {
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
        row.mca_attested.to_string(),
    ]
}

/// Writes the results to `out` (`.xlsx` → a workbook, `.csv` → CSV); returns the rows.
pub fn write_results(conn: &Connection, out: &Path) -> Result<usize, Error> {
    let format = TableFormat::of(out)?;
    let journal_error =
        |e: rusqlite::Error| Error::usage(format!("cannot read the journal: {e}"), None);
    let rows = queries::results(conn).map_err(journal_error)?;
    if format == TableFormat::Xlsx {
        let status = queries::status(conn).map_err(journal_error)?;
        let bytes = results_workbook(&rows, &status).map_err(|e| Error::Write {
            path: out.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let mut file = create(out, false)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|source| Error::Write {
                path: out.to_path_buf(),
                source,
            })?;
        return Ok(rows.len());
    }
    let lines: Vec<[String; 15]> = rows.iter().map(cells).collect();
    let spec = TableSpec {
        columns: &RESULT_COLUMNS,
        verbatim: &[],
        private: false,
        sheet: "Results",
    };
    write_table(out, &spec, &lines)?;
    Ok(rows.len())
}

/// The columns of the results workbook: the contract's ([`RESULT_COLUMNS`]), then the
/// reseller's name.
fn workbook_columns() -> impl Iterator<Item = &'static str> {
    RESULT_COLUMNS.iter().copied().chain(["reseller_name"])
}

/// Widths (characters) of [`workbook_columns`]: set, not measured, so a million-row workbook
/// costs no second pass.
const WORKBOOK_WIDTHS: [f64; 16] = [
    7.0, 32.0, 30.0, 38.0, 14.0, 10.0, 38.0, 38.0, 11.0, 60.0, 9.0, 16.0, 22.0, 15.0, 13.0, 26.0,
];

/// The results workbook a distributor forwards: "Results" with every row (first: the sheet
/// CONTRACTS.md describes), then "Summary" with one line per reseller, then one sheet per
/// reseller with its rows. Each sheet has its
/// header frozen and an autofilter; row numbers and attempts are numbers, flags are booleans,
/// everything else is text (so `=1+1` stays text and `00123` keeps its zeros).
fn results_workbook(
    rows: &[ResultRow],
    status: &queries::StatusReport,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let name_of = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| status.by_reseller.get(id))
            .and_then(|c| c.name.clone())
            .unwrap_or_default()
    };

    let mut by_reseller: BTreeMap<String, Vec<&ResultRow>> = BTreeMap::new();
    for row in rows {
        by_reseller
            .entry(row.associated_partner_id.clone().unwrap_or_default())
            .or_default()
            .push(row);
    }
    let mut sheets: Vec<(String, Vec<&ResultRow>)> =
        vec![("Results".into(), rows.iter().collect())];
    let mut taken: std::collections::HashSet<String> =
        ["summary".to_string(), "results".to_string()].into();
    for (id, list) in &by_reseller {
        let name = name_of(&Some(id.clone()));
        let base = if name.is_empty() { id.clone() } else { name };
        sheets.push((sheet_name(&base, &mut taken), list.clone()));
    }
    for (index, (name, list)) in sheets.into_iter().enumerate() {
        // Row after row, each written once: the sheet goes to a temporary file as it is written,
        // so a million-row journal does not need gigabytes.
        let sheet = workbook.add_worksheet_with_constant_memory();
        sheet.set_name(&name)?;
        for (c, width) in WORKBOOK_WIDTHS.iter().enumerate() {
            sheet.set_column_width(c as u16, *width)?;
        }
        for (c, column) in workbook_columns().enumerate() {
            sheet.write_string_with_format(0, c as u16, column, &bold)?;
        }
        for (r, row) in list.iter().enumerate() {
            let r = r as u32 + 1;
            let text = |v: &Option<String>| v.clone().unwrap_or_default();
            sheet.write_number(r, 0, row.row as f64)?;
            for (c, value) in [
                (1, text(&row.domain)),
                (2, text(&row.company_name)),
                (3, text(&row.associated_partner_id)),
                (4, text(&row.external_id)),
                (5, row.state.clone()),
                (6, text(&row.customer_id)),
                (7, text(&row.commerce_id)),
                (8, text(&row.error_code)),
                (9, text(&row.error_message)),
            ] {
                if !value.is_empty() {
                    sheet.write_string(r, c, value)?;
                }
            }
            sheet.write_number(r, 10, f64::from(row.attempts))?;
            for (c, flag) in [
                (11, row.credentials_lost),
                (12, row.changed_after_creation),
                (13, row.already_existed),
                (14, row.mca_attested),
            ] {
                sheet.write_boolean(r, c, flag)?;
            }
            let reseller = name_of(&row.associated_partner_id);
            if !reseller.is_empty() {
                sheet.write_string(r, 15, reseller)?;
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofilter(0, 0, list.len() as u32, WORKBOOK_WIDTHS.len() as u16 - 1)?;
        if index == 0 {
            // Second, after the contract's Results sheet (the first sheet programs read).
            let summary = workbook.add_worksheet();
            summary.set_name("Summary")?;
            let summary_columns = [
                "reseller_name",
                "associated_partner_id",
                "rows",
                "created",
                "failed",
                "invalid",
                "still to do",
                "mca_attested",
                "credentials_lost",
            ];
            for (c, name) in summary_columns.iter().enumerate() {
                summary.write_string_with_format(0, c as u16, *name, &bold)?;
            }
            for (r, (id, list)) in by_reseller.iter().enumerate() {
                let r = r as u32 + 1;
                let count = |f: &dyn Fn(&ResultRow) -> bool| {
                    list.iter().filter(|row| f(row)).count() as f64
                };
                summary.write_string(r, 0, name_of(&Some(id.clone())))?;
                summary.write_string(r, 1, id)?;
                summary.write_number(r, 2, list.len() as f64)?;
                summary.write_number(r, 3, count(&|x| x.state == "created"))?;
                summary.write_number(r, 4, count(&|x| x.state == "failed"))?;
                summary.write_number(r, 5, count(&|x| x.state == "invalid"))?;
                summary.write_number(
                    r,
                    6,
                    count(&|x| {
                        matches!(
                            x.state.as_str(),
                            "pending" | "retry_wait" | "in_flight" | "in_doubt"
                        )
                    }),
                )?;
                summary.write_number(r, 7, count(&|x| x.mca_attested))?;
                summary.write_number(r, 8, count(&|x| x.credentials_lost))?;
            }
            summary.set_freeze_panes(1, 0)?;
            summary.autofilter(
                0,
                0,
                by_reseller.len() as u32,
                summary_columns.len() as u16 - 1,
            )?;
            for (c, width) in [26.0, 38.0, 8.0, 9.0, 8.0, 9.0, 11.0, 13.0, 16.0]
                .iter()
                .enumerate()
            {
                summary.set_column_width(c as u16, *width)?;
            }
        }
    }
    workbook.save_to_buffer()
}

/// A worksheet name Excel accepts — at most 31 characters, none of `[]:*?/\`, unique
/// whatever the case — made from `base`.
fn sheet_name(base: &str, taken: &mut std::collections::HashSet<String>) -> String {
    let clean: String = base
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { ' ' } else { c })
        .collect();
    let clean = clean.trim().trim_matches('\'');
    let clean = if clean.is_empty() { "Reseller" } else { clean };
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!(" ({n})")
        };
        let room = 31 - suffix.chars().count();
        let cut: String = clean.chars().take(room).collect();
        // Excel refuses a name that ends (or begins) with an apostrophe, which a cut may leave.
        let name = cut.trim().trim_matches('\'').to_string() + &suffix;
        let name = if name.trim().is_empty() {
            format!("Reseller{suffix}")
        } else {
            name
        };
        if taken.insert(name.to_lowercase()) {
            return name;
        }
        n += 1;
    }
}

/// One created customer with its credentials opened (the password is `None` when it never reached
/// this journal: lost, or the customer already existed).
pub struct Opened {
    pub row: CredentialRow,
    pub user_name: String,
    pub password: Option<SecretString>,
}

impl Opened {
    /// What the customer's admin types to sign in: `admin@<domain>`.
    fn sign_in_name(&self) -> String {
        if self.user_name.contains('@') {
            self.user_name.clone()
        } else if !self.user_name.is_empty() {
            format!("{}@{}", self.user_name, self.row.domain)
        } else if self.row.credentials_lost {
            // Partner Center names every new customer's admin `admin`.
            format!("admin@{}", self.row.domain)
        } else {
            String::new()
        }
    }

    fn cells(&self) -> [String; 11] {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            self.row.domain.clone(),
            text(&self.row.company_name),
            text(&self.row.associated_partner_id),
            text(&self.row.customer_id),
            self.user_name.clone(),
            self.password
                .as_ref()
                .map(|p| p.expose_secret().to_string())
                .unwrap_or_default(),
            self.sign_in_name(),
            self.row.credentials_lost.to_string(),
            self.row.sheet_row.to_string(),
            text(&self.row.external_id),
            text(&self.row.reseller_name),
        ]
    }
}

/// The columns of a credentials file (CONTRACTS.md), in order.
pub const CREDENTIAL_COLUMNS: [&str; 11] = [
    "domain",
    "company_name",
    "associated_partner_id",
    "customer_id",
    "user_name",
    "password",
    "sign_in_name",
    "credentials_lost",
    "row",
    "external_id",
    "reseller_name",
];

const CREDENTIALS: TableSpec<'static> = TableSpec {
    columns: &CREDENTIAL_COLUMNS,
    verbatim: &["password"],
    private: true,
    sheet: "Credentials",
};

/// Opens every created customer's credentials with the identity — all of them before anything is
/// written, so a wrong key leaves no half-written file.
pub fn open_credentials(conn: &Connection, identity: &Path) -> Result<Vec<Opened>, Error> {
    let opener = Opener::from_file(identity)?;
    let unreadable =
        |e: rusqlite::Error| Error::usage(format!("cannot read the journal: {e}"), None);
    let rows = queries::credentials(conn).map_err(unreadable)?;
    let mut batches: HashMap<i64, HashMap<i64, (String, SecretString)>> = HashMap::new();
    let wrong_key = |e: CredentialError| {
        Error::usage(
            e.to_string(),
            Some("use the identity whose public key the run sealed to".into()),
        )
    };
    let mut opened = Vec::with_capacity(rows.len());
    for row in rows {
        let (user_name, password) = match &row.sealed {
            Some(SealedAt::Own(sealed)) => {
                let (user, password) = opener.open(&row.domain, sealed).map_err(wrong_key)?;
                (user, Some(password))
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
                    Some((user, password)) => (user.clone(), Some(password.clone())),
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
            None => (row.user_name.clone().unwrap_or_default(), None),
        };
        opened.push(Opened {
            row,
            user_name,
            password,
        });
    }
    Ok(opened)
}

/// How many customers a credentials file holds, and how many of them without a password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub customers: usize,
    pub without_password: usize,
}

fn counted(opened: &[&Opened]) -> Counted {
    Counted {
        customers: opened.len(),
        without_password: opened.iter().filter(|o| o.password.is_none()).count(),
    }
}

/// Writes the credentials into a new private file (CSV or a workbook, by its name).
pub fn write_credentials(opened: &[Opened], out: &Path) -> Result<Counted, Error> {
    let lines: Vec<[String; 11]> = opened.iter().map(Opened::cells).collect();
    write_table(out, &CREDENTIALS, &lines)?;
    Ok(counted(&opened.iter().collect::<Vec<_>>()))
}

/// One reseller's file of a bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub path: PathBuf,
    /// `None` for the partner's direct customers.
    pub reseller: Option<String>,
    pub reseller_name: Option<String>,
    pub counted: Counted,
    /// Sealed to the reseller's own recipient (the file is age, not a table).
    pub sealed: bool,
}

/// One private file per reseller in `dir`, holding exactly that reseller's customers; its name
/// carries the reseller's id. A reseller with its own recipient (`recipients`: reseller id →
/// `age1...`) gets its file sealed to it — `<name>.age` — so the plaintext never lands here.
pub fn write_bundles(
    opened: &[Opened],
    dir: &Path,
    format: TableFormat,
    recipients: &BTreeMap<String, String>,
) -> Result<Vec<Bundle>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut by_reseller: BTreeMap<Option<String>, Vec<&Opened>> = BTreeMap::new();
    for one in opened {
        let reseller = one
            .row
            .associated_partner_id
            .clone()
            .map(|r| r.to_lowercase());
        by_reseller.entry(reseller).or_default().push(one);
    }
    let extension = match format {
        TableFormat::Csv => "csv",
        TableFormat::Xlsx => "xlsx",
    };
    let mut bundles = Vec::new();
    for (reseller, customers) in by_reseller {
        let reseller_name = customers[0].row.reseller_name.clone();
        let stem = match (&reseller, &reseller_name) {
            (Some(id), Some(name)) => format!("credentials-{}-{id}", slug(name)),
            (Some(id), None) => format!("credentials-{id}"),
            (None, _) => "credentials-direct".to_string(),
        };
        let recipient = reseller.as_ref().and_then(|id| {
            recipients
                .iter()
                .find(|(r, _)| r.eq_ignore_ascii_case(id))
                .map(|(_, recipient)| recipient.clone())
        });
        let lines: Vec<[String; 11]> = customers.iter().map(|o| o.cells()).collect();
        let bytes = Zeroizing::new(table_bytes(format, &CREDENTIALS, &lines).map_err(
            |message| Error::Write {
                path: dir.to_path_buf(),
                source: std::io::Error::other(message),
            },
        )?);
        drop(lines);
        let (path, contents) = match &recipient {
            None => (dir.join(format!("{stem}.{extension}")), bytes),
            Some(recipient) => {
                let sealed = crate::credentials::seal_to(recipient, &bytes)?;
                (
                    dir.join(format!("{stem}.{extension}.age")),
                    Zeroizing::new(sealed),
                )
            }
        };
        let mut file = create(&path, true)?;
        file.write_all(&contents)
            .and_then(|()| file.sync_all())
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        bundles.push(Bundle {
            path,
            reseller,
            reseller_name,
            counted: counted(&customers),
            sealed: recipient.is_some(),
        });
    }
    Ok(bundles)
}

/// A reseller's name as a file name's part: `Adatum Resellers` → `adatum-resellers`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(40).collect()
}

#[cfg(test)]
mod sheet_name_tests {
    use super::*;

    #[test]
    fn sheet_names_are_ones_excel_accepts() {
        let mut taken = std::collections::HashSet::new();
        assert_eq!(
            sheet_name("Adatum Resellers", &mut taken),
            "Adatum Resellers"
        );
        assert_eq!(
            sheet_name("adatum resellers", &mut taken),
            "adatum resellers (2)"
        );
        assert_eq!(sheet_name("A/B [EU]: *?", &mut taken), "A B  EU");
        // Cut at 31 characters right after an apostrophe: the apostrophe goes.
        let name = sheet_name("Contoso Partners Noord-Holland' BV", &mut taken);
        assert!(
            !name.ends_with('\'') && name.chars().count() <= 31,
            "{name}"
        );
        assert_eq!(sheet_name("''", &mut taken), "Reseller");
    }
}
