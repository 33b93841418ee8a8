//! A job run end to end — `run` (import, then dispatch) and `resume` (dispatch only): the one
//! place that wires the journal, the Partner Center client, the pacer and the dispatcher together,
//! handles Ctrl-C, and turns the journal's final state into the summary and the exit code.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Serialize;

use crate::auth::cache::CacheKey;
use crate::auth::{AuthSettings, TokenCache, TokenProvider};
use crate::credentials::Sealer;
use crate::dispatch::{DispatchSettings, Dispatcher, Ending, InFlight, Pacer, Queue, StopSignal};
use crate::error::{Error, ExitCode};
use crate::intake::{self, IntakeSink};
use crate::journal::import::{Import, ImportSummary, file_hash};
use crate::journal::writer::JournalWriter;
use crate::journal::{Access, Journal, ops, queries, resets, steps};
use crate::mapping::{Binding, Template};
use crate::partner_center::{Cloud, PartnerCenter};
use crate::printer;
use crate::rate::RateSetting;
use crate::source::{Header, SourceOptions};
use crate::validate::{Issue, Judged};

/// Where Partner Center is and who we are there.
#[derive(Clone)]
pub struct Connection {
    pub cloud: Cloud,
    pub api_url: String,
    pub authority_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
    /// The profile of `csp-onboard.toml` in use (`default` without one).
    pub profile: String,
    pub token_cache: PathBuf,
    /// The key the token cache is sealed with, if it is.
    pub token_key: Option<CacheKey>,
    /// `X-Locale` on every request: the language of Partner Center's own messages.
    pub locale: String,
}

impl Connection {
    /// Where this sign-in is kept.
    pub fn token_cache(&self) -> TokenCache {
        TokenCache::new(
            self.token_cache.clone(),
            self.token_key.clone(),
            &self.profile,
            &self.authority_url,
            &self.tenant_id,
            &self.client_id,
        )
    }

    /// What the token provider (and `login`) needs.
    pub fn auth_settings(&self) -> AuthSettings {
        AuthSettings {
            authority_url: self.authority_url.clone(),
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            scope: self.cloud.scope(),
            refresh_token: self.refresh_token.clone(),
            profile: self.profile.clone(),
            cache: self.token_cache(),
        }
    }
}

/// The HTTP client every call to Partner Center and its authority goes through.
pub fn http_client(timeout: Duration, idle_per_host: usize) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .pool_max_idle_per_host(idle_per_host)
        // A redirect would re-send a token or a create where the URL policy was never applied.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("csp-onboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::setup("the HTTP client", e))
}

/// What every command that talks to Partner Center opens: the sign-in, the client (with one
/// correlation id for all its requests), and the pace on the partner tenant's one budget.
pub struct Session {
    pub pc: Arc<PartnerCenter>,
    pub auth: Arc<TokenProvider>,
    pub pacer: Arc<Pacer>,
    /// Requests per second at full speed (`None`: no limit).
    pub rate_per_s: Option<f64>,
}

impl Session {
    pub fn open(
        connection: &Connection,
        rate: RateSetting,
        request_timeout: Duration,
        concurrency: usize,
    ) -> Result<Session, Error> {
        let http = http_client(request_timeout, concurrency)?;
        let auth = Arc::new(TokenProvider::new(http.clone(), connection.auth_settings()));
        let pc = PartnerCenter::new(
            http,
            &connection.api_url,
            uuid::Uuid::new_v4().to_string(),
            &connection.locale,
        )
        .map_err(|message| Error::usage(message, None))?;
        let pacer = Pacer::new(rate, Some(&budget_file(connection)))
            .map_err(|e| Error::setup("the rate budget", e))?;
        Ok(Session {
            pc: Arc::new(pc),
            auth,
            pacer: Arc::new(pacer),
            rate_per_s: match rate {
                RateSetting::Limit(l) => Some(f64::from(l.requests) / l.period.as_secs_f64()),
                RateSetting::Off => None,
            },
        })
    }
}

