//! The command line: parse arguments into checked settings, call the library, render its outcome
//! and turn it into an exit code (CONTRACTS.md). No business logic lives here.

mod args;
mod commands;
pub mod config;
pub mod connection;
mod doctor;
pub mod job_args;
mod sign_in;
mod validate;

use std::process::ExitCode as ProcessExit;

use clap::Parser;

use crate::error::{Error, ExitCode};

pub use args::{Cli, Command, OutputFormat};

/// Runs the binary: parses `std::env::args`, does the work, returns the process exit code.
///
/// This is the one place an outcome becomes an exit code and an error is rendered: every command
/// returns a result; its error's kind decides the code (CONTRACTS.md), the printer renders it
/// (`error:`, `Caused by:`, `hint:`), and commands whose output is JSON also get `{"error": ...}`
/// on stdout. A reader of stdout that went away is not an error.
pub fn main() -> ProcessExit {
    let cli = Cli::parse();
    crate::printer::init(crate::printer::Settings::new(
        cli.quiet,
        cli.log_format == args::LogFormat::Json,
        cli.color,
    ));
    init_logging(&cli);
    let json_output = match &cli.command {
        Command::Validate(args) => args.format == OutputFormat::Json,
        Command::Status(args) => args.format == OutputFormat::Json,
        _ => false,
    };
    let outcome = match cli.command {
        Command::Validate(args) => validate(args),
        Command::Template(args) => template(args),
        Command::Run(args) => commands::run(args),
        Command::Resume(args) => commands::resume(args),
        Command::RecoverCredentials(args) => commands::recover_credentials(args),
        Command::Status(args) => commands::status(args),
        Command::Export(args) => commands::export(args),
        Command::Report(args) => commands::report(args),
        Command::Keygen(args) => commands::keygen(args),
        Command::Emulator(args) => Ok(crate::emulator::cli::run(args)),
        Command::Login(args) => sign_in::login(args),
        Command::Logout(args) => sign_in::logout(args),
        Command::Doctor(args) => doctor::doctor(args),
        Command::Ack(args) => commands::ack(args),
        Command::Completions(args) => completions(args.shell),
        Command::Man => man(),
        // The reader child: its answers are messages on stdout, its status is its own.
        Command::ReadWorkbook(args) => {
            return ProcessExit::from(crate::source::serve_workbook_reader(
                &args.path,
                args.sheet.as_deref(),
            ));
        }
    };
    let code = match outcome {
        Ok(code) => code,
        Err(error) if crate::printer::is_closed_pipe(&error) => ExitCode::Success,
        Err(error) => {
            if json_output {
                crate::printer::out(&format!(
                    "{}\n",
                    serde_json::json!({ "error": error.to_string() })
                ));
            }
            crate::printer::error(&error);
            error.exit_code()
        }
    };
    ProcessExit::from(code as u8)
}

/// Log lines go to stderr through the printer: text for people (coloured as the printer says),
/// JSON for unattended runs. `CSP_ONBOARD_LOG` takes a tracing filter (`debug`,
/// `csp_onboard=trace`, ...).
fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = if cli.quiet {
        "warn"
    } else {
        "info,refinery_core=warn"
    };
    let filter =
        EnvFilter::try_from_env("CSP_ONBOARD_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(crate::printer::settings().color)
        .with_writer(|| crate::printer::Stderr);
    let _ = match cli.log_format {
        args::LogFormat::Json => builder.json().try_init(),
        args::LogFormat::Text => builder.without_time().with_target(false).try_init(),
    };
}

fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Error> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "csp-onboard", &mut script);
    write_stdout(&script)
}

fn man() -> Result<ExitCode, Error> {
    let command = <Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|source| Error::Write {
            path: "<stdout>".into(),
            source,
        })?;
    write_stdout(&page)
}

fn write_stdout(bytes: &[u8]) -> Result<ExitCode, Error> {
    crate::printer::out(&String::from_utf8_lossy(bytes));
    Ok(ExitCode::Success)
}

fn validate(args: args::ValidateArgs) -> Result<ExitCode, Error> {
    validate::run(&args)
}

fn template(args: args::TemplateArgs) -> Result<ExitCode, Error> {
    let language = match args.lang.as_deref() {
        None => None,
        Some(tag) => Some(crate::mapping::languages::language(tag).ok_or_else(|| {
            Error::usage(
                format!("`{tag}` is not a language csp-onboard has headers for"),
                Some(format!(
                    "the languages are {}",
                    crate::mapping::languages::languages()
                        .iter()
                        .map(|l| format!("`{}`", l.tag))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            )
        })?),
    };
    for file in crate::starter::write_starter_files(&args.dir, args.force, language)? {
        crate::printer::out(&format!("wrote {}\n", file.display()));
    }
    Ok(ExitCode::Success)
}
