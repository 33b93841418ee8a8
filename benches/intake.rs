//! `validate` against a bare read of the same file (issues: "validate at most 2× a bare CSV read,
//! peak RSS under 100 MiB; a 100,000-row xlsx at most 1.5× a bare calamine load").
//!
//! Run: `cargo bench --bench intake` (add `-- --rows N` for another CSV size). The sheets are
//! generated once into `target/bench-data/`. The bare read and `validate` run in turn, seven
//! rounds; printed are the best time of each and the median of the rounds' ratios. The validate
//! figure includes process start, template parsing and writing the JSON report.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use calamine::{Reader, open_workbook_auto};

mod common;
use common::{csv_sheet, xlsx_sheet};

/// Rounds of (bare read, validate), run in turn so a drift in the machine's speed affects both.
const ROUNDS: usize = 7;

fn main() {
    let rows = common::rows_arg(1_000_000);
    let dir = common::data_dir();

    let csv = csv_sheet(&dir, rows);
    let size = std::fs::metadata(&csv).unwrap().len();
    let csv_pairs = in_turn(|| bare_csv_read(&csv), || validate_binary(&csv));
    println!(
        "csv  {rows} rows, {:.0} MB: bare read {:.3} s, validate {:.3} s (best of {ROUNDS}) = {:.2}x; median of the rounds' ratios {:.2}x (target <= 2x); peak RSS {:.1} MiB (target < 100)",
        size as f64 / 1e6,
        csv_pairs.bare,
        csv_pairs.validate,
        csv_pairs.validate / csv_pairs.bare,
        csv_pairs.median_ratio,
        peak_rss_of_children_kib() as f64 / 1024.0,
    );

    let xlsx = xlsx_sheet(&dir, 100_000);
    let xlsx_pairs = in_turn(|| bare_xlsx_load(&xlsx), || validate_binary(&xlsx));
    println!(
        "xlsx 100000 rows: bare calamine load {:.3} s, validate {:.3} s (best of {ROUNDS}) = {:.2}x; median of the rounds' ratios {:.2}x (target <= 1.5x); peak RSS {:.1} MiB",
        xlsx_pairs.bare,
        xlsx_pairs.validate,
        xlsx_pairs.validate / xlsx_pairs.bare,
        xlsx_pairs.median_ratio,
        peak_rss_of_children_kib() as f64 / 1024.0,
    );
}

struct Pairs {
    /// Best times, seconds.
    bare: f64,
    validate: f64,
    /// The median over the rounds of validate / bare.
    median_ratio: f64,
}

fn in_turn(mut bare: impl FnMut(), mut validate: impl FnMut()) -> Pairs {
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_secs_f64()
    };
    let rounds: Vec<(f64, f64)> = (0..ROUNDS)
        .map(|_| (time(&mut bare), time(&mut validate)))
        .collect();
    let mut ratios: Vec<f64> = rounds.iter().map(|(b, v)| v / b).collect();
    ratios.sort_by(f64::total_cmp);
    Pairs {
        bare: rounds.iter().map(|r| r.0).fold(f64::INFINITY, f64::min),
        validate: rounds.iter().map(|r| r.1).fold(f64::INFINITY, f64::min),
        median_ratio: ratios[ratios.len() / 2],
    }
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

/// One `validate` run of the release binary.
fn validate_binary(path: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_csp-onboard"))
        .arg("validate")
        .arg(path)
        .args(["--format", "json"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "the bench sheet must be valid");
}

/// The largest peak RSS (KiB) of the children waited for so far.
fn peak_rss_of_children_kib() -> i64 {
    // SAFETY: getrusage only writes the struct we hand it.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    }
}
