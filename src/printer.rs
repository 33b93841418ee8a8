//! The one way to stderr while a progress bar may be on screen: log lines and notes are written
//! with the bar suspended, so they never leave half-drawn bars behind.

use std::io::{self, Write};
use std::sync::Mutex;

static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Shows `bar` until [`clear_progress`]; writes through [`Stderr`] suspend it.
pub fn show_progress(bar: indicatif::ProgressBar) {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
}

pub fn clear_progress() {
    if let Some(bar) = BAR.lock().unwrap_or_else(|e| e.into_inner()).take() {
        bar.finish_and_clear();
    }
}

/// Writes one line for people on stderr, with the progress bar (if any) out of the way.
pub fn note(line: &str) {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    let _ = Stderr.write_all(text.as_bytes());
}

/// stderr, aware of the progress bar. Used as tracing's writer.
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
