//! Raw arguments (clap derive) and their first check into the settings the library takes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::Error;
use crate::mapping::Template;
use crate::source::{self, SheetChoice, SourceOptions, WorkbookReader};

#[derive(Debug, Parser)]
#[command(
    name = "csp-onboard",
    version,
    about = "Onboard customers into Microsoft Partner Center in bulk, from a CSV or Excel sheet",
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Only warnings and errors on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// How log lines on stderr are written: `text` for people, `json` for unattended runs (every
    /// stderr line one JSON object).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Colour on stderr: `auto` (a terminal, and `NO_COLOR` unset), `always` or `never`.
    #[arg(long, global = true, value_enum, default_value_t = crate::printer::ColorChoice::Auto)]
    pub color: crate::printer::ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a sheet offline: every problem of every row, nothing sent.
    #[command(after_help = "Examples:
  csp-onboard validate customers.xlsx
  csp-onboard validate customers.csv --format json
  csp-onboard validate klanten.csv --template nl.toml --errors-out errors.csv")]
    Validate(ValidateArgs),
    /// Write the starter files (default template, sample sheets) into a folder.
    #[command(after_help = "Examples:
  csp-onboard template
  csp-onboard template starter/
  csp-onboard template --lang nl      # nl.toml, customers-nl.csv, customers-nl.xlsx")]
    Template(TemplateArgs),
    /// Import a sheet into its journal and create every valid customer.
    #[command(after_help = "Examples:
  csp-onboard run templates/customers.csv --emulator      # a rehearsal
  csp-onboard run customers.xlsx                          # journal: customers.journal.sqlite
  csp-onboard run nightly.csv --journal jobs/nl.sqlite --profile nl --no-progress --log-format json")]
    Run(RunArgs),
    /// Continue a job from its journal: reconcile, then send what is left.
    #[command(after_help = "Examples:
  csp-onboard resume --journal customers.journal.sqlite
  csp-onboard resume --journal csp-onboard-demo/customers.journal.sqlite --emulator")]
    Resume(ResumeArgs),
    /// Give every created customer whose one-time password was lost a new one: the admin's
    /// password is reset (it must be changed at the next sign-in) and sealed in the journal.
    #[command(after_help = "Examples:
  csp-onboard recover-credentials --journal customers.journal.sqlite
  csp-onboard export --journal customers.journal.sqlite --credentials --identity key.txt --out passwords.xlsx")]
    RecoverCredentials(ResumeArgs),
    /// Where a job stands, from its journal.
    #[command(after_help = "Examples:
  csp-onboard status --journal customers.journal.sqlite
  csp-onboard status --journal customers.journal.sqlite --format json")]
    Status(StatusArgs),
    /// Write the results (CSV/XLSX) or, with the identity, the admin credentials.
    #[command(after_help = "Examples:
  csp-onboard export --journal customers.journal.sqlite --out results.xlsx
  csp-onboard export --journal customers.journal.sqlite --credentials --identity key.txt --out passwords.xlsx")]
    Export(ExportArgs),
    /// Write a one-page HTML report of a job: requests against the limit, outcomes per reseller,
    /// attestations, the rows that need attention and what to do, the run history.
    #[command(after_help = "Examples:
  csp-onboard report --journal customers.journal.sqlite --out report.html
  csp-onboard report --journal /var/lib/csp-onboard/nightly.journal.sqlite --out /srv/reports/$(date +%F).html")]
    Report(ReportArgs),
    /// Create a key pair for sealing the admin credentials (an age X25519 identity).
    #[command(after_help = "Examples:
  csp-onboard keygen --out key.txt      # prints the recipient (age1...) to configure")]
    Keygen(KeygenArgs),
    /// Run a local Partner Center emulator on loopback.
    #[command(after_help = "Examples:
  csp-onboard emulator --port 8700
  csp-onboard emulator --port 8700 --latency-ms 2000 --jitter-ms 1000 --rate-limit 50/6s")]
    Emulator(crate::emulator::cli::EmulatorArgs),
    /// Sign in to Partner Center (device code, with MFA) and keep the sign-in for later runs.
    #[command(after_help = "Examples:
  csp-onboard login
  csp-onboard login --profile se --tenant 11111111-2222-3333-4444-555555555555
  CSP_ONBOARD_TOKEN_KEY_FILE=/run/credentials/csp.service/token-key csp-onboard login")]
    Login(super::sign_in::LoginArgs),
    /// Forget the kept sign-in.
    #[command(after_help = "Examples:
  csp-onboard logout
  csp-onboard logout --profile se")]
    Logout(super::sign_in::LogoutArgs),
    /// Check the configuration, the sign-in and the access, and say how to fix what is wrong.
    #[command(after_help = "Examples:
  csp-onboard doctor
  csp-onboard doctor --profile nl --format json")]
    Doctor(super::doctor::DoctorArgs),
    /// Mark failed or invalid rows as dealt with, so that they no longer make runs exit 1.
    #[command(after_help = "Examples:
  csp-onboard ack --journal customers.journal.sqlite --rows 12,40-42
  csp-onboard ack --journal customers.journal.sqlite --rows 7 --note \"reseller onboards it by hand\"")]
    Ack(AckArgs),
    /// Print a shell completion script: `bash`, `zsh`, `fish` or `powershell`.
    #[command(after_help = "Examples:
  csp-onboard completions bash > /etc/bash_completion.d/csp-onboard
  csp-onboard completions zsh > ~/.zfunc/_csp-onboard")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `csp-onboard man > csp-onboard.1`.
    #[command(after_help = "Examples:
  csp-onboard man > /usr/local/share/man/man1/csp-onboard.1")]
    Man,
    /// Internal: read an xls, xlsb or ods workbook for the parent process, under memory and CPU
    /// limits (src/source/isolated.rs).
    #[command(name = crate::source::READ_WORKBOOK, hide = true)]
    ReadWorkbook(ReadWorkbookArgs),
}

