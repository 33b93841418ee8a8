//! The xls reader as the reader child runs it (`read_workbook_in_process`: calamine under the
//! panic guard, feeding the sheet picker), without the magic-byte check in front, so calamine's
//! parser sees every input. Memory and time are not bounded here as they are in the child: run
//! with `-malloc_limit_mb` and `-timeout` (see fuzz/README.md) to list what the child's limits
//! would stop.
#![no_main]

mod common;

use csp_onboard::source::{SheetChoice, read_workbook_in_process};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::as_file(data, "xls");
    let mut visitor = common::AnySheet { rows: 0 };
    let _ = read_workbook_in_process(&path, &SheetChoice::FirstRecognized, &mut visitor);
});
