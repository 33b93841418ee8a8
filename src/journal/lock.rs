//! One writer per journal: an advisory lock (`flock`) on the journal file itself, which the kernel
//! releases when the process dies — a `kill -9` never leaves a stale lock.
//!
//! The lock belongs to the file, not to its name: a second run reaching the same journal through a
//! symlink, a hard link or another spelling of the path finds it taken. (A lock on a `<name>.lock`
//! file beside the journal did not: two writers worked one journal through a symlink, and the
//! second's creates came back "domain taken".) `flock` locks and SQLite's own POSIX locks on the
//! same file do not interact on Linux; the lock's descriptor is closed only after SQLite's
//! connection is, because closing any descriptor of a file drops the process's POSIX locks on it
//! (see `Journal`'s field order).
//!
//! Who holds it is read from `/proc/locks` (Linux), for the "in use by process N" message.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::JournalError;

#[derive(Debug)]
pub struct JournalLock {
    _file: File,
}

impl JournalLock {
    /// Locks the journal file (which must exist), or says who has it.
    pub fn acquire(journal: &Path) -> Result<JournalLock, JournalError> {
        let io = |source| JournalError::Io {
            path: journal.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(journal)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(JournalLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let inode = file.metadata().map(|m| m.ino()).ok();
                Err(JournalError::Locked {
                    path: journal.to_path_buf(),
                    holder: inode
                        .and_then(holder_of)
                        .unwrap_or_else(|| "another process".into()),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// The process holding an `flock` on the file with this inode, as `process N (csp-onboard run)`.
fn holder_of(inode: u64) -> Option<String> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let pid = locks.lines().find_map(|line| {
        // `1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF`
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (kind, pid, id) = (fields.get(1)?, fields.get(4)?, fields.get(5)?);
        let lock_inode: u64 = id.rsplit(':').next()?.parse().ok()?;
        (*kind == "FLOCK" && lock_inode == inode).then(|| pid.to_string())
    })?;
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|raw| {
            let mut args = raw.split(|b| *b == 0).map(String::from_utf8_lossy);
            let program = args.next().unwrap_or_default();
            let program = program.rsplit('/').next().unwrap_or_default().to_string();
            match args.next() {
                Some(command) if !command.is_empty() => format!("{program} {command}"),
                _ => program,
            }
        });
    Some(match command {
        Some(command) if !command.is_empty() => format!("process {pid} ({command})"),
        _ => format!("process {pid}"),
    })
}
