//! The command line: parse arguments into checked settings, call the library, render its outcome
//! and turn it into an exit code (CONTRACTS.md). No business logic lives here.

mod args;
mod commands;
pub mod config;
pub mod connection;
mod doctor;
pub mod job_args;
mod sign_in;

use std::io::Write;
use std::process::ExitCode as ProcessExit;

use clap::Parser;

use crate::error::{Error, ExitCode};
use crate::intake;
use crate::report::validation::ValidationReport;

pub use args::{Cli, Command, OutputFormat};

/// Runs the binary: parses `std::env::args`, does the work, returns the process exit code.
pub fn main() -> ProcessExit {
    let cli = Cli::parse();
    init_logging(&cli);
    let code = match cli.command {
        Command::Validate(args) => validate(args),
        Command::Template(args) => template(args),
        Command::Run(args) => commands::run(args),
        Command::Resume(args) => commands::resume(args),
        Command::Status(args) => commands::status(args),
        Command::Export(args) => commands::export(args),
        Command::Keygen(args) => commands::keygen(args),
        Command::Emulator(args) => crate::emulator::cli::run(args),
        Command::Login(args) => finish(sign_in::login(args)),
        Command::Logout(args) => finish(sign_in::logout(args)),
        Command::Doctor(args) => finish(doctor::doctor(args)),
        Command::Ack(args) => finish(commands::ack(args)),
        Command::Completions(args) => finish(completions(args.shell)),
        Command::Man => finish(man()),
    };
    ProcessExit::from(code as u8)
}

/// Log lines go to stderr: text for people (coloured only on a terminal), JSON for unattended
/// runs. `CSP_ONBOARD_LOG` takes a tracing filter (`debug`, `csp_onboard=trace`, ...).
fn init_logging(cli: &Cli) {
    use std::io::IsTerminal;
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
        .with_ansi(std::io::stderr().is_terminal())
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
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Write {
            path: "<stdout>".into(),
            source,
        })?;
    Ok(ExitCode::Success)
}

/// The exit code of a command's outcome, its error printed.
fn finish(outcome: Result<ExitCode, Error>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(error) => {
            print_error(&error);
            error.exit_code()
        }
    }
}

/// Prints an error the way every command does: `error:` with the message, then `hint:` lines.
pub fn print_error(error: &Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {error}");
    if let Some(hint) = error.hint() {
        let _ = writeln!(stderr, "hint: {hint}");
    }
}

fn validate(args: args::ValidateArgs) -> ExitCode {
    let json = args.format == OutputFormat::Json;
    match run_validate(&args) {
        Ok(code) => code,
        Err(error) => {
            if json {
                let doc = serde_json::json!({ "error": error.to_string() });
                println!("{doc}");
            }
            print_error(&error);
            error.exit_code()
        }
    }
}

fn run_validate(args: &args::ValidateArgs) -> Result<ExitCode, Error> {
    let template = args.sheet.template()?;
    let options = args.sheet.source_options()?;
    let mut report = ValidationReport::default();
    let info = intake::read_sheet(&args.sheet.path, &options, &template, &mut report)?;
    report.warnings.extend(
        info.encoding_note()
            .map(crate::validate::Issue::sheet_warning),
    );
    if let Some(path) = &args.errors_out {
        report.write_errors_csv(path)?;
    }
    let mut stdout = std::io::stdout().lock();
    let written = match args.format {
        OutputFormat::Json => report.write_json(&mut stdout),
        OutputFormat::Text => {
            report.write_text(&mut stdout, &args.sheet.path.display().to_string())
        }
    };
    written.map_err(|source| Error::Write {
        path: "<stdout>".into(),
        source,
    })?;
    Ok(if report.invalid > 0 {
        ExitCode::RowsFailed
    } else {
        ExitCode::Success
    })
}

fn template(args: args::TemplateArgs) -> ExitCode {
    match crate::starter::write_starter_files(&args.dir, args.force) {
        Ok(files) => {
            for file in files {
                println!("wrote {}", file.display());
            }
            ExitCode::Success
        }
        Err(error) => {
            print_error(&error);
            error.exit_code()
        }
    }
}
