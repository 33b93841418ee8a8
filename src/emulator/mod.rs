//! A local Partner Center (placeholder until the emulator issue lands).
pub mod cli;
