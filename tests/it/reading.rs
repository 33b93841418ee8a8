//! Given the files distributors really have, the reader yields the rows and numbers a person sees.

use csp_onboard::source::{SheetChoice, SourceError, SourceOptions};

use crate::support::*;

fn options() -> SourceOptions {
    SourceOptions::default()
}

#[test]
fn a_semicolon_windows_1252_csv_reads_as_text() {
    let ws = Workspace::new();
    let text = "domain;company_name;city\r\nmueller1;Müller & Söhne GmbH;Köln\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    let path = ws.write("export.csv", &bytes);

    let sheet = read_sheet(&path, &options()).unwrap();

    assert_eq!(sheet.info.delimiter, Some(';'));
    assert_eq!(sheet.info.encoding, Some("windows-1252"));
    assert_eq!(sheet.cell(2, "company_name"), "Müller & Söhne GmbH");
    assert_eq!(sheet.cell(2, "city"), "Köln");
}

#[test]
fn a_utf16_tab_export_reads_as_text() {
    let ws = Workspace::new();
    let text = "domain\tcompany_name\tcity\r\nmalmo1\tMalmö Bygg AB\tMalmö\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let path = ws.write("unicode.txt", &bytes);

    let sheet = read_sheet(&path, &options()).unwrap();

    assert_eq!(sheet.info.delimiter, Some('\t'));
    assert_eq!(sheet.header.cells, ["domain", "company_name", "city"]);
    assert_eq!(sheet.cell(2, "city"), "Malmö");
}

#[test]
fn a_bom_csv_with_quoted_newlines_keeps_spreadsheet_row_numbers() {
    let ws = Workspace::new();
    let text = "\u{FEFF}domain,address_line1,city\n\
                a1,\"Suite 4\nFloor 2\",Oslo\n\
                \n\
                a2,\"He said \"\"hi\"\", then, left\",Bergen\n\
                \"a3\",\"x\r\ny\r\nz\",Tromsø";
    let path = ws.write("bom.csv", text);

    let sheet = read_sheet(&path, &options()).unwrap();

    assert_eq!(
        sheet.header.cells[0], "domain",
        "the BOM is not part of the header"
    );
    // a1 is one record on two lines; the blank line counts one; a3 has no final line break.
    assert_eq!(sheet.numbers(), [2, 4, 5]);
    assert_eq!(sheet.cell(2, "address_line1"), "Suite 4\nFloor 2");
    assert_eq!(sheet.cell(4, "address_line1"), "He said \"hi\", then, left");
    assert_eq!(sheet.cell(5, "address_line1"), "x\ny\nz");
}

#[test]
fn cr_lf_and_crlf_line_ends_number_alike() {
    let ws = Workspace::new();
    for (name, end) in [("lf.csv", "\n"), ("cr.csv", "\r"), ("crlf.csv", "\r\n")] {
        let text = ["domain,city", "a1,Oslo", "", "a2,Bergen", ""].join(end);
        let path = ws.write(name, text);
        let sheet = read_sheet(&path, &options()).unwrap();
        assert_eq!(sheet.numbers(), [2, 4], "{name}");
        assert_eq!(sheet.cell(4, "city"), "Bergen", "{name}");
    }
}

#[test]
fn empty_rows_are_skipped_but_keep_their_numbers() {
    let ws = Workspace::new();
    let text = "\n,,\ndomain,city\na1,Oslo\n,,\n  ,\t\na2,Bergen\n\n,,\n";
    let path = ws.write("gaps.csv", text);

    let sheet = read_sheet(&path, &options()).unwrap();

    assert_eq!(sheet.header.number, 3, "rows above the header are ignored");
    assert_eq!(sheet.numbers(), [4, 7]);
}

#[test]
fn a_late_windows_1252_byte_rereads_the_file_and_loses_nothing() {
    let ws = Workspace::new();
    let mut bytes = b"domain,city\n".to_vec();
    let rows = 3000; // well past the 64 KiB detection sample
    for i in 0..rows {
        bytes.extend_from_slice(
            format!("plainascii{i:05},Some Long Ascii City Name Here\n").as_bytes(),
        );
    }
    bytes.extend_from_slice(b"zurich1,Z\xFCrich\n");
    let path = ws.write("late.csv", &bytes);

    let sheet = read_sheet(&path, &options()).unwrap();

    assert_eq!(sheet.rows.len(), rows + 1, "every row once, none twice");
    assert_eq!(sheet.info.encoding, Some("windows-1252"));
    let last = rows as u64 + 2;
    assert_eq!(sheet.numbers().last(), Some(&last));
    assert_eq!(sheet.cell(last, "city"), "Zürich");
    assert_eq!(sheet.cell(2, "domain"), "plainascii00000");
}

