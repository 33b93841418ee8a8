//! A job run end to end — `run` (import, then dispatch) and `resume` (dispatch only): the one
//! place that wires the journal, the Partner Center client, the pacer and the dispatcher together,
//! handles Ctrl-C, and turns the journal's final state into the summary and the exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Serialize;

use crate::auth::{AuthSettings, TokenProvider};
use crate::credentials::Sealer;
use crate::dispatch::{DispatchSettings, Dispatcher, Ending, Pacer, StopSignal};
use crate::error::{Error, ExitCode};
use crate::journal::import::{ImportSummary, file_hash};
use crate::journal::writer::JournalWriter;
use crate::journal::{Access, Journal, ops, queries};
use crate::mapping::Template;
use crate::partner_center::PartnerCenter;
use crate::rate::RateSetting;
use crate::source::SourceOptions;

/// Where Partner Center is and who we are there.
#[derive(Debug, Clone)]
pub struct Connection {
    pub api_url: String,
    pub authority_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
    pub token_cache: PathBuf,
}

/// The sheet to import (`run` only).
pub struct SheetInput {
    pub path: PathBuf,
    pub options: SourceOptions,
    pub template: Template,
}

pub struct JobSettings {
    /// `run` or `resume`.
    pub command: &'static str,
    pub sheet: Option<SheetInput>,
    pub journal: PathBuf,
    pub retry_failed: bool,
    pub connection: Connection,
    pub recipient: String,
    pub rate: RateSetting,
    pub dispatch: DispatchSettings,
    pub request_timeout: Duration,
    pub progress: bool,
    /// Settings `resume` reuses (never secrets), stored with the run.
    pub remembered: serde_json::Value,
}

/// The last line of `run` and `resume` (CONTRACTS.md).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub created: i64,
    pub failed: i64,
    pub invalid: i64,
    pub credentials_lost: i64,
    pub throttled: i64,
    pub elapsed_s: f64,
    pub exit_code: i32,
}

pub struct JobOutcome {
    pub summary: Summary,
    pub exit: ExitCode,
    pub import: Option<ImportSummary>,
}

/// Runs a job to its end. Human-facing lines go to stderr; the caller prints the summary.
pub fn run_job(settings: JobSettings) -> Result<JobOutcome, Error> {
    let started = Instant::now();
    let sealer = Sealer::new(&settings.recipient).map_err(|e| Error::usage(e.to_string(), None))?;
    let access = if settings.command == "run" {
        Access::CreateAndWork
    } else {
        Access::Work
    };
    let mut journal = Journal::open(&settings.journal, access)?;
    let run_id = begin(&journal, &settings)?;
    let import = match &settings.sheet {
        Some(sheet) => Some(import_sheet(
            &mut journal,
            sheet,
            run_id,
            settings.retry_failed,
        )?),
        None => None,
    };
    let recovered = journal.recover_in_flight(run_id)?;
    if recovered > 0 {
        eprintln!(
            "{recovered} row(s) were in flight when the last run stopped: reconciling them first"
        );
    }
    let queued = ops::work_count(&journal.conn).map_err(journal.sqlite())?;
    let journal_path = journal.path().to_path_buf();
    let writer = Arc::new(JournalWriter::start(journal, sealer)?);

    let ending = if queued == 0 {
        Ending::Complete
    } else {
        eprintln!(
            "sending {} row(s) to {} at {}",
            queued,
            settings.connection.api_url,
            describe_rate(settings.rate)
        );
        dispatch(&settings, writer.clone(), run_id, queued)?
    };

    // The journal is the truth: the outcome is read back from it, not from the run's memory.
    let status = {
        let journal = Journal::open(&journal_path, Access::Read)?;
        queries::status(&journal.conn).map_err(journal.sqlite())?
    };
    let exit = exit_code(&ending, &status);
    let code = exit as i32;
    finish(&writer, run_id, code)?;
    drop(writer);
    let throttled = status
        .runs
        .iter()
        .find(|r| r.id == run_id)
        .map_or(0, |r| r.throttled);
    if let Ending::AuthStopped(why) = &ending {
        eprintln!("error: the run stopped: {why}");
        eprintln!(
            "hint: fix the sign-in or permissions, then run `csp-onboard resume --journal {}`",
            journal_path.display()
        );
    }
    if ending == Ending::Interrupted {
        eprintln!(
            "interrupted — run `csp-onboard resume --journal {}`",
            journal_path.display()
        );
    }
    Ok(JobOutcome {
        summary: Summary {
            created: status.count(crate::journal::RowState::Created),
            failed: status.count(crate::journal::RowState::Failed),
            invalid: status.count(crate::journal::RowState::Invalid),
            credentials_lost: status.credentials_lost,
            throttled,
            elapsed_s: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            exit_code: code,
        },
        exit,
        import,
    })
}

