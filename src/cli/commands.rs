//! The onboarding commands: `run`, `resume`, `status`, `export`, `keygen`.

use std::path::Path;

use secrecy::ExposeSecret;
use serde_json::Value;

use super::args::{
    ExportArgs, KeygenArgs, OutputFormat, ReportArgs, ResumeArgs, RunArgs, StatusArgs,
};
use super::job_args::{Demo, demo_journal, resolve};
use crate::error::{Error, ExitCode};
use crate::job::{JobSettings, SheetInput, default_journal, run_job};
use crate::journal::{Access, Journal};
use crate::printer;

/// The settings of a job from its resolved configuration and flags.
fn job_settings(
    command: &'static str,
    sheet: Option<SheetInput>,
    journal: std::path::PathBuf,
    resolved: super::job_args::Resolved,
    progress: bool,
) -> JobSettings {
    JobSettings {
        command,
        sheet,
        journal,
        connection: resolved.connection,
        recipient: resolved.recipient,
        rate: resolved.rate,
        dispatch: resolved.dispatch,
        request_timeout: resolved.request_timeout,
        progress,
        rehearsal: resolved.remembered["emulator"] == serde_json::Value::Bool(true),
        remembered: resolved.remembered,
        queue: if command == "recover-credentials" {
            crate::dispatch::Queue::LostCredentials
        } else {
            crate::dispatch::Queue::Onboarding
        },
    }
}

/// The day agreed for `--attest-mca`: `--agreed-date`, checked, or today (UTC). An agreement
/// cannot have been accepted on a day still to come.
fn agreed_date(attest: bool, flag: Option<&str>) -> Result<Option<String>, Error> {
    let today = chrono::Utc::now().date_naive();
    match (attest, flag) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(Error::usage(
            "`--agreed-date` is the day of the Microsoft Customer Agreement's acceptance, and nothing is attested in this run".to_string(),
            Some("add `--attest-mca` (or `attest_mca = true` in the template)".into()),
        )),
        (true, None) => Ok(Some(today.format("%Y-%m-%d").to_string())),
        (true, Some(text)) => {
            let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                Error::usage(
                    format!(
                        "`--agreed-date {}`: not a date as `YYYY-MM-DD`",
                        crate::shown::shown(text)
                    ),
                    None,
                )
            })?;
            if date > today {
                return Err(Error::usage(
                    format!("`--agreed-date {date}` is after today ({today}): an agreement cannot have been accepted yet"),
                    None,
                ));
            }
            Ok(Some(date.format("%Y-%m-%d").to_string()))
        }
    }
}

/// Prints the outcome of a job: the summary JSON is the last line on stdout, whatever happened.
/// An error is handed back (to be rendered once, by the caller), after the summary is out.
fn finish_job(outcome: Result<crate::job::JobOutcome, Error>) -> Result<ExitCode, Error> {
    match outcome {
        Ok(outcome) => {
            let s = &outcome.summary;
            printer::note(&format!(
                "done: {} created ({} in this run, {} with credentials lost), {} failed, {} invalid, {} left to do, {} throttled, {:.1} s",
                s.created,
                s.created_this_run,
                s.credentials_lost,
                s.failed,
                s.invalid,
                s.pending,
                s.throttled,
                s.elapsed_s
            ));
            if let Some(recovered) = s.recovered {
                printer::note(&format!(
                    "credentials recovered for {recovered} customer(s) in all; {} still without",
                    s.credentials_lost
                ));
            }
            let a = s.attestations;
            if a.attested + a.pending + a.failed > 0 {
                printer::note(&format!(
                    "Microsoft Customer Agreement: {} attested, {} pending, {} failed",
                    a.attested, a.pending, a.failed
                ));
            }
            printer::out(&format!(
                "{}\n",
                serde_json::to_string(&outcome.summary).unwrap_or_default()
            ));
            match outcome.error {
                Some(error) => Err(error),
                None => Ok(outcome.exit),
            }
        }
        Err(error) => {
            // Before the journal was open: nothing of the job is known, so nothing is counted.
            let code = error.exit_code();
            printer::out(&format!(
                "{}\n",
                serde_json::json!({"created": 0, "failed": 0, "invalid": 0, "credentials_lost": 0,
                                   "throttled": 0, "elapsed_s": 0.0, "exit_code": code as i32,
                                   "created_this_run": 0, "pending": 0,
                                   "changed_after_creation": 0, "already_existed": 0,
                                   "attestations": {"attested": 0, "pending": 0, "failed": 0},
                                   "error": error.to_string()})
            ));
            Err(error)
        }
    }
}

