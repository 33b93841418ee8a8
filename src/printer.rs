//! The one way out to a person or a program: every line csp-onboard prints goes through here, so
//! that `--quiet`, JSON lines, colour and the progress bar never fight (uv's `Printer` is the
//! model).
//!
//! - **stdout** carries results only (the JSON summary, `status`, reports). A reader that went
//!   away (`status | head`) ends the output quietly: nothing more is written, nothing is said.
//! - **stderr** carries what a person reads while the tool works, in three kinds: notes (progress,
//!   what was done — dropped by `--quiet`), warnings and errors (never dropped). An error is
//!   `error:` with its message, one `Caused by:` line per cause, then `hint:` lines.
//! - With `--log-format json` every stderr line is one JSON object (`level`, `message`, and for
//!   errors `causes` and `hint`), as tracing's own lines are; nothing plain is mixed in.
//! - Colour only when stderr is a terminal, `NO_COLOR` is unset and `--color` does not say
//!   `never` (or when it says `always`).
//! - A progress bar, when one is on screen, is suspended for every line and redrawn under it.
//!   It is never shown with `--quiet`, JSON, or when stderr is not a terminal.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use crate::error::Error;

/// How output is written, decided once at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub quiet: bool,
    pub json: bool,
    pub color: bool,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl Settings {
    /// The settings for these flags and this environment.
    pub fn new(quiet: bool, json: bool, color: ColorChoice) -> Settings {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = !json
            && match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => !no_color && io::stderr().is_terminal(),
            };
        Settings { quiet, json, color }
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Sets how output is written (once; later calls are ignored).
pub fn init(settings: Settings) {
    let _ = SETTINGS.set(settings);
}

pub fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or(Settings {
        quiet: false,
        json: false,
        color: false,
    })
}

/// Whether a progress bar may be shown at all.
pub fn progress_allowed() -> bool {
    let s = settings();
    !s.quiet && !s.json && io::stderr().is_terminal()
}

/// Shows `bar` until [`clear_progress`]; every line printed meanwhile suspends it.
pub fn show_progress(bar: indicatif::ProgressBar) {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
}

pub fn clear_progress() {
    if let Some(bar) = BAR.lock().unwrap_or_else(|e| e.into_inner()).take() {
        bar.finish_and_clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// A note for people: what is happening, what was done. Dropped by `--quiet`.
pub fn note(message: &str) {
    if settings().quiet {
        return;
    }
    emit(Level::Info, message, &[], &[]);
}

/// Something a person must see even with `--quiet` (a sign-in code to enter).
pub fn say(message: &str) {
    emit(Level::Info, message, &[], &[]);
}

/// A warning: never dropped.
pub fn warning(message: &str) {
    emit(Level::Warning, message, &[], &[]);
}

/// A problem that is not an [`Error`] value (a run that stopped), with what to do.
pub fn problem(message: &str, hints: &[String]) {
    emit(Level::Error, message, &[], hints);
}

/// An error: its message, each cause once, and its hint.
pub fn error(error: &Error) {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        // Layers often repeat the message of what they wrap: say each cause once.
        let said = |earlier: &String| earlier.contains(&text) || text.contains(earlier.as_str());
        if !causes.iter().any(said) && text != error.to_string() {
            causes.push(text);
        }
        source = cause.source();
    }
    let hints: Vec<String> = error.hint().into_iter().collect();
    emit(Level::Error, &error.to_string(), &causes, &hints);
}

fn emit(level: Level, message: &str, causes: &[String], hints: &[String]) {
    let settings = settings();
    let mut text = String::new();
    if settings.json {
        let mut line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": level.name(),
            "message": message,
        });
        if !causes.is_empty() {
            line["causes"] = causes.into();
        }
        if let Some(hint) = hints.first() {
            line["hint"] = hint.as_str().into();
        }
        text.push_str(&line.to_string());
        text.push('\n');
    } else {
        let paint = |label: &str, code: &str| {
            if settings.color {
                format!("\x1b[{code}m{label}\x1b[0m")
            } else {
                label.to_string()
            }
        };
        match level {
            Level::Info => {}
            Level::Warning => text.push_str(&format!("{} ", paint("warning:", "1;33"))),
            Level::Error => text.push_str(&format!("{} ", paint("error:", "1;31"))),
        }
        text.push_str(message);
        text.push('\n');
        for cause in causes {
            text.push_str(&format!("  {} {cause}\n", paint("Caused by:", "1")));
        }
        for hint in hints {
            text.push_str(&format!("{} {hint}\n", paint("hint:", "1;36")));
        }
    }
    let _ = Stderr.write_all(text.as_bytes());
}

/// Writes `text` to stdout. A reader that went away is not an error: the output just ends, and
/// `false` says so.
pub fn out(text: &str) -> bool {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => false,
        Err(_) => false,
    }
}

/// Whether `error` only says the reader of stdout went away (`status | head`).
pub fn is_closed_pipe(error: &Error) -> bool {
    matches!(error, Error::Write { path, source }
        if path.as_os_str() == "<stdout>" && source.kind() == io::ErrorKind::BrokenPipe)
}

/// stderr, aware of the progress bar. Used as tracing's writer too.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar
                .suspend(|| io::stderr().write_all(buf))
                .map(|()| buf.len()),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