/// The sheet to import (`run` only).
pub struct SheetInput {
    pub path: PathBuf,
    pub options: SourceOptions,
    pub template: Template,
    /// Put this sheet's rows in a journal made from another sheet (`--add-sheet`).
    pub add_sheet: bool,
    /// Send failed rows again even if their content did not change (`--retry-failed`).
    pub retry_failed: bool,
    /// Ask Partner Center about the new rows before importing them (`--preflight`).
    pub preflight: bool,
    /// Attest the Microsoft Customer Agreement for each customer created (and each created
    /// already), as agreed on this day (`YYYY-MM-DD`).
    pub attest_mca: Option<String>,
}

pub struct JobSettings {
    /// `run` or `resume`.
    pub command: &'static str,
    pub sheet: Option<SheetInput>,
    pub journal: PathBuf,
    pub connection: Connection,
    pub recipient: String,
    pub rate: RateSetting,
    pub dispatch: DispatchSettings,
    pub request_timeout: Duration,
    pub progress: bool,
    /// Settings `resume` reuses (never secrets), stored with the run.
    pub remembered: serde_json::Value,
    /// A rehearsal on the built-in emulator (`--emulator`).
    pub rehearsal: bool,
    /// What the job works through: onboarding (`run`, `resume`) or credential recovery.
    pub queue: Queue,
}

/// The last line of `run` and `resume` (CONTRACTS.md, "The run summary"): totals of the job, read
/// from the journal, printed on every exit once the journal was opened.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub created: i64,
    pub failed: i64,
    pub invalid: i64,
    pub credentials_lost: i64,
    pub throttled: i64,
    pub elapsed_s: f64,
    pub exit_code: i32,
    /// Rows this run created.
    pub created_this_run: i64,
    /// Rows still to do: pending, retry_wait, in_doubt (and in_flight after a hard quit).
    pub pending: i64,
    pub changed_after_creation: i64,
    /// Created rows that were the partner's customers already (adopted, not created anew).
    pub already_existed: i64,
    /// The attestations of the Microsoft Customer Agreement.
    pub attestations: queries::Attestations,
    /// `recover-credentials`: the passwords reset and sealed, over the journal's life.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<i64>,
    /// What stopped the run, when an error did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Summary {
    /// The summary of the job as the journal has it, for run `run_id`.
    fn of(
        status: &queries::StatusReport,
        run_id: i64,
        started: Instant,
        exit: ExitCode,
    ) -> Summary {
        use crate::journal::RowState;
        let run = status.runs.iter().find(|r| r.id == run_id);
        Summary {
            created: status.count(RowState::Created),
            failed: status.count(RowState::Failed),
            invalid: status.count(RowState::Invalid),
            credentials_lost: status.credentials_lost,
            throttled: run.map_or(0, |r| r.throttled),
            elapsed_s: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            exit_code: exit as i32,
            created_this_run: run.map_or(0, |r| r.created),
            pending: [
                RowState::Pending,
                RowState::RetryWait,
                RowState::InDoubt,
                RowState::InFlight,
            ]
            .iter()
            .map(|s| status.count(*s))
            .sum(),
            changed_after_creation: status.changed_after_creation,
            already_existed: status.already_existed,
            attestations: status.attestations,
            recovered: None,
            error: None,
        }
    }
}

pub struct JobOutcome {
    pub summary: Summary,
    pub exit: ExitCode,
    pub import: Option<ImportSummary>,
    /// The error that ended the job after its journal was opened (the summary still holds).
    pub error: Option<Error>,
}

