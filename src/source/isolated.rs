//! Reading an xls, xlsb or ods workbook in a child process, so that no input can exhaust our
//! memory, abort us or hang us.
//!
//! calamine loads these formats whole, and a 6 KB `.xls` can ask it for 24 GB, an `.ods` can send
//! it into a loop that never ends, a mangled file can make it abort on a failed allocation — none
//! of which a panic guard can catch. So the binary runs itself again (`csp-onboard
//! __read-workbook PATH [--sheet NAME]`, a hidden subcommand), and the child, before it opens the
//! file, limits itself: [`MEMORY_LIMIT`] of address space (`RLIMIT_AS`: an allocation past it
//! fails, and Rust aborts the child) and [`CPU_LIMIT_SECONDS`] of CPU time (`RLIMIT_CPU`: the kernel
//! stops it with `SIGXCPU`). The child reads with [`super::whole::produce`] under the panic guard
//! and writes its [`Message`]s to stdout as JSON lines; the parent hands them to the same
//! [`Picker`] the in-process reader uses, so the sheet choice, row numbers and cell texts do not
//! depend on which process read the file.
//!
//! A child that ends without its last message (`End`) — killed by a signal, or exiting otherwise —
//! becomes a [`SourceError::ReaderLimit`] or [`SourceError::Workbook`]; what it wrote to stderr
//! (an abort's "memory allocation failed", a panic outside the guard) is logged at debug level,
//! never printed raw. Once the picker has its sheet, the parent kills the child (by its pid) rather
//! than wait for the sheets after it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use super::whole::{Flow, Message, Picker, produce};
use super::{RowVisitor, SheetChoice, SourceError, SourceInfo};

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "__read-workbook";
/// The child's address-space limit.
pub const MEMORY_LIMIT: u64 = 448 << 20;
/// The child's CPU-time limit, in seconds.
pub const CPU_LIMIT_SECONDS: u64 = 120;
/// Lowers the CPU limit (never raises it), for tests of a reader that never ends.
pub const CPU_LIMIT_ENV: &str = "CSP_ONBOARD_READER_CPU_SECONDS";
/// The longest message line the parent accepts: a row is at most 1 MiB of text, JSON escaping
/// at most sextuples control characters.
const MAX_LINE: u64 = 8 << 20;
/// What of the child's stderr is kept for the log.
const MAX_STDERR: u64 = 16 << 10;

/// Reads `path` through a child process running `exe`, feeding `visitor`.
pub fn read<V: RowVisitor>(
    exe: &Path,
    path: &Path,
    choice: &SheetChoice,
    visitor: &mut V,
) -> Result<SourceInfo, V::Error> {
    let mut command = Command::new(exe);
    command.arg(SUBCOMMAND).arg(path);
    if let SheetChoice::Named(wanted) = choice {
        command.arg("--sheet").arg(wanted);
    }
    command
        .env_remove("CSP_ONBOARD_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| SourceError::Workbook {
        path: path.to_path_buf(),
        message: format!("cannot start its reader process `{}` ({e})", exe.display()),
    })?;
    let stderr = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut stderr = stderr;
            let _ = (&mut stderr).take(MAX_STDERR).read_to_end(&mut kept);
            // Drain the rest, so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            String::from_utf8_lossy(&kept).into_owned()
        })
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut picker = Picker::new(path, choice, visitor);
    let taken = pump(BufReader::new(stdout), &mut picker);
    let ended = picker.ended();
    // Done with the child, whatever it is still doing: it may be reading sheets nobody needs.
    if !ended || taken.is_err() {
        let _ = child.kill();
    }
    let status = wait(&mut child);
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if !stderr.trim().is_empty() {
        tracing::debug!(path = %path.display(), stderr = %stderr.trim(), "workbook reader's stderr");
    }
    match taken {
        Err(Pumped::Visitor(e)) => return Err(e),
        Err(Pumped::Garbled(what)) if ended => {
            return Err(SourceError::Workbook {
                path: path.to_path_buf(),
                message: format!("its reader process answered garbage ({what})"),
            }
            .into());
        }
        _ => {}
    }
    if !ended {
        return Err(gave_up(path, status).into());
    }
    picker.finish()
}

