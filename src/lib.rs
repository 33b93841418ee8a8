//! csp-onboard: onboard customers into Microsoft Partner Center in bulk.
//!
//! The data flows one way — `source → mapping → validate → journal → dispatch → report` — and
//! each stage is a module of its own (see `docs/architecture.md`). `main.rs` only calls [`cli::main`].

pub mod cli;
pub mod countries;
pub mod emulator;
pub mod error;
pub mod intake;
pub mod mapping;
pub mod rate;
pub mod report;
pub mod source;
pub mod starter;
pub mod validate;

pub use error::{Error, ExitCode};
