//! `validate` against a bare read of the same file (issues: "validate at most 2× a bare CSV read,
//! peak RSS under 100 MiB; a 100,000-row xlsx at most 1.5× a bare calamine load").
//!
//! Run: `cargo bench --bench intake` (add `-- --rows N` for another CSV size). The sheets are
//! generated once into `target/bench-data/`. Times are the best of three; the validate figure
//! includes process start, template parsing and writing the JSON report.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use calamine::{Reader, open_workbook_auto};

mod common;
use common::{csv_sheet, xlsx_sheet};

fn main() {
    let rows = common::rows_arg(1_000_000);
    let dir = common::data_dir();

    let csv = csv_sheet(&dir, rows);
    let size = std::fs::metadata(&csv).unwrap().len();
    let bare = best_of(3, || bare_csv_read(&csv));
    let (validate, rss) = validate_binary(&csv);
    println!(
        "csv  {rows} rows, {:.0} MB: bare read {:.3} s, validate {:.3} s = {:.2}x (target <= 2x), peak RSS {:.1} MiB (target < 100)",
        size as f64 / 1e6,
        bare.as_secs_f64(),
        validate.as_secs_f64(),
        validate.as_secs_f64() / bare.as_secs_f64(),
        rss as f64 / 1024.0,
    );

    let xlsx = xlsx_sheet(&dir, 100_000);
    let bare = best_of(3, || bare_xlsx_load(&xlsx));
    let (validate, rss) = validate_binary(&xlsx);
    println!(
        "xlsx 100000 rows: bare calamine load {:.3} s, validate {:.3} s = {:.2}x (target <= 1.5x), peak RSS {:.1} MiB",
        bare.as_secs_f64(),
        validate.as_secs_f64(),
        validate.as_secs_f64() / bare.as_secs_f64(),
        rss as f64 / 1024.0,
    );
}

fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn bare_csv_read(path: &Path) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let mut record = csv::ByteRecord::new();
    let mut n = 0u64;
    while reader.read_byte_record(&mut record).unwrap() {
        n += 1;
    }
    assert!(n > 0);
}

fn bare_xlsx_load(path: &Path) {
    let mut workbook = open_workbook_auto(path).unwrap();
    let first = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&first).unwrap();
    assert!(range.height() > 0);
}

/// Best wall time of three `validate` runs, and the peak RSS (KiB) of the children.
fn validate_binary(path: &Path) -> (Duration, i64) {
    let time = best_of(3, || {
        let status = Command::new(env!("CARGO_BIN_EXE_csp-onboard"))
            .arg("validate")
            .arg(path)
            .args(["--format", "json"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "the bench sheet must be valid");
    });
    // SAFETY: getrusage only writes the struct we hand it.
    let rss = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    (time, rss)
}