/// Runs a job to its end. Human-facing lines go to stderr; the caller prints the summary. Errors
/// before the journal is open are returned as such; after, they end the job with a summary read
/// from the journal (CONTRACTS.md: the summary is printed on every exit once the journal is open).
pub fn run_job(settings: JobSettings) -> Result<JobOutcome, Error> {
    let started = Instant::now();
    let sealer = Sealer::new(&settings.recipient)?;
    let access = if settings.command == "run" {
        Access::CreateAndWork
    } else {
        Access::Work
    };
    let mut journal = Journal::open(&settings.journal, access)?;
    same_tenant(&journal, &settings.connection)?;
    let journal_path = journal.path().to_path_buf();
    // From here on a signal stops the job, even during the import.
    let run = Arc::new(OnceLock::new());
    let signals = Signals::watch(QuitNow {
        journal: journal_path.clone(),
        queue: settings.queue,
        run_id: run.clone(),
        started,
        rehearsal: settings.rehearsal,
    })?;
    let run_id = begin(&journal, &settings)?;
    let _ = run.set(run_id);
    let mut import = None;
    let mut holder = Holder::Journal(journal);
    let worked = work(
        &settings,
        sealer,
        run_id,
        &signals,
        &mut holder,
        &mut import,
    );
    drop(signals);
    // Whatever happened, the journal says where the job stands.
    journal = holder.into_journal(&journal_path)?;
    let status = queries::status(&journal.conn).map_err(journal.sqlite())?;
    let (exit, ending, error) = match worked {
        Ok(ending) => (
            exit_code(&ending, &status, settings.queue),
            Some(ending),
            None,
        ),
        Err(error) => (error.exit_code(), None, Some(error)),
    };
    journal.finish_run(run_id, exit as i32)?;
    let recovered = if settings.queue == Queue::LostCredentials {
        resets::recovered(&journal.conn).map_err(journal.sqlite())?
    } else {
        0
    };
    drop(journal);
    let mut summary = Summary::of(&status, run_id, started, exit);
    summary.error = error.as_ref().map(ToString::to_string);
    if settings.queue == Queue::LostCredentials {
        summary.recovered = Some(recovered);
    }
    let resume = resume_command(&journal_path, settings.rehearsal, settings.queue);
    match &ending {
        Some(Ending::AuthStopped(why, hint)) => {
            let mut hints: Vec<String> = hint.iter().cloned().collect();
            hints.push(format!(
                "then continue with `{resume}`; nothing was failed for it"
            ));
            printer::problem(&format!("the run stopped: {why}"), &hints);
        }
        Some(Ending::Interrupted) => {
            printer::warning(&format!(
                "interrupted: {} row(s) left to do",
                summary.pending
            ));
            printer::say(&format!("hint: continue with `{resume}`"));
        }
        _ => {}
    }
    Ok(JobOutcome {
        summary,
        exit,
        import,
        error,
    })
}

/// Who holds the journal while a job works: the job itself, or the writer thread during dispatch.
enum Holder {
    Journal(Journal),
    Writer(Arc<JournalWriter>),
    Gone,
}

impl Holder {
    /// Moves the journal to a writer thread for the requests (the holder keeps the writer, so
    /// the journal comes back through [`Holder::into_journal`] whatever happens).
    fn hand_to_writer(&mut self, sealer: Sealer) -> Result<Arc<JournalWriter>, Error> {
        let Holder::Journal(journal) = std::mem::replace(self, Holder::Gone) else {
            unreachable!("the journal is handed to a writer once")
        };
        let writer = Arc::new(JournalWriter::start(journal, sealer)?);
        *self = Holder::Writer(writer.clone());
        Ok(writer)
    }

    /// The journal back from whoever holds it; opened again if the writer lost it.
    fn into_journal(self, path: &Path) -> Result<Journal, Error> {
        let back = match self {
            Holder::Journal(journal) => Some(journal),
            Holder::Writer(writer) => Arc::into_inner(writer).and_then(JournalWriter::finish),
            Holder::Gone => None,
        };
        match back {
            Some(journal) => Ok(journal),
            None => Ok(Journal::open(path, Access::Work)?),
        }
    }
}

