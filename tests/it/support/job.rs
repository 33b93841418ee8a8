//! The real binary: bare (`csp_onboard`, `validate_json`), or as a job against an in-process
//! emulator (`Job`), with what its runs left behind.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::sheets::{Customer, csv_text, read_csv};
use super::workspace::Workspace;

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
            .env("XDG_STATE_HOME", self.ws.path("state"))
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

    /// The customer the emulator created for `domain` (the full name), with what it issued.
    pub fn issued(&self, domain: &str) -> csp_onboard::emulator::CustomerRecord {
        self.emulator
            .customers()
            .into_iter()
            .find(|c| c.domain == domain)
            .unwrap_or_else(|| panic!("the emulator never created {domain}"))
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