#[test]
fn a_file_mixing_utf8_and_windows_1252_is_refused_with_both_rows() {
    let ws = Workspace::new();
    let mut bytes = "domain,city\nmalmo1,Malmö\n".as_bytes().to_vec();
    for i in 0..3000 {
        bytes.extend_from_slice(
            format!("plainascii{i:05},Some Long Ascii City Name Here\n").as_bytes(),
        );
    }
    bytes.extend_from_slice(b"zurich1,Z\xFCrich\n");
    let path = ws.write("mixed.csv", &bytes);

    let err = read_sheet(&path, &options()).unwrap_err();

    assert!(
        matches!(
            err,
            SourceError::MixedEncoding {
                bad_row: 3003,
                utf8_row: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn delimiter_and_encoding_can_be_forced() {
    let ws = Workspace::new();
    // Detection would pick `,` (more columns); the user knows better.
    let text = "domain|note\na1|x,y,z\n";
    let path = ws.write("pipe.csv", text);
    let forced = SourceOptions {
        delimiter: Some(b'|'),
        encoding: Some(encoding_rs::UTF_8),
        ..options()
    };

    let sheet = read_sheet(&path, &forced).unwrap();

    assert_eq!(sheet.cell(2, "note"), "x,y,z");
}

#[test]
fn xlsx_numbers_read_as_people_see_them() {
    let ws = Workspace::new();
    let header = [
        "domain",
        "postal_code",
        "phone_number",
        "zip4",
        "amount",
        "flag",
        "since",
        "sum",
    ];
    let path = ws.xlsx(
        "numbers.xlsx",
        &[(
            "Customers",
            vec![
                Some(header.iter().map(|h| text(h)).collect()),
                Some(vec![
                    text("boston1"),
                    Cell::Formatted(2134.0, "00000"),
                    Cell::Number(4255550101.0),
                    Cell::Formatted(21344567.0, "00000-0000"),
                    Cell::Number(1234.5),
                    Cell::Bool(true),
                    Cell::Date(45356.0),
                    Cell::Formula("=40+2", 42.0),
                ]),
                Some(vec![
                    text("redmond1"),
                    Cell::Number(98052.0),
                    Cell::Number(31.0),
                ]),
            ],
        )],
    );

    let sheet = read_sheet(&path, &options()).unwrap();

    assert_eq!(sheet.cell(2, "postal_code"), "02134");
    assert_eq!(sheet.cell(2, "phone_number"), "4255550101");
    assert_eq!(sheet.cell(2, "zip4"), "02134-4567");
    assert_eq!(sheet.cell(2, "amount"), "1234.5");
    assert_eq!(sheet.cell(2, "flag"), "TRUE");
    assert_eq!(sheet.cell(2, "since"), "2024-03-05");
    assert_eq!(
        sheet.cell(2, "sum"),
        "42",
        "a formula reads as its cached value"
    );
    assert_eq!(sheet.cell(3, "postal_code"), "98052");
    assert_eq!(sheet.cell(3, "phone_number"), "31");
}

#[test]
fn an_instructions_sheet_in_front_is_skipped() {
    let ws = Workspace::new();
    let path = ws.xlsx(
        "book.xlsx",
        &[
            (
                "Instructions",
                vec![
                    Some(vec![text("Fill in the Customers sheet")]),
                    Some(vec![text("Thanks")]),
                ],
            ),
            (
                "Customers",
                vec![
                    None,
                    None,
                    Some(vec![text("domain"), text("city")]),
                    Some(vec![text("a1"), text("Oslo")]),
                    None,
                    None,
                    Some(vec![text("a2"), text("  Bergen ")]),
                    None,
                ],
            ),
        ],
    );

    let sheet = read_sheet(&path, &options()).unwrap();

    assert_eq!(sheet.info.sheet.as_deref(), Some("Customers"));
    assert_eq!(sheet.header.number, 3);
    assert_eq!(sheet.numbers(), [4, 7], "empty rows keep their numbers");
    assert_eq!(sheet.cell(7, "city"), "Bergen", "cells are trimmed");
}

#[test]
fn sheets_can_be_named_or_numbered() {
    let ws = Workspace::new();
    let path = ws.xlsx(
        "two.xlsx",
        &[
            (
                "North",
                vec![Some(vec![text("domain")]), Some(vec![text("n1")])],
            ),
            (
                "South",
                vec![Some(vec![text("domain")]), Some(vec![text("s1")])],
            ),
        ],
    );
    for choice in ["South", "2"] {
        let picked = SourceOptions {
            sheet: SheetChoice::Named(choice.into()),
            ..options()
        };
        let sheet = read_sheet(&path, &picked).unwrap();
        assert_eq!(sheet.cell(2, "domain"), "s1", "--sheet {choice}");
    }
    let missing = SourceOptions {
        sheet: SheetChoice::Named("West".into()),
        ..options()
    };
    let err = read_sheet(&path, &missing).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("has no sheet `West`; its sheets are `North`, `South`"),
        "{err}"
    );
}

#[test]
fn a_workbook_without_the_expected_headers_lists_its_sheets() {
    let ws = Workspace::new();
    let path = ws.xlsx(
        "none.xlsx",
        &[
            ("Read me", vec![Some(vec![text("hello")])]),
            ("Data", vec![Some(vec![text("name"), text("town")])]),
        ],
    );

    let err = read_sheet(&path, &options()).unwrap_err();

    assert!(
        err.to_string()
            .ends_with("starts with the expected headers; its sheets are `Read me`, `Data`"),
        "{err}"
    );
}

#[test]
fn xls_and_ods_workbooks_read_like_xlsx() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in ["legacy.xls", "legacy.ods"] {
        let sheet = read_sheet(&fixtures.join(name), &options()).unwrap();
        assert_eq!(
            sheet.numbers(),
            [3, 4],
            "{name}: the empty row 2 keeps its number"
        );
        assert_eq!(sheet.cell(3, "phone_number"), "6175550100", "{name}");
        // LibreOffice stored the ZIP as a number: the zero is gone, validation will say so.
        assert_eq!(sheet.cell(3, "postal_code"), "2134", "{name}");
        assert_eq!(sheet.cell(4, "city"), "Redmond", "{name}");
    }
}

#[test]
fn a_quote_never_closed_still_numbers_its_record_as_a_row() {
    // Found by fuzzing: `"`, a line break, `3` — the quote runs to the end of the file, whose
    // last line break falls inside the cell. The header was numbered row 0.
    let ws = Workspace::new();
    let path = ws.write("unclosed.csv", "\"\n3");

    let sheet = read_sheet(&path, &options()).unwrap();

    assert_eq!(sheet.header.number, 1);
}
