//! Shared fixtures for the integration tests: a temp workspace, sheet builders (CSV in any encoding,
//! xlsx through rust_xlsxwriter), and the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, Formula, Workbook};
use serde_json::Value;

/// The canonical headers, in the order the sample sheet uses.
pub const HEADERS: [&str; 17] = [
    "domain",
    "company_name",
    "email",
    "first_name",
    "last_name",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "phone_number",
    "culture",
    "language",
    "associated_partner_id",
    "organization_registration_number",
    "external_id",
];

pub const ADATUM: &str = "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01";
pub const LITWARE: &str = "6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02";

/// A customer row, valid until a test changes it.
#[derive(Debug, Clone)]
pub struct Customer {
    values: Vec<String>,
}

impl Customer {
    pub fn valid(prefix: &str) -> Customer {
        let values = [
            prefix,
            "Wingtip Toys",
            "gena@wingtiptoys.com",
            "Gena",
            "Soto",
            "One Microsoft Way",
            "",
            "Redmond",
            "WA",
            "98052",
            "US",
            "4255550101",
            "en-US",
            "en",
            ADATUM,
            "",
            "",
        ];
        Customer {
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Sets a canonical field.
    pub fn with(mut self, field: &str, value: &str) -> Customer {
        let index = HEADERS
            .iter()
            .position(|h| *h == field)
            .unwrap_or_else(|| panic!("no field {field}"));
        self.values[index] = value.to_string();
        self
    }

    pub fn cells(&self) -> Vec<String> {
        self.values.clone()
    }

    pub fn csv_line(&self) -> String {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        writer.write_record(&self.values).unwrap();
        String::from_utf8(writer.into_inner().unwrap()).unwrap()
    }
}

/// A CSV text with the canonical header and these customers.
pub fn csv_text(customers: &[Customer]) -> String {
    let mut text = HEADERS.join(",") + "\n";
    for c in customers {
        text.push_str(&c.csv_line());
    }
    text
}

/// A cell of an xlsx fixture.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Number(f64),
    /// A number shown through a number format, e.g. `00000`.
    Formatted(f64, &'static str),
    /// A formula with its cached result.
    Formula(&'static str, f64),
    Bool(bool),
    /// A date as Excel stores it (serial days), formatted `yyyy-mm-dd`.
    Date(f64),
    Empty,
}

pub fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

pub fn text_row(cells: &[String]) -> Vec<Cell> {
    cells.iter().map(|c| Cell::Text(c.clone())).collect()
}

pub fn header_row() -> Vec<Cell> {
    HEADERS.iter().map(|h| text(h)).collect()
}

/// A temp folder for one test's files.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// An xlsx workbook with these sheets, each a list of rows (`None` = an empty row).
    pub fn xlsx(&self, name: &str, sheets: &[(&str, Vec<Option<Vec<Cell>>>)]) -> PathBuf {
        let mut workbook = Workbook::new();
        for (sheet_name, rows) in sheets {
            let sheet = workbook.add_worksheet();
            sheet.set_name(*sheet_name).unwrap();
            for (r, row) in rows.iter().enumerate() {
                let Some(row) = row else { continue };
                for (c, cell) in row.iter().enumerate() {
                    let (r, c) = (r as u32, c as u16);
                    match cell {
                        Cell::Text(s) => {
                            sheet.write_string(r, c, s).unwrap();
                        }
                        Cell::Number(n) => {
                            sheet.write_number(r, c, *n).unwrap();
                        }
                        Cell::Formatted(n, format) => {
                            let format = Format::new().set_num_format(*format);
                            sheet.write_number_with_format(r, c, *n, &format).unwrap();
                        }
                        Cell::Formula(f, result) => {
                            let formula = Formula::new(*f).set_result(result.to_string());
                            sheet.write_formula(r, c, formula).unwrap();
                        }
                        Cell::Bool(b) => {
                            sheet.write_boolean(r, c, *b).unwrap();
                        }
                        Cell::Date(serial) => {
                            let format = Format::new().set_num_format("yyyy-mm-dd");
                            sheet
                                .write_number_with_format(r, c, *serial, &format)
                                .unwrap();
                        }
                        Cell::Empty => {}
                    }
                }
            }
        }
        let path = self.path(name);
        workbook.save(&path).unwrap();
        path
    }
}

/// The real binary.
pub fn csp_onboard() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("csp-onboard").unwrap();
    cmd.env_remove("CSP_ONBOARD_LOG");
    cmd
}

/// The outcome of `csp-onboard validate FILE --format json ARGS`.
pub struct Validation {
    pub code: i32,
    pub doc: Value,
    pub stderr: String,
}

impl Validation {
    /// The errors of one row, as (field, column, value, message).
    pub fn errors_of(&self, row: u64) -> Vec<&Value> {
        self.doc["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["row"] == row)
            .collect()
    }

    /// The fields with errors in one row, sorted.
    pub fn fields_of(&self, row: u64) -> Vec<String> {
        let mut fields: Vec<String> = self
            .errors_of(row)
            .iter()
            .map(|e| e["field"].as_str().unwrap_or("").to_string())
            .collect();
        fields.sort();
        fields
    }
}

pub fn validate_json(path: &Path, args: &[&str]) -> Validation {
    let out = csp_onboard()
        .arg("validate")
        .arg(path)
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}"));
    Validation {
        code: out.status.code().unwrap_or(-1),
        doc,
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A sheet as the reader delivered it.
#[derive(Debug)]
pub struct ReadSheet {
    pub header: csp_onboard::source::Header,
    /// (row number, cells)
    pub rows: Vec<(u64, Vec<String>)>,
    pub info: csp_onboard::source::SourceInfo,
}

impl ReadSheet {
    pub fn numbers(&self) -> Vec<u64> {
        self.rows.iter().map(|(n, _)| *n).collect()
    }

    /// The cell of a row (by its sheet number) under a header.
    pub fn cell(&self, row: u64, header: &str) -> &str {
        let column = self
            .header
            .cells
            .iter()
            .position(|h| h == header)
            .unwrap_or_else(|| panic!("no header {header} in {:?}", self.header.cells));
        let (_, cells) = self
            .rows
            .iter()
            .find(|(n, _)| *n == row)
            .unwrap_or_else(|| panic!("no row {row} in {:?}", self.numbers()));
        cells.get(column).map(String::as_str).unwrap_or("")
    }
}

/// Reads a sheet through the library's source module; a sheet is recognized when its first row has
/// a `domain` column.
pub fn read_sheet(
    path: &Path,
    options: &csp_onboard::source::SourceOptions,
) -> Result<ReadSheet, csp_onboard::source::SourceError> {
    use csp_onboard::source::{Header, RawRow, RowVisitor, SourceError};

    struct Collect {
        header: Option<Header>,
        rows: Vec<(u64, Vec<String>)>,
    }
    impl RowVisitor for Collect {
        type Error = SourceError;
        fn recognizes(&self, header: &[String]) -> bool {
            header.iter().any(|h| h.eq_ignore_ascii_case("domain"))
        }
        fn header(&mut self, header: &Header) -> Result<(), SourceError> {
            self.header = Some(header.clone());
            Ok(())
        }
        fn row(&mut self, row: &RawRow) -> Result<(), SourceError> {
            self.rows
                .push((row.number, row.cells.iter().map(str::to_owned).collect()));
            Ok(())
        }
    }
    let mut collect = Collect {
        header: None,
        rows: Vec::new(),
    };
    let info = csp_onboard::source::read(path, options, &mut collect)?;
    Ok(ReadSheet {
        header: collect.header.expect("a header"),
        rows: collect.rows,
        info,
    })
}

/// A bare-hands Partner Center client for testing the emulator's contract over real HTTP.
pub struct Pc {
    pub http: reqwest::Client,
    pub base: String,
    pub tenant: String,
}

/// What a call returned.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The Partner Center error code of an error body.
    pub fn code(&self) -> u64 {
        self.json()["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("no code in {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub const PC_SCOPE: &str =
    "https://api.partnercenter.microsoft.com/user_impersonation offline_access";

impl Pc {
    pub fn new(emulator: &csp_onboard::emulator::Emulator) -> Pc {
        Pc {
            http: reqwest::Client::new(),
            base: emulator.url().to_string(),
            tenant: emulator.tenant().to_string(),
        }
    }

    pub async fn form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        Self::reply(response).await
    }

    /// Exchanges a refresh token at the v2 endpoint; returns (access, refresh).
    pub async fn redeem(&self, refresh_token: &str) -> (String, String) {
        let reply = self
            .form(
                &format!("/{}/oauth2/v2.0/token", self.tenant),
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "test-client"),
                    ("refresh_token", refresh_token),
                    ("scope", PC_SCOPE),
                ],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let body = reply.json();
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        request_id: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Accept", "application/json")
            .header("MS-CorrelationId", "c0ffee00-0000-4000-8000-000000000001");
        if let Some(id) = request_id {
            request = request.header("MS-RequestId", id);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::reply(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(reqwest::Method::GET, path, token, None, None)
            .await
    }

    pub async fn create(&self, token: &str, body: &Value) -> Reply {
        let id = uuid::Uuid::new_v4().to_string();
        self.call(
            reqwest::Method::POST,
            "/v1/customers",
            token,
            Some(&id),
            Some(body),
        )
        .await
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            text,
        }
    }
}

/// A create-customer body (camelCase) for a US customer of the Adatum reseller.
pub fn create_body(prefix: &str) -> Value {
    serde_json::json!({
        "companyProfile": {"domain": format!("{prefix}.onmicrosoft.com")},
        "billingProfile": {
            "email": "gena@wingtiptoys.com", "culture": "en-US", "language": "en",
            "companyName": "Wingtip Toys",
            "defaultAddress": {
                "firstName": "Gena", "lastName": "Soto", "addressLine1": "One Microsoft Way",
                "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US",
                "phoneNumber": "4255550101"
            }
        },
        "associatedPartnerId": ADATUM
    })
}

/// A job against an in-process emulator: a workspace, a key pair, and the real binary pointed at
/// the emulator through the environment variables of CONTRACTS.md.
pub struct Job {
    pub ws: Workspace,
    pub emulator: csp_onboard::emulator::Emulator,
    pub identity: PathBuf,
    pub recipient: String,
    pub journal: PathBuf,
}

/// What one `run` / `resume` did.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Ran {
    fn from(out: std::process::Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Ran {
    /// The summary JSON: the last line on stdout.
    pub fn summary(&self) -> Value {
        let last = self.stdout.trim().lines().last().unwrap_or("");
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "last stdout line is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Job {
    pub fn new(config: csp_onboard::emulator::EmulatorConfig) -> Job {
        let ws = Workspace::new();
        let emulator = csp_onboard::emulator::Emulator::start(config).unwrap();
        let (contents, recipient) = csp_onboard::credentials::generate_identity();
        let identity = ws.path("identity.txt");
        csp_onboard::credentials::write_private_file(
            &identity,
            secrecy::ExposeSecret::expose_secret(&contents).as_bytes(),
        )
        .unwrap();
        std::fs::create_dir_all(ws.path("xdg")).unwrap();
        let journal = ws.path("job.journal.sqlite");
        Job {
            ws,
            emulator,
            identity,
            recipient,
            journal,
        }
    }

    /// The binary, configured for this job's emulator, in the workspace.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_csp-onboard"));
        cmd.args(args)
            .current_dir(self.ws.root())
            .env("CSP_ONBOARD_API_URL", self.emulator.url())
            .env("CSP_ONBOARD_AUTHORITY_URL", self.emulator.url())
            .env("CSP_ONBOARD_TENANT_ID", self.emulator.tenant())
            .env("CSP_ONBOARD_CLIENT_ID", "csp-onboard-tests")
            .env("CSP_ONBOARD_REFRESH_TOKEN", self.emulator.refresh_token())
            .env("CSP_ONBOARD_RECIPIENT", &self.recipient)
            .env("CSP_ONBOARD_TOKEN_CACHE", self.ws.path("tokens.json"))
            .env("XDG_CONFIG_HOME", self.ws.path("xdg"))
            .env("CSP_ONBOARD_LOG", "debug")
            .env_remove("CSP_ONBOARD_CLIENT_SECRET")
            .stdin(std::process::Stdio::null());
        cmd
    }

    pub fn sheet(&self, customers: &[Customer]) -> PathBuf {
        self.ws.write("customers.csv", csv_text(customers))
    }

    /// Runs `cmd` to its end.
    pub fn finish(mut cmd: std::process::Command) -> Ran {
        Ran::from(cmd.output().unwrap())
    }

    /// The command `run SHEET --journal J` with fast retries, plus `extra`.
    pub fn run_command(&self, sheet: &Path, extra: &[&str]) -> std::process::Command {
        let mut cmd = self.command(&["run"]);
        cmd.arg(sheet)
            .arg("--journal")
            .arg(&self.journal)
            .args(FAST)
            .args(extra);
        cmd
    }

    /// `run SHEET --journal J` with fast retries, plus `extra`, to its end.
    pub fn run(&self, sheet: &Path, extra: &[&str]) -> Ran {
        Self::finish(self.run_command(sheet, extra))
    }

    pub fn resume(&self, extra: &[&str]) -> Ran {
        let mut cmd = self.command(&["resume"]);
        cmd.arg("--journal").arg(&self.journal).args(extra);
        Self::finish(cmd)
    }

    pub fn status(&self) -> Value {
        let mut cmd = self.command(&["status", "--format", "json"]);
        cmd.arg("--journal").arg(&self.journal);
        let ran = Self::finish(cmd);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        serde_json::from_str(&ran.stdout).unwrap()
    }

    /// The results export, one map per line.
    pub fn results(&self) -> Vec<std::collections::HashMap<String, String>> {
        let out = self
            .ws
            .path(&format!("results-{}.csv", uuid::Uuid::new_v4()));
        let mut cmd = self.command(&["export", "--out"]);
        cmd.arg(&out).arg("--journal").arg(&self.journal);
        let ran = Self::finish(cmd);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        read_csv(&out)
    }

    /// The credentials export (with the job's identity), one map per line.
    pub fn credentials(&self) -> Vec<std::collections::HashMap<String, String>> {
        let out = self
            .ws
            .path(&format!("credentials-{}.csv", uuid::Uuid::new_v4()));
        let mut cmd = self.command(&["export", "--credentials", "--identity"]);
        cmd.arg(&self.identity)
            .arg("--out")
            .arg(&out)
            .arg("--journal")
            .arg(&self.journal);
        let ran = Self::finish(cmd);
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        read_csv(&out)
    }

    /// The create attempts the journal records, per domain: (outcome, HTTP status, correlation id
    /// of the attempt, correlation id of its run), and each row's attempt counter. Read straight
    /// from the SQLite file, as an operator investigating a row would.
    pub fn create_attempts(&self) -> std::collections::HashMap<String, (i64, Vec<AttemptSeen>)> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.journal,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut seen: std::collections::HashMap<String, (i64, Vec<AttemptSeen>)> =
            std::collections::HashMap::new();
        let mut rows = conn
            .prepare("SELECT domain, attempts FROM rows WHERE domain IS NOT NULL")
            .unwrap();
        for row in rows
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap()
        {
            let (domain, attempts) = row.unwrap();
            seen.insert(domain, (attempts, Vec::new()));
        }
        let mut attempts = conn
            .prepare(
                "SELECT r.domain, a.outcome, a.http_status, a.finished IS NOT NULL,
                        a.correlation_id, COALESCE(u.correlation_id, '')
                 FROM attempts a JOIN rows r ON r.id = a.row_id JOIN runs u ON u.id = a.run_id
                 WHERE a.kind = 'create'",
            )
            .unwrap();
        for attempt in attempts
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    AttemptSeen {
                        outcome: r.get(1)?,
                        http_status: r.get(2)?,
                        finished: r.get(3)?,
                        correlation_id: r.get(4)?,
                        run_correlation_id: r.get(5)?,
                    },
                ))
            })
            .unwrap()
        {
            let (domain, attempt) = attempt.unwrap();
            seen.get_mut(&domain).unwrap().1.push(attempt);
        }
        seen
    }

    /// Successful creates the emulator logged, answered or dropped.
    pub fn creates(&self) -> usize {
        self.emulator.created()
    }

    /// POSTs to /v1/customers the emulator saw, whatever their outcome.
    pub fn create_requests(&self) -> usize {
        self.emulator
            .log()
            .iter()
            .filter(|e| e.method == "POST" && e.path == "/v1/customers")
            .count()
    }
}

/// A create attempt as the journal records it.
#[derive(Debug)]
pub struct AttemptSeen {
    pub outcome: Option<String>,
    pub http_status: Option<i64>,
    pub finished: bool,
    pub correlation_id: String,
    pub run_correlation_id: String,
}

/// Retries without waiting, lookups every 50 ms: failure tests run in milliseconds.
pub const FAST: [&str; 6] = [
    "--backoff-base",
    "0",
    "--reconcile-interval",
    "0.05",
    "--no-progress",
    "--rate-limit=off",
];

pub fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            headers
                .iter()
                .map(str::to_owned)
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// `n` valid customers with distinct domains `{prefix}{i}`.
pub fn customers(prefix: &str, n: usize) -> Vec<Customer> {
    (0..n)
        .map(|i| Customer::valid(&format!("{prefix}{i}")))
        .collect()
}
