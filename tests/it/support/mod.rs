//! Shared fixtures for the integration tests, by what they offer:
//! - `sheets`: the canonical headers, customer rows, CSV text, xlsx cells, and reading sheets back;
//! - `workspace`: a temp folder for one test's files, with an xlsx builder;
//! - `emulator_client`: a bare-hands Partner Center client for the emulator's contract;
//! - `job`: the real binary, bare or run as a job against an in-process emulator;
//! - `outcomes`: what a job left behind, checked, and the signals a test sends it;
//! - `packages`: workbook files made by hand (hostile xlsx, ods and xls) and children's peak memory.
//!
//! Everything is re-exported here: `use crate::support::*;`.

mod emulator_client;
mod job;
mod outcomes;
mod packages;
mod sheets;
mod workspace;

pub use emulator_client::*;
pub use job::*;
pub use outcomes::*;
pub use packages::*;
pub use sheets::*;
pub use workspace::*;
