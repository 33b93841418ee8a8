//! `export --write-back`: the distributor's own sheet with each row's outcome appended — its own
//! cells, sheets and rows as they were (read back with calamine and the csv crate), the outcome
//! matching the journal and the emulator — and refused when the sheet is not the one imported.

use calamine::{Data, Reader};
use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

const APPENDED: [&str; 5] = [
    "csp-onboard state",
    "csp-onboard customer id",
    "csp-onboard sign-in name",
    "csp-onboard error",
    "csp-onboard MCA attestation",
];

fn write_back(job: &Job, out: &str, extra: &[&str]) -> Ran {
    let mut cmd = job.command(&["export", "--journal"]);
    cmd.arg(&job.journal)
        .arg("--write-back")
        .arg(job.ws.path(out))
        .args(extra);
    Job::finish(cmd)
}

fn sheet_cells(path: &std::path::Path, sheet: &str) -> Vec<Vec<String>> {
    let mut workbook = calamine::open_workbook_auto(path).expect("a real workbook");
    let range = workbook.worksheet_range(sheet).unwrap();
    range
        .rows()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn an_xlsx_write_back_keeps_every_cell_and_sheet_and_adds_the_outcome() {
    let job = Job::new(EmulatorConfig::default());
    let good = Customer::valid("wbgood");
    let taken = Customer::valid("contoso");
    let bad = Customer::valid("wbbad").with("email", "not-an-email");
    let header: Vec<Cell> = HEADERS.iter().map(|h| text(h)).collect();
    let row = |c: &Customer| Some(c.cells().iter().map(|v| text(v)).collect::<Vec<_>>());
    let mut with_number = row(&good).unwrap();
    with_number.push(Cell::Formatted(42.0, "00000"));
    let sheet = job.ws.xlsx(
        "customers.xlsx",
        &[
            (
                "Read me",
                vec![Some(vec![text("Fill in the Customers sheet")])],
            ),
            (
                "Customers",
                vec![
                    None,
                    Some(header),
                    Some(with_number),
                    row(&taken),
                    row(&bad),
                ],
            ),
        ],
    );
    let ran = job.run(&sheet, &["--attest-mca"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);

    let wrote = write_back(&job, "customers-done.xlsx", &[]);

    assert_eq!(wrote.code, 0, "{}", wrote.stderr);
    let copy = job.ws.path("customers-done.xlsx");
    assert_eq!(
        sheet_cells(&copy, "Read me"),
        sheet_cells(&sheet, "Read me")
    );
    let before = sheet_cells(&sheet, "Customers");
    let after = sheet_cells(&copy, "Customers");
    assert_eq!(after.len(), before.len());
    let width = before[0].len();
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            &new[..width],
            &old[..],
            "the sheet's own cells are untouched"
        );
    }
    // (calamine's range starts at the header, the first used row.)
    assert_eq!(after[1][width - 1], "42");
    let appended = |r: usize| after[r][width..].to_vec();
    assert_eq!(
        appended(0),
        APPENDED,
        "the header gets the titles, after the last used column"
    );
    let issued = job.issued("wbgood.onmicrosoft.com");
    assert_eq!(
        appended(1),
        [
            "created",
            issued.id.as_str(),
            "admin@wbgood.onmicrosoft.com",
            "",
            "attested"
        ]
    );
    assert_eq!(appended(2)[0], "failed");
    assert!(appended(2)[3].contains("taken"), "{:?}", appended(2));
    assert_eq!(appended(3)[0], "invalid");
    assert!(appended(3)[3].contains("email"), "{:?}", appended(3));
    // Every other part of the package — styles and number formats among them — is as it was.
    let parts = |path: &std::path::Path| {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        (0..zip.len())
            .map(|i| {
                let mut entry = zip.by_index(i).unwrap();
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
                (entry.name().unwrap().into_owned(), bytes)
            })
            .collect::<Vec<_>>()
    };
    let (old, new) = (parts(&sheet), parts(&copy));
    assert_eq!(old.len(), new.len());
    let changed: Vec<&str> = old
        .iter()
        .zip(&new)
        .filter(|(o, n)| o != n)
        .map(|(o, _)| o.0.as_str())
        .collect();
    assert_eq!(changed, ["xl/worksheets/sheet2.xml"]);
    assert!(
        wrote.stderr.contains("with the outcome of 3 row(s)"),
        "{}",
        wrote.stderr
    );
}

#[test]
fn a_csv_write_back_keeps_the_delimiter_and_every_cell_as_it_was() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("wbcsv", 3);
    // Semicolons, Windows-1252, a cell with spaces around it and, in a column of the
    // distributor's own, one across two lines.
    let mut text = String::new();
    for (i, line) in csv_text(&rows).replace(',', ";").lines().enumerate() {
        let note = match i {
            0 => "Notes",
            1 => "\"call first\nthen mail\"",
            _ => "",
        };
        text.push_str(&format!("{line};{note}\n"));
    }
    text = text.replacen("Wingtip Toys", "  Wingtip Toys  ", 1);
    text = text.replacen("Redmond", "Redmönd", 1);
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let sheet = job.ws.write("klanten.csv", bytes.as_ref());
    assert_eq!(job.run(&sheet, &[]).code, 0);

    let wrote = write_back(&job, "klanten-done.csv", &[]);

    assert_eq!(wrote.code, 0, "{}", wrote.stderr);
    let copy = std::fs::read(job.ws.path("klanten-done.csv")).unwrap();
    assert!(
        copy.starts_with(b"\xEF\xBB\xBF"),
        "UTF-8 with a byte-order mark, for Excel"
    );
    let read = |data: &[u8]| -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .flexible(true)
            .from_reader(data)
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    };
    let before = read(text.as_bytes());
    let after = read(&copy[3..]);
    assert_eq!(after.len(), before.len());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(&new[..old.len()], &old[..]);
    }
    assert_eq!(after[1][1], "  Wingtip Toys  ");
    assert_eq!(after[1][HEADERS.len()], "call first\nthen mail");
    assert_eq!(after[1][7], "Redmönd");
    let own = HEADERS.len() + 1;
    assert_eq!(after[0][own..], APPENDED);
    for (i, record) in after.iter().enumerate().skip(1) {
        let domain = format!("{}.onmicrosoft.com", record[0]);
        assert_eq!(record[own], "created", "row {i}");
        assert_eq!(
            record[own + 1],
            job.issued(&domain).id,
            "row {i}: its own id"
        );
    }
}