fn begin(journal: &Journal, settings: &JobSettings) -> Result<i64, Error> {
    let (sheet, hash, template) = match &settings.sheet {
        Some(sheet) => {
            let hash = file_hash(&sheet.path).map_err(|source| crate::source::SourceError::Io {
                path: sheet.path.clone(),
                source,
            })?;
            (
                Some(sheet.path.display().to_string()),
                Some(hash),
                Some(sheet.template.origin.clone()),
            )
        }
        None => (None, None, None),
    };
    Ok(journal.begin_run(
        settings.command,
        sheet.as_deref(),
        hash.as_deref(),
        template.as_deref(),
        &settings.remembered,
    )?)
}

fn import_sheet(
    journal: &mut Journal,
    sheet: &SheetInput,
    run_id: i64,
    retry_failed: bool,
) -> Result<ImportSummary, Error> {
    let summary = journal.import(
        &sheet.path,
        &sheet.options,
        &sheet.template,
        run_id,
        retry_failed,
    )?;
    for warning in &summary.warnings {
        eprintln!("warning: {}", crate::report::validation::describe(warning));
    }
    eprintln!(
        "imported {} row(s) from {}: {} new, {} re-queued, {} already created{}, {} invalid",
        summary.rows,
        sheet.path.display(),
        summary.new,
        summary.requeued,
        summary.already_created,
        if summary.changed_after_creation > 0 {
            format!(
                " ({} changed after creation)",
                summary.changed_after_creation
            )
        } else {
            String::new()
        },
        summary.invalid,
    );
    Ok(summary)
}

fn finish(writer: &JournalWriter, run_id: i64, code: i32) -> Result<(), Error> {
    let runtime = runtime()?;
    runtime.block_on(writer.exec(move |tx| ops::finish_run(tx, run_id, code)))?;
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::usage(format!("cannot start the async runtime: {e}"), None))
}

fn dispatch(
    settings: &JobSettings,
    writer: Arc<JournalWriter>,
    run_id: i64,
    queued: u64,
) -> Result<Ending, Error> {
    let http = reqwest::Client::builder()
        .timeout(settings.request_timeout)
        .connect_timeout(Duration::from_secs(10).min(settings.request_timeout))
        .pool_max_idle_per_host(settings.dispatch.concurrency)
        .user_agent(concat!("csp-onboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::usage(format!("cannot build the HTTP client: {e}"), None))?;
    let connection = &settings.connection;
    let auth = Arc::new(TokenProvider::new(
        http.clone(),
        AuthSettings {
            authority_url: connection.authority_url.clone(),
            tenant_id: connection.tenant_id.clone(),
            client_id: connection.client_id.clone(),
            client_secret: connection.client_secret.clone(),
            refresh_token: connection.refresh_token.clone(),
            cache_path: connection.token_cache.clone(),
        },
    ));
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let runtime = runtime()?;
    let recorded = correlation_id.clone();
    runtime.block_on(writer.exec(move |tx| ops::set_correlation_id(tx, run_id, &recorded)))?;
    let pc = Arc::new(
        PartnerCenter::new(http, &connection.api_url, correlation_id)
            .map_err(|message| Error::usage(message, None))?,
    );
    let total = queued;
    let stop = StopSignal::default();
    let dispatcher = Arc::new(Dispatcher::new(
        pc,
        auth,
        writer,
        Arc::new(Pacer::new(settings.rate)),
        settings.dispatch.clone(),
        run_id,
        stop.clone(),
    ));
    let show_progress = settings.progress && std::io::stderr().is_terminal();
    let rate = settings.rate;
    let result = runtime.block_on(async move {
        tokio::spawn(watch_ctrl_c(stop.clone()));
        let progress = show_progress.then(|| spawn_progress(dispatcher.clone(), total, rate));
        let ending = dispatcher.clone().run().await;
        if let Some(task) = progress {
            task.abort();
            crate::printer::clear_progress();
        }
        ending
    });
    // Tasks still sleeping (the Ctrl-C watcher) must not hold the process.
    runtime.shutdown_background();
    Ok(result?)
}

/// Ctrl-C once: stop taking work, let requests in flight finish (for at most 30 s). Twice: quit at
/// once — `resume` reconciles whatever was in flight.
async fn watch_ctrl_c(stop: StopSignal) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("\nstopping: letting requests in flight finish (Ctrl-C again to quit at once)");
    stop.stop(Ending::Interrupted);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {}
    }
    eprintln!("interrupted — run `csp-onboard resume`");
    std::process::exit(ExitCode::Interrupted as i32);
}