enum Pumped<E> {
    Visitor(E),
    Garbled(String),
}

/// Hands the child's messages to the picker until it or the child is done.
fn pump<V: RowVisitor>(
    mut lines: impl BufRead,
    picker: &mut Picker<'_, V>,
) -> Result<(), Pumped<V::Error>> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut lines)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(|e| Pumped::Garbled(e.to_string()))?;
        if read == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            return Err(Pumped::Garbled(format!(
                "a line of {read} bytes without its end"
            )));
        }
        let message: Message =
            serde_json::from_slice(&line).map_err(|e| Pumped::Garbled(e.to_string()))?;
        if picker.take(message).map_err(Pumped::Visitor)? == Flow::Stop {
            return Ok(());
        }
    }
}

fn wait(child: &mut Child) -> Option<ExitStatus> {
    loop {
        match child.wait() {
            Ok(status) => return Some(status),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Why a child stopped before its last message.
fn gave_up(path: &Path, status: Option<ExitStatus>) -> SourceError {
    use std::os::unix::process::ExitStatusExt;
    let path = path.to_path_buf();
    match status.and_then(|s| s.signal()) {
        Some(libc::SIGXCPU) => SourceError::ReaderLimit {
            path,
            limit: format!("{} s of CPU time", cpu_limit()),
        },
        Some(_) => SourceError::ReaderLimit {
            path,
            limit: format!("{} MiB", MEMORY_LIMIT >> 20),
        },
        None => SourceError::Workbook {
            path,
            message: match status.and_then(|s| s.code()) {
                Some(code) => format!("its reader process stopped without an answer (exit {code})"),
                None => "its reader process stopped without an answer".into(),
            },
        },
    }
}

/// The CPU limit in seconds: [`CPU_LIMIT_SECONDS`], or lower when [`CPU_LIMIT_ENV`] says so.
fn cpu_limit() -> u64 {
    std::env::var(CPU_LIMIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| (1..CPU_LIMIT_SECONDS).contains(&s))
        .unwrap_or(CPU_LIMIT_SECONDS)
}

/// The child: limits itself, reads `path` and writes what it finds to stdout. Returns the exit
/// status (0 once everything was written; failures to read are messages, not statuses).
pub fn serve(path: &Path, sheet: Option<&str>) -> u8 {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
    if let Err(e) = limit_self() {
        let message = Message::Failed {
            failure: super::whole::Failure::Workbook {
                message: format!("cannot limit its reader process ({e})"),
            },
        };
        let _ = write_message(&mut out, &message).and_then(|()| out.flush());
        return 0;
    }
    let mut broken = false;
    produce(path, sheet, &mut |message| {
        if write_message(&mut out, &message).is_err() {
            broken = true;
            return Flow::Stop;
        }
        Flow::Continue
    });
    if broken || out.flush().is_err() {
        // The parent went away (it had what it needed): nothing left to say.
        return 1;
    }
    0
}

fn write_message(out: &mut impl Write, message: &Message) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, message)?;
    out.write_all(b"\n")
}

/// Lowers this process's address-space and CPU limits (never above what they already are).
fn limit_self() -> std::io::Result<()> {
    set_limit(libc::RLIMIT_AS, MEMORY_LIMIT, MEMORY_LIMIT)?;
    let cpu = cpu_limit();
    // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
    set_limit(libc::RLIMIT_CPU, cpu, cpu + 1)
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we hand them.
    unsafe {
        if libc::getrlimit(resource, &mut current) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let hard = hard.min(current.rlim_max);
        let wanted = libc::rlimit {
            rlim_cur: soft.min(hard),
            rlim_max: hard,
        };
        if libc::setrlimit(resource, &wanted) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
