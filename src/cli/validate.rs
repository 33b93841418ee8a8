//! `validate SHEET [--online]`: every problem of every row, offline; with `--online`, Partner
//! Center's answers too (pre-flight, [`crate::preflight`]), in the same report. Nothing is created.

use std::io::Write;

use super::args::{OutputFormat, ValidateArgs};
use super::job_args::{Demo, JobArgs, demo_journal, resolve};
use crate::dispatch::StopSignal;
use crate::error::{Error, ExitCode};
use crate::intake;
use crate::job::{ReadAll, Session};
use crate::report::validation::ValidationReport;
use crate::validate::Issue;

pub fn run(args: &ValidateArgs) -> Result<ExitCode, Error> {
    let template = args.sheet.template()?;
    let options = args.sheet.source_options()?;
    let report = if args.online {
        online(args, &template, &options)?
    } else {
        let mut report = ValidationReport::default();
        let info = intake::read_sheet(&args.sheet.path, &options, &template, &mut report)?;
        report
            .warnings
            .extend(info.encoding_note().map(Issue::sheet_warning));
        report
    };
    if let Some(path) = &args.errors_out {
        report.write_errors_csv(path)?;
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => report.write_json(&mut stdout),
        OutputFormat::Text => {
            report.write_text(&mut stdout, &args.sheet.path.display().to_string())
        }
    }
    .and_then(|()| stdout.flush())
    .map_err(|source| Error::Write {
        path: "<stdout>".into(),
        source,
    })?;
    Ok(if report.invalid > 0 {
        ExitCode::RowsFailed
    } else {
        ExitCode::Success
    })
}

/// The offline checks, then pre-flight on the rows they passed.
fn online(
    args: &ValidateArgs,
    template: &crate::mapping::Template,
    options: &crate::source::SourceOptions,
) -> Result<ValidationReport, Error> {
    let mut read = ReadAll::default();
    let info = intake::read_sheet(&args.sheet.path, options, template, &mut read)?;
    read.warnings
        .extend(info.encoding_note().map(Issue::sheet_warning));
    let demo = if args.emulator {
        Some(Demo::start(
            &demo_journal(&args.sheet.path),
            args.connection.locale.as_deref(),
        )?)
    } else {
        None
    };
    let job = JobArgs {
        rate_limit: args.rate_limit,
        connection: args.connection.clone(),
        emulator: args.emulator,
        ..JobArgs::default()
    };
    let resolved = resolve(&job, &serde_json::Value::Null, demo.as_ref())?;
    let session = Session::open(
        &resolved.connection,
        resolved.rate,
        resolved.request_timeout,
        resolved.dispatch.concurrency,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::setup("the async runtime", e))?;
    let found = crate::job::preflight(
        &session,
        &mut read.rows,
        &Default::default(),
        &StopSignal::default(),
        &runtime,
        resolved.dispatch.concurrency,
    )?
    .unwrap_or_default();
    drop(demo);
    let mut report = ValidationReport::default();
    for row in read.rows {
        report.add(row.issues);
    }
    report.warnings = read.warnings;
    report.warnings.extend(found);
    Ok(report)
}
