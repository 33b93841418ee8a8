//! `csp_onboard::source::read` on a .xlsx file: the reader a user's file meets, panics not
//! contained for us (a panic or abort here is a bug of ours, or a calamine call left unguarded).
#![no_main]

mod common;

use csp_onboard::source::{SourceOptions, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::as_file(data, "xlsx");
    let mut visitor = common::AnySheet { rows: 0 };
    let _ = read(&path, &SourceOptions::default(), &mut visitor);
});