/// Import (for `run`), recovery, dispatch. The journal moves to the writer for the dispatch.
fn work(
    settings: &JobSettings,
    sealer: Sealer,
    run_id: i64,
    signals: &Signals,
    holder: &mut Holder,
    import: &mut Option<ImportSummary>,
) -> Result<Ending, Error> {
    let Holder::Journal(journal) = holder else {
        unreachable!("work starts with the journal in hand")
    };
    if settings.queue == Queue::LostCredentials {
        return recover_credentials(settings, sealer, run_id, signals, holder);
    }
    if let Some(sheet) = &settings.sheet {
        if sheet.preflight {
            match import_checked(journal, settings, sheet, run_id, signals)? {
                Some(summary) => *import = Some(summary),
                None => return Ok(Ending::Interrupted),
            }
        } else {
            *import = Some(import_sheet(journal, sheet, run_id)?);
        }
    }
    let (recovered, attestations) = journal.recover_in_flight(run_id)?;
    if recovered > 0 {
        printer::note(&format!(
            "{recovered} row(s) were in flight when the last run stopped: reconciling them first"
        ));
    }
    if attestations > 0 {
        printer::note(&format!(
            "{attestations} attestation(s) were in flight when the last run stopped: reading those customers' agreements before sending any again"
        ));
    }
    let attest_mca = settings.sheet.as_ref().and_then(|s| s.attest_mca.as_ref());
    if let Some(agreed) = attest_mca {
        steps::plan_attestations(&journal.conn, agreed).map_err(journal.sqlite())?;
    }
    let attesting = steps::any_planned(&journal.conn).map_err(journal.sqlite())?;
    if attesting && settings.connection.cloud != Cloud::Global {
        return Err(Error::usage(
            format!(
                "the Microsoft Customer Agreement is attested through the API in the global cloud only, and this run is for the `{}` cloud",
                settings.connection.cloud.name()
            ),
            Some(match attest_mca {
                Some(_) => {
                    "run without `--attest-mca` (and without `attest_mca = true` in the template)"
                        .into()
                }
                None => {
                    "this journal has attestations planned: work it with a global-cloud profile"
                        .into()
                }
            }),
        ));
    }
    let queued = ops::work_count(&journal.conn).map_err(journal.sqlite())?;
    if attesting {
        let to_attest = steps::unfinished(&journal.conn).map_err(journal.sqlite())?;
        printer::note(&format!(
            "attesting the Microsoft Customer Agreement for each customer created{}",
            if to_attest > 0 {
                format!(" ({to_attest} created already)")
            } else {
                String::new()
            }
        ));
    }
    if signals.stop.is_set() {
        // Stopped during the import (which is atomic and went through): nothing is sent.
        return Ok(Ending::Interrupted);
    }
    if queued == 0 {
        return Ok(Ending::Complete);
    }
    let writer = holder.hand_to_writer(sealer)?;
    printer::note(&format!(
        "sending {} row(s) to {} at {}",
        queued,
        settings.connection.api_url,
        describe_rate(settings.rate)
    ));
    dispatch(settings, writer, run_id, queued, attesting, signals)
}

/// `recover-credentials`: recovery of what a crash left in flight, then a password reset for every
/// created row without credentials. The writer takes the journal for the dispatch.
fn recover_credentials(
    settings: &JobSettings,
    sealer: Sealer,
    run_id: i64,
    signals: &Signals,
    holder: &mut Holder,
) -> Result<Ending, Error> {
    let cloud = settings.connection.cloud;
    if cloud != Cloud::Global {
        return Err(Error::usage(
            format!(
                "Partner Center resets a customer's password through the API in the global cloud only, and this journal's profile is for the `{}` cloud ({})",
                cloud.name(),
                match cloud {
                    Cloud::China => "21Vianet",
                    _ => "US Government",
                }
            ),
            Some("reset the admin's password in that cloud's Partner Center, or its Microsoft Entra admin center".into()),
        ));
    }
    let Holder::Journal(journal) = holder else {
        unreachable!("work starts with the journal in hand")
    };
    let (recovered, _) = journal.recover_in_flight(run_id)?;
    if recovered > 0 {
        printer::note(&format!(
            "{recovered} request(s) were in flight when the last run stopped; `resume` reconciles them"
        ));
    }
    let lost = resets::lost_count(&journal.conn).map_err(journal.sqlite())?;
    if lost == 0 {
        printer::note("every created customer has its credentials: nothing to recover");
        return Ok(Ending::Complete);
    }
    if signals.stop.is_set() {
        return Ok(Ending::Interrupted);
    }
    let writer = holder.hand_to_writer(sealer)?;
    printer::note(&format!(
        "resetting the admin password of {lost} customer(s) whose credentials were lost, at {}",
        describe_rate(settings.rate)
    ));
    dispatch(settings, writer, run_id, lost, false, signals)
}