#[derive(Debug, Args)]
pub struct ReadWorkbookArgs {
    pub path: PathBuf,
    #[arg(long)]
    pub sheet: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sheet: SheetArgs,

    /// The journal (SQLite file). Default: `<sheet stem>.journal.sqlite` beside the sheet.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// Send failed rows again even if their content did not change.
    #[arg(long)]
    pub retry_failed: bool,

    /// Ask Partner Center about every new row first (as `validate --online`): a row it would
    /// refuse is recorded invalid, with why, and not sent.
    #[arg(long)]
    pub preflight: bool,

    /// Put this sheet's rows in a journal made from another sheet (refused otherwise, when the
    /// two share no row).
    #[arg(long)]
    pub add_sheet: bool,

    /// After each customer is created, attest its acceptance of the Microsoft Customer Agreement
    /// (the contact is the row's name, email and phone; global cloud only). Customers this journal
    /// created before are attested too. Also the template key `attest_mca = true`.
    #[arg(long)]
    pub attest_mca: bool,

    /// The day the customers accepted the agreement, `YYYY-MM-DD` (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub agreed_date: Option<String>,

    #[command(flatten)]
    pub job: super::job_args::JobArgs,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The journal of the job.
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,

    #[command(flatten)]
    pub job: super::job_args::JobArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,

    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,

    /// The page to write (`.html`); self-contained, it opens offline and prints.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,

    /// The file to write (`.csv`, or `.xlsx` for a workbook): the results, or with
    /// `--credentials` the admin credentials.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["by_reseller", "write_back"]
    )]
    pub out: Option<PathBuf>,

    /// Export the admin credentials instead of the results (needs `--identity`).
    #[arg(long, requires = "identity")]
    pub credentials: bool,

    /// The identity file (private key) the credentials were sealed to.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// With `--credentials`: one file per reseller in DIR, holding exactly its customers (sealed
    /// to the reseller's own recipient when `[resellers."<id>"] recipient` names one).
    #[arg(
        long,
        value_name = "DIR",
        requires = "credentials",
        conflicts_with = "out"
    )]
    pub by_reseller: Option<PathBuf>,

    /// The format of the `--by-reseller` files: `csv` (default) or `xlsx`.
    #[arg(long, value_enum, default_value = "csv")]
    pub bundle_format: crate::report::table::TableFormat,

    /// A copy of the sheet the journal imported (xlsx → xlsx, CSV → CSV), its own columns
    /// untouched, with each row's state, customer id, sign-in name, error and attestation appended.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["out", "credentials"])]
    pub write_back: Option<PathBuf>,

    /// With `--write-back`: the sheet, when it is no longer where it was imported from.
    #[arg(long, value_name = "SHEET", requires = "write_back")]
    pub from: Option<PathBuf>,

    #[command(flatten)]
    pub connection: super::connection::ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// The journal of the job.
    #[arg(long, value_name = "FILE")]
    pub journal: PathBuf,

    /// The rows, as the spreadsheet numbers them: `12,40-42`.
    #[arg(long, value_name = "ROWS")]
    pub rows: String,

    /// Why (kept with the acknowledgement).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the identity (private key).
    #[arg(long, value_name = "FILE", default_value = "csp-onboard-identity.txt")]
    pub out: PathBuf,
}