pub fn run(args: RunArgs) -> Result<ExitCode, Error> {
    finish_job((|| {
        let template = args.sheet.template()?;
        let options = args.sheet.source_options()?;
        if !args.sheet.path.exists() {
            return Err(crate::source::SourceError::Io {
                path: args.sheet.path.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }
            .into());
        }
        let journal = match &args.journal {
            Some(path) => path.clone(),
            None if args.job.emulator => demo_journal(&args.sheet.path),
            None => default_journal(&args.sheet.path),
        };
        let demo = if args.job.emulator {
            Some(Demo::start(
                &journal,
                args.job.connection.locale.as_deref(),
            )?)
        } else {
            None
        };
        if let Some(demo) = &demo {
            printer::note(&format!(
                "rehearsal on the built-in emulator at {}: journal `{}`, key `{}` (in `{}`, git-ignored)",
                demo.emulator.url(),
                journal.display(),
                demo.identity.display(),
                demo.folder.display()
            ));
        }
        let attest = agreed_date(
            args.attest_mca || template.attest_mca,
            args.agreed_date.as_deref(),
        )?;
        let resolved = resolve(&args.job, &Value::Null, demo.as_ref())?;
        let sheet = SheetInput {
            path: args.sheet.path.clone(),
            options,
            template,
            add_sheet: args.add_sheet,
            retry_failed: args.retry_failed,
            preflight: args.preflight,
            attest_mca: attest,
        };
        let settings = job_settings("run", Some(sheet), journal, resolved, !args.job.no_progress);
        let outcome = run_job(settings);
        drop(demo);
        outcome
    })())
}

pub fn resume(args: ResumeArgs) -> Result<ExitCode, Error> {
    continue_job("resume", args)
}

/// `recover-credentials --journal J`: a new password for every created customer whose one-time
/// password never reached the journal.
pub fn recover_credentials(args: ResumeArgs) -> Result<ExitCode, Error> {
    continue_job("recover-credentials", args)
}

/// A job on a journal, with the last run's options unless flags override them.
fn continue_job(command: &'static str, args: ResumeArgs) -> Result<ExitCode, Error> {
    finish_job((|| {
        let remembered = {
            let journal = Journal::open(&args.journal, Access::Read)?;
            journal
                .last_run()?
                .map(|(options, _)| options)
                .unwrap_or(Value::Null)
        };
        let was_demo = remembered
            .get("emulator")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let demo = if args.job.emulator || was_demo {
            Some(Demo::start(
                &args.journal,
                args.job.connection.locale.as_deref(),
            )?)
        } else {
            None
        };
        let resolved = resolve(&args.job, &remembered, demo.as_ref())?;
        let settings = job_settings(
            command,
            None,
            args.journal.clone(),
            resolved,
            !args.job.no_progress,
        );
        let outcome = run_job(settings);
        drop(demo);
        outcome
    })())
}

fn open_for_reading(path: &Path) -> Result<Journal, Error> {
    Ok(Journal::open(path, Access::Read)?)
}

pub fn status(args: StatusArgs) -> Result<ExitCode, Error> {
    let journal = open_for_reading(&args.journal)?;
    let report = crate::report::status::load(&journal.conn).map_err(journal.sqlite())?;
    let mut text = Vec::new();
    match args.format {
        OutputFormat::Json => crate::report::status::write_json(&mut text, &report),
        OutputFormat::Text => crate::report::status::write_text(
            &mut text,
            &journal.conn,
            &report,
            &args.journal.display().to_string(),
        ),
    }
    .map_err(|source| Error::Write {
        path: "<stdout>".into(),
        source,
    })?;
    printer::out(&String::from_utf8_lossy(&text));
    Ok(ExitCode::Success)
}

pub fn report(args: ReportArgs) -> Result<ExitCode, Error> {
    let html = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    if !html {
        return Err(Error::usage(
            format!("`{}` is not an .html file", args.out.display()),
            Some(
                "the report is an HTML page: name it `report.html` (a browser prints it to PDF)"
                    .into(),
            ),
        ));
    }
    let journal = open_for_reading(&args.journal)?;
    let report =
        crate::report::html::Report::load(&journal.conn, &args.journal.display().to_string())
            .map_err(journal.sqlite())?;
    let page = crate::report::html::render(&report);
    let name = args
        .out
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    let staged = args.out.with_file_name(format!(".{name}.partial"));
    let write_error = |source| Error::Write {
        path: args.out.clone(),
        source,
    };
    std::fs::write(&staged, page).map_err(write_error)?;
    std::fs::rename(&staged, &args.out).map_err(|source| {
        let _ = std::fs::remove_file(&staged);
        write_error(source)
    })?;
    printer::note(&format!(
        "wrote {}: {} run(s), {} row(s) needing attention",
        args.out.display(),
        report.status.runs.len(),
        report.attention.len() + report.more_attention
    ));
    Ok(ExitCode::Success)
}