/// A journal's customers belong to the partner tenant that created them: a run configured for
/// another tenant (a profile forgotten, an environment left over) must not go on with it.
fn same_tenant(journal: &Journal, connection: &Connection) -> Result<(), Error> {
    let Some((options, _)) = journal.last_run()? else {
        return Ok(());
    };
    let Some(tenant) = options.get("tenant_id").and_then(serde_json::Value::as_str) else {
        return Ok(());
    };
    if tenant == connection.tenant_id {
        return Ok(());
    }
    let profile = options
        .get("profile")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("default");
    Err(Error::usage(
        format!(
            "journal `{}` belongs to partner tenant `{tenant}` (profile `{profile}`), but this run is configured for `{}`",
            journal.path().display(),
            connection.tenant_id
        ),
        Some("use that tenant's profile (`--profile`), or another journal".into()),
    ))
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

/// intake → journal: the sheet's judged rows go into one import transaction for run `run_id`.
pub fn import(
    journal: &mut Journal,
    sheet: &SheetInput,
    run_id: i64,
) -> Result<ImportSummary, Error> {
    import_with(journal, sheet, run_id, |import| {
        let info = intake::read_sheet(
            &sheet.path,
            &sheet.options,
            &sheet.template,
            &mut IntoJournal(import),
        )?;
        if let Some(note) = info.encoding_note() {
            import.warn(Issue::sheet_warning(note));
        }
        Ok(())
    })
}

/// One import transaction for run `run_id`, filled by `fill`, refused when the journal was made
/// from another sheet.
fn import_with(
    journal: &mut Journal,
    sheet: &SheetInput,
    run_id: i64,
    fill: impl FnOnce(&mut Import<'_>) -> Result<(), Error>,
) -> Result<ImportSummary, Error> {
    let made_from = journal.made_from(run_id)?;
    let mut import = journal.begin_import(run_id, sheet.retry_failed)?;
    fill(&mut import)?;
    // A journal given another sheet would mix two jobs without a word (its export then holds
    // two row 2s): the same sheet grown or renamed shares rows with it; another one shares none.
    if let Some(other) = made_from.filter(|made| !sheet.add_sheet && *made != sheet.path) {
        let shared = import.summary().rows_known();
        if shared == 0 && import.summary().rows > 0 {
            return Err(Error::usage(
                format!(
                    "journal `{}` was made from `{}`, and none of the rows of `{}` are in it: this looks like another sheet",
                    journal_path_of(&import),
                    other.display(),
                    sheet.path.display()
                ),
                Some("give it its own journal (the default, beside the sheet), or add `--add-sheet` to put both in this one".into()),
            ));
        }
    }
    Ok(import.commit()?)
}

fn journal_path_of(import: &Import<'_>) -> String {
    import.journal().display().to_string()
}

/// `run --preflight`: the sheet's rows judged offline, then asked about (those the journal has not
/// created yet), then imported with what Partner Center said. `None` when stopped meanwhile.
fn import_checked(
    journal: &mut Journal,
    settings: &JobSettings,
    sheet: &SheetInput,
    run_id: i64,
    signals: &Signals,
) -> Result<Option<ImportSummary>, Error> {
    let mut read = ReadAll::default();
    let info = intake::read_sheet(&sheet.path, &sheet.options, &sheet.template, &mut read)?;
    read.warnings
        .extend(info.encoding_note().map(Issue::sheet_warning));
    let created = ops::created_domains(&journal.conn).map_err(journal.sqlite())?;
    let session = Session::open(
        &settings.connection,
        settings.rate,
        settings.request_timeout,
        settings.dispatch.concurrency,
    )?;
    let Some(found) = preflight(
        &session,
        &mut read.rows,
        &created,
        &signals.stop,
        signals.runtime(),
        settings.dispatch.concurrency,
    )?
    else {
        return Ok(None);
    };
    read.warnings.extend(found);
    let summary = import_with(journal, sheet, run_id, |import| {
        for warning in read.warnings {
            import.warn(warning);
        }
        for row in &read.rows {
            import.add(row)?;
        }
        Ok(())
    })?;
    Ok(Some(report_import(summary, sheet)))
}

/// Pre-flight on `rows`, judged offline: Partner Center's objections are added to their rows, its
/// warnings returned. `None` when the job was stopped meanwhile.
pub fn preflight(
    session: &Session,
    rows: &mut [crate::validate::JudgedRow],
    skip: &std::collections::HashSet<String>,
    stop: &StopSignal,
    runtime: &tokio::runtime::Runtime,
    concurrency: usize,
) -> Result<Option<Vec<Issue>>, Error> {
    use crate::preflight::{Checker, PreflightError};
    let checker = Checker {
        pc: session.pc.clone(),
        auth: session.auth.clone(),
        pacer: session.pacer.clone(),
        in_flight: InFlight::new(session.rate_per_s, concurrency),
        stop: stop.clone(),
        concurrency,
    };
    let asked = rows
        .iter()
        .filter(|r| r.request.is_some() && !r.domain.as_ref().is_some_and(|d| skip.contains(d)))
        .count();
    printer::note(&format!(
        "pre-flight: asking Partner Center about {asked} row(s) (resellers, domains, country rules, addresses)"
    ));
    let found = runtime.block_on(async {
        checker.auth.token().await?;
        checker.check(rows, skip).await
    });
    match found {
        Ok(findings) => {
            let errors = findings.errors.len();
            let warnings = findings.apply_to(rows);
            printer::note(&format!(
                "pre-flight: {errors} problem(s) Partner Center would refuse, {} warning(s)",
                warnings.len()
            ));
            Ok(Some(warnings))
        }
        Err(PreflightError::Auth(error)) => Err(error.into()),
        Err(PreflightError::Stopped) => Ok(None),
    }
}

/// A sheet's judged rows, all of them, for checks that need them at once.
#[derive(Default)]
pub struct ReadAll {
    pub rows: Vec<crate::validate::JudgedRow>,
    /// About the sheet and its columns.
    pub warnings: Vec<Issue>,
}

impl IntakeSink for ReadAll {
    fn bound(&mut self, binding: &Binding<'_>, _header: &Header) -> Result<(), Error> {
        self.warnings
            .extend(binding.notes().iter().map(Issue::column_warning));
        Ok(())
    }

    fn row(&mut self, row: Judged<'_, '_>) -> Result<(), Error> {
        self.rows.push(row.to_owned_row());
        Ok(())
    }
}

fn import_sheet(
    journal: &mut Journal,
    sheet: &SheetInput,
    run_id: i64,
) -> Result<ImportSummary, Error> {
    let summary = import(journal, sheet, run_id)?;
    Ok(report_import(summary, sheet))
}

/// Tells what an import did.
fn report_import(summary: ImportSummary, sheet: &SheetInput) -> ImportSummary {
    for warning in &summary.warnings {
        printer::warning(&warning.to_string());
    }
    printer::note(&format!(
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
    ));
    summary
}

/// The journal's import as intake's sink.
struct IntoJournal<'a, 'j>(&'a mut Import<'j>);

impl IntakeSink for IntoJournal<'_, '_> {
    fn bound(&mut self, binding: &Binding<'_>, _header: &Header) -> Result<(), Error> {
        for note in binding.notes() {
            self.0.warn(Issue::column_warning(note));
        }
        Ok(())
    }

    fn row(&mut self, row: Judged<'_, '_>) -> Result<(), Error> {
        Ok(self.0.add(&row)?)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::setup("the async runtime", e))
}

fn dispatch(
    settings: &JobSettings,
    writer: Arc<JournalWriter>,
    run_id: i64,
    queued: u64,
    attesting: bool,
    signals: &Signals,
) -> Result<Ending, Error> {
    let session = Session::open(
        &settings.connection,
        settings.rate,
        settings.request_timeout,
        settings.dispatch.concurrency,
    )?;
    let runtime = signals.runtime();
    let recorded = session.pc.correlation_id().to_string();
    runtime.block_on(writer.exec(move |tx| ops::set_correlation_id(tx, run_id, &recorded)))?;
    let stop = signals.stop.clone();
    let dispatcher = Arc::new(Dispatcher::new(
        session.pc,
        session.auth,
        writer,
        session.pacer,
        session.rate_per_s,
        settings.dispatch.clone(),
        run_id,
        stop.clone(),
    ));
    // Signed in, with a usable token, before anything is sent: a sealed cache without its key is
    // the configuration's problem (exit 2), no sign-in or a refused one the sign-in's (exit 3).
    if let Err(error) = runtime.block_on(dispatcher.auth.token()) {
        if error.is_configuration() {
            return Err(error.into());
        }
        let hint = error.hint();
        return Ok(Ending::AuthStopped(error.to_string(), hint));
    }
    // The resellers' names, for every report from now on (not the Customer resource: no slot).
    let listed = runtime.block_on(async {
        if settings.queue != Queue::Onboarding {
            return None;
        }
        let token = dispatcher.auth.token().await.ok()?;
        let request_id = crate::journal::import::new_request_id();
        Some(dispatcher.pc.indirect_resellers(&request_id, &token).await)
    });
    match listed {
        Some(crate::partner_center::Lookup::Found(resellers)) => {
            runtime.block_on(
                dispatcher
                    .journal
                    .exec(move |tx| ops::store_resellers(tx, &resellers)),
            )?;
        }
        Some(other) => printer::warning(&format!(
            "the indirect resellers could not be listed ({}); reports show their ids only",
            other.describe()
        )),
        None => {}
    }
    if attesting {
        match runtime.block_on(mca_template(&dispatcher)) {
            Ok(template) => {
                let _ = dispatcher.attest_template.set(template);
            }
            Err(why) => printer::warning(&format!(
                "{why}: no agreement is attested in this run; creates go on, and `resume` attests them"
            )),
        }
    }
    let _ = signals.in_flight.set(dispatcher.in_flight.clone());
    let show_progress = settings.progress && printer::progress_allowed();
    let rate = settings.rate;
    let queue = settings.queue;
    let result = runtime.block_on(async move {
        let progress = show_progress.then(|| spawn_progress(dispatcher.clone(), queued, rate));
        let ending = dispatcher.run(queue).await;
        if let Some(task) = progress {
            task.abort();
            let _ = task.await;
            printer::clear_progress();
        }
        ending
    });
    Ok(result?)
}

/// The Microsoft Customer Agreement's current template id, read once per run (never hard-coded:
/// partner-center-api.md §7). A few tries; not the Customer resource, so no pace slot.
async fn mca_template(dispatcher: &Dispatcher) -> Result<String, String> {
    use crate::partner_center::Lookup;
    let mut why = String::new();
    for attempt in 1..=3u32 {
        let Ok(token) = dispatcher.auth.token().await else {
            return Err("the agreement template could not be read: signing in failed".into());
        };
        let request_id = crate::journal::import::new_request_id();
        match dispatcher.pc.mca_template_id(&request_id, &token).await {
            Lookup::Found(Some(template)) => return Ok(template),
            Lookup::Found(None) => {
                return Err("Partner Center lists no Microsoft Customer Agreement template".into());
            }
            Lookup::Unauthorized => dispatcher.auth.invalidate(&token).await,
            other => why = other.describe(),
        }
        if !dispatcher
            .stop
            .sleep(Duration::from_secs(u64::from(attempt)))
            .await
        {
            break;
        }
    }
    Err(format!(
        "the Microsoft Customer Agreement's template could not be read ({why})"
    ))
}

/// The job's answer to SIGINT and SIGTERM, from the moment its journal is open to its end: a
/// runtime of its own, with the watcher on it.
struct Signals {
    /// Taken by `drop`, to shut down without waiting for tasks still asleep.
    runtime: Option<tokio::runtime::Runtime>,
    stop: StopSignal,
    /// The requests out, once the dispatch has begun (for the "stopping" line).
    in_flight: Arc<OnceLock<Arc<InFlight>>>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Signals {
    fn watch(quit: QuitNow) -> Result<Signals, Error> {
        let runtime = runtime()?;
        let stop = StopSignal::default();
        let in_flight = Arc::new(OnceLock::new());
        let watcher = runtime.spawn(watch_signals(stop.clone(), in_flight.clone(), quit));
        Ok(Signals {
            runtime: Some(runtime),
            stop,
            in_flight,
            watcher,
        })
    }
}

impl Signals {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("taken only by drop")
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.watcher.abort();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Where the rate budget of this authority and tenant is kept: every run on the machine for the
/// same partner tenant shares it (`dispatch::pace`).
fn budget_file(connection: &Connection) -> PathBuf {
    let key = format!(
        "{}|{}",
        connection.authority_url.trim_end_matches('/'),
        connection.tenant_id
    );
    crate::auth::state_dir().join("budgets").join(format!(
        "{:016x}.json",
        xxhash_rust::xxh3::xxh3_64(key.as_bytes())
    ))
}

/// What a second signal needs to end the process at once with a summary.
struct QuitNow {
    journal: PathBuf,
    queue: Queue,
    /// This run's id, once it is recorded.
    run_id: Arc<OnceLock<i64>>,
    started: Instant,
    rehearsal: bool,
}

impl QuitNow {
    /// Prints the summary as the journal has it (requests still out stay `in_flight`, for
    /// `resume` to reconcile) and exits 4.
    fn now(&self) -> ! {
        let exit = ExitCode::Interrupted;
        let summary = Journal::open(&self.journal, Access::Read)
            .ok()
            .and_then(|journal| queries::status(&journal.conn).ok())
            .zip(self.run_id.get())
            .map(|(status, run_id)| Summary::of(&status, *run_id, self.started, exit));
        printer::clear_progress();
        printer::warning("quit with requests in flight");
        printer::say(&format!(
            "hint: continue with `{}`; it reconciles them first",
            resume_command(&self.journal, self.rehearsal, self.queue)
        ));
        if let Some(summary) = summary {
            printer::out(&format!(
                "{}\n",
                serde_json::to_string(&summary).unwrap_or_default()
            ));
        }
        std::process::exit(exit as i32);
    }
}

/// The first SIGINT or SIGTERM: stop taking work and let the requests really in flight finish
/// (for at most 30 s). A second one, or 30 s, quits at once.
async fn watch_signals(stop: StopSignal, in_flight: Arc<OnceLock<Arc<InFlight>>>, quit: QuitNow) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    stop.stop(Ending::Interrupted);
    printer::say(&format!(
        "stopping: letting the {} request(s) in flight finish (Ctrl-C again to quit at once)",
        in_flight.get().map_or(0, |i| i.out())
    ));
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {}
    }
    quit.now();
}

/// The command that continues this job, ready to paste.
fn resume_command(journal: &Path, rehearsal: bool, queue: Queue) -> String {
    let verb = match queue {
        Queue::Onboarding => "resume",
        Queue::LostCredentials => "recover-credentials",
    };
    let mut command = format!(
        "csp-onboard {verb} --journal {}",
        shell_quote(&journal.display().to_string())
    );
    if rehearsal {
        command.push_str(" --emulator");
    }
    command
}

/// `text` as one shell word.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn spawn_progress(
    dispatcher: Arc<Dispatcher>,
    total: u64,
    rate: RateSetting,
) -> tokio::task::JoinHandle<()> {
    let bar = indicatif::ProgressBar::new(total);
    // Fits an 80-column terminal: the message is cut to what is left of the line.
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:20} {pos}/{len} {wide_msg}")
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
            // n rows done span n - 1 intervals.
            let per_min = if minutes > 0.0 && done > 1 {
                (done - 1) as f64 / minutes
            } else {
                0.0
            };
            // The ETA knows the rate limit: never faster than the limit allows.
            let pace = per_min
                .max(1.0)
                .min(limit_per_min * dispatcher.pacer.level());
            let eta_min = total.saturating_sub(done) as f64 / pace;
            shown.set_position(done);
            let mut message = format!("{created} created");
            if failed > 0 {
                message.push_str(&format!(" · {failed} failed"));
            }
            let throttled = progress.throttled.load(Ordering::Relaxed);
            if throttled > 0 {
                message.push_str(&format!(" · {throttled}×429"));
            }
            message.push_str(&format!(
                " · {per_min:.0}/min · ETA {}",
                format_eta(eta_min)
            ));
            shown.set_message(message);
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

/// CONTRACTS.md: 0 every row created; 1 some failed or invalid (or left undone) — failed and
/// invalid rows the distributor acknowledged (`ack`) no longer count; 3 auth; 4 Ctrl-C.
fn exit_code(ending: &Ending, status: &queries::StatusReport, queue: Queue) -> ExitCode {
    use crate::journal::RowState;
    match ending {
        Ending::AuthStopped(..) => ExitCode::Auth,
        Ending::Interrupted => ExitCode::Interrupted,
        // CONTRACTS.md: 0 when every such row has credentials again, 1 when some could not.
        Ending::Complete if queue == Queue::LostCredentials => {
            if status.credentials_lost == 0 {
                ExitCode::Success
            } else {
                ExitCode::RowsFailed
            }
        }
        Ending::Complete => {
            let not_created: i64 = RowState::ALL
                .iter()
                .filter(|s| **s != RowState::Created)
                .map(|s| status.count(*s))
                .sum();
            let attestations = status.attestations.pending + status.attestations.failed;
            if not_created - status.acknowledged == 0 && attestations == 0 {
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
