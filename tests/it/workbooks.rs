//! Issue "Workbooks exhaust memory or panic": every workbook ends with a verdict — rows, or exit 2
//! with a message naming what is wrong — within bounded memory and time, and no value ever lands in
//! another column. Each test makes its hostile file; `hostile_corpus_*` replays the crash corpus.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use csp_onboard::source::{SheetChoice, SourceOptions};

use crate::support::*;

/// `validate FILE --format json` with `env`, timed.
fn validate_with(path: &Path, env: &[(&str, &str)]) -> (Validation, Duration) {
    let started = Instant::now();
    let mut cmd = csp_onboard();
    cmd.arg("validate").arg(path).args(["--format", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}"));
    let validation = Validation {
        code: out.status.code().unwrap_or(-1),
        doc,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (validation, elapsed)
}

/// Asserts exit 2 with an `error:` line containing `words`, and no panic text.
fn assert_refused(v: &Validation, words: &str) {
    assert_eq!(v.code, 2, "{}", v.stderr);
    let first = v.stderr.lines().next().unwrap_or("");
    assert!(first.starts_with("error: "), "{}", v.stderr);
    assert!(first.contains(words), "wanted {words:?} in: {}", v.stderr);
    assert!(!v.stderr.contains("panicked"), "{}", v.stderr);
    assert!(
        v.doc["error"].as_str().unwrap().contains(words),
        "{}",
        v.doc
    );
}

fn header_row() -> String {
    row(1, &cells_of(1, &HEADERS))
}

#[test]
fn issue_xlsx_cells_out_of_column_order_land_in_their_own_columns() {
    let ws = Workspace::new();
    // The issue's sheet: the email of `wingtiptoys8817` read as its domain, every later value
    // one column off. Here the data row's cells are written right to left.
    let customer = Customer::valid("wingtiptoys8817");
    let mut cells = cells_of(2, &customer.cells());
    cells.reverse();
    let path = ws.write(
        "shuffled.xlsx",
        xlsx_package(&(header_row() + &row(2, &cells)), &[]),
    );

    let (validation, _) = validate_with(&path, &[]);
    assert_eq!(
        validation.code, 0,
        "{}\n{}",
        validation.stderr, validation.doc
    );
    assert_eq!(validation.doc["errors"].as_array().unwrap().len(), 0);

    let sheet = read_sheet(&path, &SourceOptions::default()).unwrap();
    assert_eq!(sheet.cell(2, "domain"), "wingtiptoys8817");
    assert_eq!(sheet.cell(2, "email"), "gena@wingtiptoys.com");
    assert_eq!(sheet.cell(2, "address_line2"), "", "the gap stays a gap");
    assert_eq!(sheet.cell(2, "associated_partner_id"), ADATUM);
}

#[test]
fn an_xlsx_cell_past_column_xfd_is_refused_naming_it() {
    let ws = Workspace::new();
    for (name, reference) in [("xfe.xlsx", "XFE2"), ("zzz.xlsx", "ZZZZZZZ20")] {
        let body = header_row() + &format!(r#"<row r="2">{}</row>"#, inline(reference, "x"));
        let path = ws.write(name, xlsx_package(&body, &[]));
        let (v, _) = validate_with(&path, &[]);
        assert_refused(
            &v,
            &format!(
                "is damaged: sheet `Customers`, cell `{reference}` lies past Excel's last column (`XFD`)"
            ),
        );
    }
}

#[test]
fn an_xlsx_row_past_1048576_or_past_u32_is_refused_naming_the_cell() {
    let ws = Workspace::new();
    // `A4294967297` wraps to A1 in u32 arithmetic: it must not overwrite the header.
    for (number, reference) in [(1_048_577u64, "A1048577"), (4_294_967_297, "A4294967297")] {
        let body = header_row() + &row(number, &[inline(reference, "x")]);
        let path = ws.write(&format!("row{number}.xlsx"), xlsx_package(&body, &[]));
        let (v, _) = validate_with(&path, &[]);
        assert_refused(
            &v,
            &format!("cell `{reference}` lies past Excel's last row (1048576)"),
        );
    }
}

#[test]
fn an_xlsx_cell_given_twice_or_a_row_going_back_is_damaged() {
    let ws = Workspace::new();
    let twice = header_row()
        + &row(
            2,
            &[inline("B2", "x"), inline("C2", "y"), inline("B2", "z")],
        );
    let path = ws.write("twice.xlsx", xlsx_package(&twice, &[]));
    let (v, _) = validate_with(&path, &[]);
    assert_refused(&v, "is damaged: sheet `Customers`, cell `B2` appears twice");

    let back = header_row() + &row(5, &[inline("A5", "x")]) + &row(3, &[inline("A3", "y")]);
    let path = ws.write("back.xlsx", xlsx_package(&back, &[]));
    let (v, _) = validate_with(&path, &[]);
    assert_refused(&v, "row 3 comes after row 5");
}

#[test]
fn an_xlsx_declaring_a_huge_shared_strings_table_is_refused_before_reading_it() {
    let ws = Workspace::new();
    let strings = br#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" uniqueCount="1"><si><t>domain</t></si></sst>"#;
    let mut package = xlsx_package(
        &header_row(),
        &[("xl/sharedStrings.xml", strings.as_slice())],
    );
    declare_size(&mut package, "xl/sharedStrings.xml", 0x8000_0000);
    let path = ws.write("sst.xlsx", package);

    let (v, elapsed) = validate_with(&path, &[]);
    assert_refused(
        &v,
        "its part `xl/sharedstrings.xml` unpacks to 2048 MiB; csp-onboard reads such parts up to 64 MiB",
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn an_xlsx_that_is_a_compound_file_is_refused_as_encrypted() {
    let ws = Workspace::new();
    let path = ws.write("protected.xlsx", legacy_xls());
    let (v, _) = validate_with(&path, &[]);
    assert_refused(
        &v,
        "is password-protected (encrypted), or an Excel 97-2003 workbook named .xlsx",
    );
    assert!(
        v.stderr.contains("hint: remove the password"),
        "{}",
        v.stderr
    );

    let path = ws.write(
        "web.xls",
        "<html><table><tr><td>domain</td></tr></table></html>",
    );
    let (v, _) = validate_with(&path, &[]);
    assert_refused(&v, "it is not an Excel 97-2003 workbook");
}

#[test]
fn a_mangled_xls_that_makes_calamine_panic_is_reported_damaged() {
    let ws = Workspace::new();
    // Cut inside its last sector: calamine's `to_u32` asserts on the length (utils.rs:29).
    let path = ws.write("cut.xls", &legacy_xls()[..843]);
    let (v, _) = validate_with(&path, &[]);
    assert_refused(&v, "is damaged: the reader failed at calamine-");
    assert!(!v.stderr.contains("thread '"), "{}", v.stderr);
}

#[test]
fn the_dimensions_bomb_xls_is_refused_within_bounded_memory_and_time() {
    let ws = Workspace::new();
    let path = ws.write("bomb.xls", xls_dimensions_bomb());
    let (v, elapsed) = validate_with(&path, &[]);
    assert_refused(&v, "it is damaged or too large to read within 448 MiB");
    assert!(
        v.stderr.contains("hint: save it as .xlsx or CSV"),
        "{}",
        v.stderr
    );
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let peak = children_peak_rss_mib();
    assert!(peak < 512, "peak RSS {peak} MiB");
}

#[test]
fn an_ods_that_never_ends_is_stopped_by_the_cpu_limit() {
    let ws = Workspace::new();
    // The table is never closed: calamine 0.38 loops at EOF instead of failing.
    let content = ods_content(&[("S", vec![vec!["domain"]])]);
    let cut = &content[..content.find("</table:table>").unwrap()];
    let path = ws.write("endless.ods", ods_package(cut));
    let (v, elapsed) = validate_with(&path, &[(csp_onboard::source::CPU_LIMIT_ENV, "2")]);
    assert_refused(
        &v,
        "it is damaged or too large to read within 2 s of CPU time",
    );
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
}

#[test]
fn the_reader_child_picks_sheets_as_the_in_process_reader_does() {
    let ws = Workspace::new();
    // Each sheet's customer has an email that names its sheet, and is refused: the report shows
    // which sheet was read.
    let customers = Customer::valid("a1").with("email", "from-customers");
    let other = Customer::valid("o1").with("email", "from-other");
    let (customers, other) = (customers.cells(), other.cells());
    let content = ods_content(&[
        ("Instructions", vec![vec!["Fill in the Customers sheet"]]),
        (
            "Customers",
            vec![
                HEADERS.to_vec(),
                customers.iter().map(String::as_str).collect(),
            ],
        ),
        (
            "Other",
            vec![HEADERS.to_vec(), other.iter().map(String::as_str).collect()],
        ),
    ]);
    let path = ws.write("book.ods", ods_package(&content));
    for (args, email) in [
        (vec![], "from-customers"),
        (vec!["--sheet", "Other"], "from-other"),
        (vec!["--sheet", "3"], "from-other"),
    ] {
        let v = validate_json(&path, &args);
        assert_eq!(v.code, 1, "{args:?}: {}", v.stderr);
        let errors = v.errors_of(2);
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == "email" && e["value"] == email),
            "{args:?}: {}",
            v.doc
        );
    }
    let v = validate_json(&path, &["--sheet", "West"]);
    assert_eq!(v.code, 2);
    assert!(
        v.stderr
            .contains("has no sheet `West`; its sheets are `Instructions`, `Customers`, `Other`"),
        "{}",
        v.stderr
    );
    // In-process, the same choice.
    let sheet = read_sheet(&path, &SourceOptions::default()).unwrap();
    assert_eq!(sheet.info.sheet.as_deref(), Some("Customers"));
    let named = SourceOptions {
        sheet: SheetChoice::Named("Other".into()),
        ..SourceOptions::default()
    };
    assert_eq!(read_sheet(&path, &named).unwrap().cell(2, "domain"), "o1");
}

#[test]
fn the_reader_child_writes_the_rows_read_in_process() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy.xls");
    let out = csp_onboard()
        .arg(csp_onboard::source::READ_WORKBOOK)
        .arg(&fixture)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut child_rows = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let message: serde_json::Value = serde_json::from_str(line).unwrap();
        if message["kind"] == "row" {
            let cells: Vec<String> = message["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            child_rows.push((message["number"].as_u64().unwrap(), cells));
        }
    }
    let sheet = read_sheet(&fixture, &SourceOptions::default()).unwrap();
    let mut in_process = vec![(sheet.header.number, sheet.header.cells.clone())];
    in_process.extend(sheet.rows.iter().cloned());
    assert_eq!(child_rows, in_process);
}

/// The crash corpus: the colleague's crafted files and what fuzzing found, small files only.
fn hostile_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "{} files in {}",
        files.len(),
        dir.display()
    );
    files
}

#[test]
fn hostile_corpus_every_file_ends_with_a_verdict_in_bounded_memory() {
    for path in hostile_files() {
        let (v, elapsed) = validate_with(&path, &[(csp_onboard::source::CPU_LIMIT_ENV, "3")]);
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            [0, 1, 2].contains(&v.code),
            "{name}: exit {}\n{}",
            v.code,
            v.stderr
        );
        assert!(!v.stderr.contains("panicked"), "{name}: {}", v.stderr);
        assert!(elapsed < Duration::from_secs(30), "{name}: {elapsed:?}");
        let peak = children_peak_rss_mib();
        assert!(peak < 512, "{name}: peak RSS {peak} MiB so far");
    }
}