fn spawn_progress(
    dispatcher: Arc<Dispatcher>,
    total: u64,
    rate: RateSetting,
) -> tokio::task::JoinHandle<()> {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    crate::printer::show_progress(bar);
    let started = Instant::now();
    let limit_per_min = match rate {
        RateSetting::Limit(l) => f64::from(l.requests) * 60.0 / l.period.as_secs_f64(),
        RateSetting::Off => f64::INFINITY,
    };
    tokio::spawn(async move {
        loop {
            let progress = &dispatcher.progress;
            let created = progress.created.load(Ordering::Relaxed);
            let failed = progress.failed.load(Ordering::Relaxed);
            let done = created + failed;
            let minutes = started.elapsed().as_secs_f64() / 60.0;
            let per_min = if minutes > 0.0 {
                done as f64 / minutes
            } else {
                0.0
            };
            // The ETA knows the rate limit: never faster than the limit allows.
            let pace = per_min
                .max(1.0)
                .min(limit_per_min * dispatcher.pacer.level());
            let eta_min = total.saturating_sub(done) as f64 / pace;
            shown.set_position(done);
            shown.set_message(format!(
                "created {created} · failed {failed} · retrying {} · throttled {} · {per_min:.0}/min · ETA {}",
                progress.retrying.load(Ordering::Relaxed),
                progress.throttled.load(Ordering::Relaxed),
                format_eta(eta_min)
            ));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

fn format_eta(minutes: f64) -> String {
    if !minutes.is_finite() {
        return "—".into();
    }
    let seconds = (minutes * 60.0).round() as u64;
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    )
}

fn describe_rate(rate: RateSetting) -> String {
    match rate {
        RateSetting::Off => "no rate limit".into(),
        RateSetting::Limit(l) => format!("at most {} requests per {:?}", l.requests, l.period),
    }
}

/// CONTRACTS.md: 0 every row created; 1 some failed or invalid (or left undone); 3 auth; 4 Ctrl-C.
fn exit_code(ending: &Ending, status: &queries::StatusReport) -> ExitCode {
    use crate::journal::RowState;
    match ending {
        Ending::AuthStopped(_) => ExitCode::Auth,
        Ending::Interrupted => ExitCode::Interrupted,
        Ending::Complete => {
            let all_created = RowState::ALL
                .iter()
                .filter(|s| **s != RowState::Created)
                .all(|s| status.count(*s) == 0);
            if all_created {
                ExitCode::Success
            } else {
                ExitCode::RowsFailed
            }
        }
    }
}

/// The journal path `run` uses by default: `<sheet stem>.journal.sqlite` beside the sheet.
pub fn default_journal(sheet: &Path) -> PathBuf {
    let stem = sheet
        .file_stem()
        .map_or_else(|| "sheet".into(), |s| s.to_string_lossy().into_owned());
    sheet.with_file_name(format!("{stem}.journal.sqlite"))
}