/// Which sheet to read and how.
#[derive(Debug, Args)]
pub struct SheetArgs {
    /// The sheet: .csv, .txt, .tsv, .xlsx, .xlsm, .xlsb, .xls or .ods.
    pub path: PathBuf,

    /// The worksheet of a workbook, by name or 1-based number. Default: the first sheet whose first
    /// row holds the expected headers.
    #[arg(long)]
    pub sheet: Option<String>,

    /// The mapping template (TOML). Default: the built-in one (see `csp-onboard template`).
    #[arg(long)]
    pub template: Option<PathBuf>,

    /// The CSV delimiter: `,` `;` `tab` `|` (default: detected).
    #[arg(long)]
    pub delimiter: Option<String>,

    /// The text encoding of a CSV: `utf-8`, `utf-16le`, `windows-1252`, ... (default: detected).
    #[arg(long)]
    pub encoding: Option<String>,
}

impl SheetArgs {
    pub fn template(&self) -> Result<Template, Error> {
        Ok(match &self.template {
            Some(path) => Template::load(path)?,
            None => Template::builtin(),
        })
    }

    pub fn source_options(&self) -> Result<SourceOptions, Error> {
        let delimiter = self.delimiter.as_deref().map(parse_delimiter).transpose()?;
        let encoding = match &self.encoding {
            None => None,
            Some(label) => Some(source::encoding_for_label(label).ok_or_else(|| {
                Error::usage(
                    format!("`{label}` is not an encoding csp-onboard knows"),
                    Some("try `utf-8`, `utf-16le`, `utf-16be` or `windows-1252`".into()),
                )
            })?),
        };
        Ok(SourceOptions {
            sheet: match &self.sheet {
                Some(name) => SheetChoice::Named(name.clone()),
                None => SheetChoice::FirstRecognized,
            },
            delimiter,
            encoding,
            workbook_reader: WorkbookReader::isolated(),
            untrimmed: false,
        })
    }
}

fn parse_delimiter(text: &str) -> Result<u8, Error> {
    match text {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "\t" | "\\t" | "tab" => Ok(b'\t'),
        "|" | "pipe" => Ok(b'|'),
        other => Err(Error::usage(
            format!("`{other}` is not a delimiter csp-onboard reads"),
            Some("use `,`, `;`, `tab` or `|`".into()),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub sheet: SheetArgs,

    /// `text` for people, `json` for programs (one document on stdout).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Also write the errors as CSV (row, column, field, value, message) to this file.
    #[arg(long, value_name = "FILE")]
    pub errors_out: Option<PathBuf>,

    /// Also ask Partner Center: resellers, taken domains, each country's rules, the address
    /// validation (within the rate budget; nothing is created).
    #[arg(long)]
    pub online: bool,

    /// With `--online`: requests per period, as for `run` (default 500/min).
    #[arg(long, value_name = "N/PERIOD", requires = "online")]
    pub rate_limit: Option<crate::rate::RateSetting>,

    /// With `--online`: ask the built-in emulator (the rehearsal's, as `run --emulator` has it).
    #[arg(long, requires = "online")]
    pub emulator: bool,

    #[command(flatten)]
    pub connection: super::connection::ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Where to write the starter files.
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,

    /// Write the template and sample sheet with headers in this language: nl, fr, sv, de, zh-TW
    /// (zh-Hant), zh-CN (zh-Hans), ja, ko, es, it, pt, da, no, fi, pl.
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
}
