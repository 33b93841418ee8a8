//! The integration tests, as one binary: each module is one area of the CLI's behaviour, `support`
//! holds what they share.

mod support;

mod emulator;
mod encodings;
mod exports;
mod hostile;
mod onboarding;
mod rate;
mod reading;
mod resilience;
mod stopping;
mod validate_command;
mod validation;