pub fn export(args: ExportArgs) -> Result<ExitCode, Error> {
    let journal = open_for_reading(&args.journal)?;
    if let Some(out) = &args.write_back {
        let written =
            crate::report::write_back::write_back(&journal.conn, args.from.as_deref(), out)?;
        printer::note(&format!(
            "wrote {} with the outcome of {} row(s) beside its own columns",
            out.display(),
            written.rows
        ));
        return Ok(ExitCode::Success);
    }
    if !args.credentials {
        let out = args.out.as_deref().expect("clap requires --out");
        let n = crate::report::export::write_results(&journal.conn, out)?;
        printer::note(&format!("wrote {n} row(s) to {}", out.display()));
        return Ok(ExitCode::Success);
    }
    let identity = args
        .identity
        .as_deref()
        .ok_or_else(|| Error::usage("`--credentials` needs `--identity KEY`", None))?;
    let opened = crate::report::export::open_credentials(&journal.conn, identity)?;
    let without = |n: usize| {
        if n == 0 {
            String::new()
        } else {
            format!(
                "; {n} with no password (lost, or the customer already existed: `recover-credentials` gives lost ones a new one)"
            )
        }
    };
    match (&args.by_reseller, &args.out) {
        (Some(dir), _) => {
            let file = super::config::ConfigFile::discover(
                args.connection.config.as_deref(),
                args.connection.profile.as_deref(),
            )?;
            let recipients = file.reseller_recipients();
            let bundles = crate::report::export::write_bundles(
                &opened,
                dir,
                args.bundle_format,
                &recipients,
            )?;
            for bundle in &bundles {
                let whose = match (&bundle.reseller_name, &bundle.reseller) {
                    (Some(name), Some(id)) => format!("{name} ({id})"),
                    (None, Some(id)) => id.clone(),
                    _ => "direct customers".into(),
                };
                printer::note(&format!(
                    "{whose}: {} customer(s) in {}{}{}",
                    bundle.counted.customers,
                    bundle.path.display(),
                    if bundle.sealed {
                        ", sealed to the reseller's own key"
                    } else {
                        ""
                    },
                    without(bundle.counted.without_password)
                ));
            }
            let total: usize = bundles.iter().map(|b| b.counted.customers).sum();
            printer::note(&format!(
                "wrote the credentials of {total} customer(s) in {} file(s) in {} (readable by you only)",
                bundles.len(),
                dir.display()
            ));
        }
        (None, Some(out)) => {
            let counted = crate::report::export::write_credentials(&opened, out)?;
            printer::note(&format!(
                "wrote the credentials of {} customer(s) to {} (readable by you only){}",
                counted.customers,
                out.display(),
                without(counted.without_password)
            ));
        }
        (None, None) => unreachable!("clap requires --out or --by-reseller"),
    }
    Ok(ExitCode::Success)
}

pub fn keygen(args: KeygenArgs) -> Result<ExitCode, Error> {
    let (contents, recipient) = crate::credentials::generate_identity();
    crate::credentials::write_private_file(&args.out, contents.expose_secret().as_bytes())
        .map_err(|error| {
            Error::usage(
                error.to_string(),
                Some("choose another file name with `--out`".into()),
            )
        })?;
    printer::note(&format!(
        "wrote the identity to {} (keep it safe: it opens the admin passwords)",
        args.out.display()
    ));
    printer::out(&format!("{recipient}\n"));
    printer::note(&format!(
        "set CSP_ONBOARD_RECIPIENT={recipient} where the runs happen"
    ));
    Ok(ExitCode::Success)
}

/// `12,40-42` → 12, 40, 41, 42.
fn parse_rows(text: &str) -> Result<Vec<i64>, Error> {
    let bad = |part: &str| {
        Error::usage(
            format!("`{part}` is not a row number or a range of them"),
            Some("write rows as your spreadsheet numbers them: `12,40-42`".into()),
        )
    };
    let mut rows = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |t: &str| t.trim().parse::<i64>().ok().filter(|n| *n >= 1);
        match part.split_once('-') {
            Some((from, to)) => {
                let (Some(from), Some(to)) = (number(from), number(to)) else {
                    return Err(bad(part));
                };
                if to < from || to - from > 100_000 {
                    return Err(bad(part));
                }
                rows.extend(from..=to);
            }
            None => rows.push(number(part).ok_or_else(|| bad(part))?),
        }
    }
    if rows.is_empty() {
        return Err(bad(text));
    }
    rows.sort_unstable();
    rows.dedup();
    Ok(rows)
}

pub fn ack(args: super::args::AckArgs) -> Result<ExitCode, Error> {
    let rows = parse_rows(&args.rows)?;
    let journal = Journal::open(&args.journal, Access::Work)?;
    let done = journal
        .acknowledge(&rows, args.note.as_deref())?
        .map_err(|message| {
            Error::usage(
                message,
                Some("`csp-onboard status --journal J` lists the rows that need attention".into()),
            )
        })?;
    let listed = done
        .iter()
        .map(|(row, state)| format!("{row} ({state})"))
        .collect::<Vec<_>>()
        .join(", ");
    printer::note(&format!(
        "acknowledged {} row(s): {listed}; they no longer make a run exit 1, until their content changes",
        done.len()
    ));
    Ok(ExitCode::Success)
}
