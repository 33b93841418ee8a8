//! The integration tests, as one binary: each module is one area of the CLI's behaviour, `support`
//! holds what they share.

mod support;

mod agreements;
mod bundles;
mod doctor;
mod emulator;
mod encodings;
mod existing;
mod exports;
mod hostile;
mod markets;
mod nightly;
mod onboarding;
mod output;
mod preflight;
mod rate;
mod reading;
mod recovery;
mod report;
mod resilience;
mod sign_in;
mod stopping;
mod validate_command;
mod validation;
mod workbooks;
mod write_back;
