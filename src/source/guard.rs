//! Containing a workbook reader's panics.
//!
//! calamine indexes slices with offsets read from the file, and (compiled with overflow checks,
//! see `Cargo.toml`) does arithmetic that a forged value overflows: a damaged workbook makes it
//! panic. A panic must never become exit 101 — the user needs a verdict on the file, not a crash —
//! so every call into calamine runs through [`contain`], which catches the unwind and hands back
//! what went wrong as a [`Panicked`], for the caller to report as a damaged workbook.
//!
//! The default panic hook would still print "thread 'main' panicked at ..." to stderr before the
//! unwind is caught. [`contain`] therefore installs, once per process, a hook that stays silent
//! while the current thread is inside a contained call (a thread-local flag) and records the
//! message and place instead; outside, it delegates to the hook that was there before, so a bug in
//! our own code still panics loudly, and test harnesses (libtest, libFuzzer) keep their own hooks.
//!
//! Only the calls into the readers are contained — calamine, and the zip crate and quick-xml where
//! we check a package ourselves before calamine sees it — not our code around them: a panic in the
//! row assembly or a visitor is ours to fix and must not pass for a damaged file.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// How many contained calls this thread is inside (they may nest).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// What the silent hook saw of the last contained panic: its message and place.
    static LAST: RefCell<Option<Panicked>> = const { RefCell::new(None) };
}

/// A panic caught inside a reader: its message and where it happened (`calamine-0.38.0/src/xls.rs:633`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    pub message: String,
    pub location: Option<String>,
}

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(at) => write!(f, "the reader failed at {at} ({})", self.message),
            None => write!(f, "the reader failed ({})", self.message),
        }
    }
}

/// Runs `f`, turning a panic inside it into `Err` without printing anything.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    result.map_err(|payload| {
        let seen = LAST.with(|last| last.borrow_mut().take());
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        match (seen, message) {
            (Some(seen), _) => seen,
            (None, message) => Panicked {
                message: message.unwrap_or_else(|| "a panic without a message".into()),
                location: None,
            },
        }
    })
}

fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                LAST.with(|last| *last.borrow_mut() = Some(describe(info)));
            } else {
                previous(info);
            }
        }));
    });
}

fn describe(info: &PanicHookInfo<'_>) -> Panicked {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    let location = info
        .location()
        .map(|l| format!("{}:{}", short_path(l.file()), l.line()));
    Panicked { message, location }
}

/// `/root/.cargo/registry/src/index.crates.io-…/calamine-0.38.0/src/xls.rs` → `calamine-0.38.0/src/xls.rs`:
/// the crate and file, without the machine's paths.
fn short_path(file: &str) -> &str {
    let parts: Vec<&str> = file.split('/').collect();
    match parts.iter().rposition(|p| *p == "src") {
        Some(i) if i > 0 => {
            let start = parts[..i - 1].iter().map(|p| p.len() + 1).sum::<usize>();
            &file[start..]
        }
        _ => file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_comes_back_with_its_message_and_place() {
        let caught = contain(|| {
            let v: Vec<u8> = Vec::new();
            v[3]
        })
        .unwrap_err();
        assert!(caught.message.contains("index out of bounds"), "{caught:?}");
        let at = caught.location.unwrap();
        assert!(at.starts_with("src/source/guard.rs:"), "{at}");
    }

    #[test]
    fn values_pass_through_and_nesting_unwinds_to_the_inner_guard() {
        assert_eq!(contain(|| 7), Ok(7));
        let outer = contain(|| contain(|| panic!("inner")).unwrap_err().message);
        assert_eq!(outer, Ok("inner".to_string()));
    }

    #[test]
    fn registry_paths_are_shortened_to_the_crate() {
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/calamine-0.38.0/src/xls.rs"
            ),
            "calamine-0.38.0/src/xls.rs"
        );
        assert_eq!(short_path("src/source/guard.rs"), "src/source/guard.rs");
    }
}
