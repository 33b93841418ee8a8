//! Files a person opens: a name ending in `.xlsx` is a real workbook of text cells, a CSV never
//! carries a cell a spreadsheet program would run as a formula, and passwords are never altered.

use std::os::unix::fs::PermissionsExt;

use calamine::{Data, Reader};
use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

/// A job whose sheet holds cells that a spreadsheet program would take for formulas.
fn job_with_formula_looking_cells() -> Job {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&[
        Customer::valid("formula1")
            .with("company_name", "=HYPERLINK(\"http://x.example\",\"Click\")")
            .with("external_id", "@SUM(A1)"),
        Customer::valid("formula2")
            .with("company_name", "+Plus Partners")
            .with("external_id", "-2+3"),
        Customer::valid("plain3").with("external_id", "WT-0003"),
    ]);
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    job
}

fn export(job: &Job, args: &[&str], out: &std::path::Path) -> Ran {
    let mut cmd = job.command(&["export"]);
    cmd.args(args)
        .arg("--out")
        .arg(out)
        .arg("--journal")
        .arg(&job.journal);
    Job::finish(cmd)
}

/// Every worksheet cell of the first sheet, as (row, column) → cell, and whether any is not text.
fn workbook_cells(path: &std::path::Path) -> (Vec<Vec<String>>, bool) {
    let workbook = calamine::open_workbook_auto(path).expect("a real workbook");
    let name = workbook.sheet_names()[0].clone();
    sheet_cells(path, &name)
}

/// A sheet's cells as text, and whether any cell was not a text cell.
fn sheet_cells(path: &std::path::Path, name: &str) -> (Vec<Vec<String>>, bool) {
    let mut workbook = calamine::open_workbook_auto(path).expect("a real workbook");
    let range = workbook.worksheet_range(name).unwrap();
    let mut all_text = true;
    let rows = range
        .rows()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => {
                        all_text = false;
                        other.to_string()
                    }
                })
                .collect()
        })
        .collect();
    (rows, !all_text)
}

#[test]
fn csv_cells_that_would_run_as_formulas_are_neutralised() {
    let job = job_with_formula_looking_cells();

    let results = job.results();

    let company = |domain: &str| {
        results
            .iter()
            .find(|r| r["domain"] == format!("{domain}.onmicrosoft.com"))
            .unwrap()
    };
    assert_eq!(
        company("formula1")["company_name"],
        "'=HYPERLINK(\"http://x.example\",\"Click\")"
    );
    assert_eq!(company("formula1")["external_id"], "'@SUM(A1)");
    assert_eq!(company("formula2")["company_name"], "'+Plus Partners");
    assert_eq!(company("formula2")["external_id"], "'-2+3");
    assert_eq!(company("plain3")["external_id"], "WT-0003");
    // The credentials CSV neutralises the sheet's cells too.
    let credentials = job.credentials();
    let line = credentials
        .iter()
        .find(|l| l["domain"] == "formula1.onmicrosoft.com")
        .unwrap();
    assert!(line["company_name"].starts_with("'="), "{line:?}");
}

#[test]
fn passwords_are_never_altered_in_the_credentials_csv() {
    let job = job_with_formula_looking_cells();

    let credentials = job.credentials();

    for line in &credentials {
        let issued = job.issued(&line["domain"]);
        assert_eq!(line["password"], issued.password, "{}", line["domain"]);
    }
}

#[test]
fn results_named_xlsx_are_a_workbook_a_distributor_forwards() {
    let job = job_with_formula_looking_cells();
    let out = job.ws.path("results.xlsx");

    let ran = export(&job, &[], &out);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let mut workbook = calamine::open_workbook_auto(&out).expect("a real workbook");
    assert_eq!(
        workbook.sheet_names(),
        ["Results", "Summary", "Adatum Resellers"],
        "every row (the contract's sheet first), a summary, then one sheet per reseller"
    );
    let results = workbook.worksheet_range("Results").unwrap();
    let header: Vec<String> = results
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[..3], ["row", "domain", "company_name"]);
    assert_eq!(header[14..], ["mca_attested", "reseller_name"]);
    let formula = results
        .rows()
        .find(|r| r[1] == Data::String("formula1.onmicrosoft.com".into()))
        .unwrap();
    assert_eq!(
        formula[2],
        Data::String("=HYPERLINK(\"http://x.example\",\"Click\")".into()),
        "a text cell holds the text as it is, never a formula"
    );
    assert!(
        matches!(formula[0], Data::Float(_)),
        "row numbers are numbers"
    );
    assert_eq!(formula[11], Data::Bool(false), "flags are booleans");
    assert_eq!(formula[15], Data::String("Adatum Resellers".into()));
    assert_eq!(results.rows().count(), 4);
    let summary = workbook.worksheet_range("Summary").unwrap();
    let line: Vec<String> = summary
        .rows()
        .nth(1)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(line[..4], ["Adatum Resellers", ADATUM, "3", "3"]);
    // Every sheet's header row is frozen and filtered.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    for n in 1..=3 {
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name(&format!("xl/worksheets/sheet{n}.xml")).unwrap(),
            &mut xml,
        )
        .unwrap();
        assert!(xml.contains("ySplit=\"1\""), "sheet {n}: frozen header");
        assert!(xml.contains("<autoFilter"), "sheet {n}: autofilter");
    }
}

#[test]
fn credentials_named_xlsx_are_a_private_workbook_with_the_passwords_as_issued() {
    let job = job_with_formula_looking_cells();
    let out = job.ws.path("passwords.xlsx");
    let identity = job.identity.display().to_string();

    let ran = export(&job, &["--credentials", "--identity", &identity], &out);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04", "a zip container, not CSV text");
    let (rows, not_text) = workbook_cells(&out);
    assert!(!not_text);
    let header = &rows[0];
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows.len(), 4);
    for row in &rows[1..] {
        let issued = job.issued(&row[column("domain")]);
        assert_eq!(row[column("password")], issued.password);
    }
}

#[test]
fn a_file_name_that_is_neither_csv_nor_xlsx_is_refused_and_nothing_is_written() {
    let job = job_with_formula_looking_cells();
    for name in ["results.ods", "results.xls", "results"] {
        let out = job.ws.path(name);

        let ran = export(&job, &[], &out);

        assert_eq!(ran.code, 2, "{name}: {}", ran.stderr);
        assert!(
            ran.stderr
                .contains("csp-onboard writes `.csv` and `.xlsx` files"),
            "{}",
            ran.stderr
        );
        assert!(!out.exists(), "{name} was written");
    }
}