#[test]
fn a_csv_with_a_sep_line_and_a_title_row_is_written_back_line_for_line() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("wbsep", 2);
    let body = csv_text(&rows).replace(',', ";");
    let text = format!("sep=;\r\nKlantenlijst november\r\n{body}");
    let sheet = job.ws.write("klanten.csv", &text);
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let wrote = write_back(&job, "klanten-done.csv", &[]);

    assert_eq!(wrote.code, 0, "{}", wrote.stderr);
    let copy = std::fs::read_to_string(job.ws.path("klanten-done.csv")).unwrap();
    let lines: Vec<&str> = copy.lines().collect();
    assert_eq!(
        lines[0], "sep=;",
        "the directive stays, so Excel opens it alike"
    );
    assert_eq!(
        lines[1], "Klantenlijst november",
        "the title row is copied as it was"
    );
    assert!(
        lines[2].ends_with(&APPENDED.join(";")),
        "the outcome columns are named on the header row: {}",
        lines[2]
    );
    for (line, row) in lines[3..].iter().zip(&rows) {
        let domain = format!("{}.onmicrosoft.com", row.cells()[0]);
        assert!(
            line.contains(&format!(";created;{}", job.issued(&domain).id)),
            "{line}"
        );
    }
    assert_eq!(lines.len(), 5);
}

#[test]
fn an_xlsx_with_a_title_row_gets_the_outcome_columns_on_its_header_row() {
    let job = Job::new(EmulatorConfig::default());
    let good = Customer::valid("wbtitle");
    let header: Vec<Cell> = HEADERS.iter().map(|h| text(h)).collect();
    let sheet = job.ws.xlsx(
        "klanten.xlsx",
        &[(
            "Klanten",
            vec![
                Some(vec![text("Klantenlijst november")]),
                Some(header),
                Some(good.cells().iter().map(|v| text(v)).collect()),
            ],
        )],
    );
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let wrote = write_back(&job, "klanten-done.xlsx", &[]);

    assert_eq!(wrote.code, 0, "{}", wrote.stderr);
    let cells = sheet_cells(&job.ws.path("klanten-done.xlsx"), "Klanten");
    assert_eq!(cells[0][0], "Klantenlijst november");
    assert!(
        cells[0][1..].iter().all(String::is_empty),
        "the title row is left as it was"
    );
    assert_eq!(cells[1][HEADERS.len()..], APPENDED);
    assert_eq!(cells[2][HEADERS.len()], "created");
    assert_eq!(
        cells[2][HEADERS.len() + 1],
        job.issued("wbtitle.onmicrosoft.com").id
    );
}

#[test]
fn a_sheet_changed_since_its_import_is_not_written_back() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("wbchanged", 2);
    let sheet = job.sheet(&rows);
    assert_eq!(job.run(&sheet, &[]).code, 0);
    // Someone sorted the sheet after the run.
    let mut sorted = rows.clone();
    sorted.reverse();
    job.sheet(&sorted);

    let ran = write_back(&job, "done.csv", &[]);

    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains(&format!(
            "error: `{}` is not the sheet the journal last imported: it changed since, and its rows may no longer be where the journal has them",
            sheet.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(!job.ws.path("done.csv").exists());

    // Put back as it was, elsewhere: `--from` names it.
    let kept = job.ws.write("kept.csv", csv_text(&rows));
    let from = write_back(&job, "done.csv", &["--from", kept.to_str().unwrap()]);
    assert_eq!(from.code, 0, "{}", from.stderr);

    let wrong = write_back(&job, "done.xlsx", &["--from", kept.to_str().unwrap()]);
    assert_eq!(wrong.code, 2);
    assert!(
        wrong
            .stderr
            .contains("a write-back is the same kind of file as the sheet"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn a_legacy_csv_with_a_sep_line_is_given_back_in_its_own_encoding() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("wbsep1252", 1);
    let body = csv_text(&rows)
        .replace(',', ";")
        .replacen("Redmond", "Redmönd", 1);
    let text = format!("sep=;\r\n{body}");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let sheet = job.ws.write("klanten.csv", bytes.as_ref());
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let wrote = write_back(&job, "klanten-done.csv", &[]);

    assert_eq!(wrote.code, 0, "{}", wrote.stderr);
    let copy = std::fs::read(job.ws.path("klanten-done.csv")).unwrap();
    assert!(
        copy.starts_with(b"sep=;"),
        "no byte order mark before the sep line, which Excel would then ignore"
    );
    let (text, _, malformed) = encoding_rs::WINDOWS_1252.decode(&copy);
    assert!(!malformed);
    assert!(
        text.contains("Redmönd"),
        "written in Windows-1252 as it came: {text}"
    );
    assert!(
        std::str::from_utf8(&copy).is_err(),
        "not UTF-8: Excel reads it as ANSI"
    );
}
