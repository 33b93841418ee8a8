//! Journal import of a 1,000,000-row sheet (issue: "journal import of 1M rows, target <= 10 s"):
//! the same code path `run` takes before dispatching — read, map, validate, build each request
//! body, hash it and upsert it by domain, in one transaction, on a durable (WAL, synchronous=FULL)
//! journal.
//!
//! Run: `cargo bench --bench journal` (add `-- --rows N` for another size). A second import of the
//! same sheet into the same journal (the nightly no-op) is timed too.

use std::time::Instant;

use csp_onboard::journal::{Access, Journal};
use csp_onboard::mapping::Template;
use csp_onboard::source::SourceOptions;

mod common;

fn main() {
    let rows = common::rows_arg(1_000_000);
    let sheet = common::csv_sheet(&common::data_dir(), rows);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.journal.sqlite");
    let input = csp_onboard::job::SheetInput {
        path: sheet.clone(),
        options: SourceOptions::default(),
        template: Template::builtin(),
        add_sheet: false,
        retry_failed: false,
        preflight: false,
        attest_mca: None,
    };

    for pass in ["first import", "re-import (nothing changed)"] {
        let started = Instant::now();
        let mut journal = Journal::open(&path, Access::CreateAndWork).unwrap();
        let run_id = journal
            .begin_run("run", None, None, None, &serde_json::Value::Null)
            .unwrap();
        let summary = csp_onboard::job::import(&mut journal, &input, run_id).unwrap();
        drop(journal);
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{pass}: {rows} rows in {elapsed:.2} s ({:.0} rows/s; new {}, unchanged {}, invalid {}) — target <= 10 s",
            rows as f64 / elapsed,
            summary.new,
            summary.unchanged,
            summary.invalid
        );
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!("journal size: {:.0} MB", size as f64 / 1e6);
}
