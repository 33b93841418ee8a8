//! csp-onboard: onboard customers into Microsoft Partner Center in bulk.
//!
//! The data flows one way — `source → mapping → validate → journal → dispatch → report` — and
//! each stage is a module of its own (see `docs/architecture.md`). `main.rs` only calls [`cli::main`].

pub mod auth;
pub mod cli;
pub mod countries;
pub mod credentials;
pub mod dispatch;
pub mod emulator;
pub mod error;
pub mod folding;
pub mod intake;
pub mod job;
pub mod journal;
pub mod mapping;
pub mod model;
pub mod partner_center;
pub mod prefetch;
pub mod preflight;
pub mod printer;
pub mod rate;
pub mod report;
pub mod shown;
pub mod source;
pub mod starter;
pub mod validate;

pub use error::{Error, ExitCode};
