//! Every offline rule of partner-center-api.md §3: one row that breaks it, one that passes.
//! Each sheet is checked by the real binary, `validate --format json`.

use crate::support::*;

/// (what the row does, the row, the field expected in error, words the message must hold)
fn failing_cases() -> Vec<(&'static str, Customer, &'static str, &'static str)> {
    let c = Customer::valid;
    vec![
        ("no domain", c("").with("domain", ""), "domain", "domain"),
        ("domain with hyphen", c("wing-tip"), "domain", "not hyphens"),
        (
            "domain too long",
            c(&"a".repeat(28)),
            "domain",
            "28 characters",
        ),
        (
            "custom domain",
            c("wingtiptoys.com"),
            "domain",
            "not an onmicrosoft.com domain",
        ),
        (
            "no company",
            c("nocompany1").with("company_name", ""),
            "company_name",
            "required",
        ),
        (
            "company of punctuation",
            c("punct1").with("company_name", "--- !"),
            "company_name",
            "at least one letter or digit",
        ),
        (
            "company too long",
            c("long1").with("company_name", &"x".repeat(256)),
            "company_name",
            "256 characters",
        ),
        (
            "no email",
            c("noemail1").with("email", ""),
            "email",
            "required",
        ),
        (
            "two emails",
            c("twomail1").with("email", "a@b.com; c@d.com"),
            "email",
            "exactly one address",
        ),
        (
            "email without tld",
            c("notld1").with("email", "gena@wingtip"),
            "email",
            "domain",
        ),
        (
            "no first name",
            c("nofirst1").with("first_name", ""),
            "first_name",
            "required",
        ),
        (
            "first name too long",
            c("longfirst1").with("first_name", &"f".repeat(51)),
            "first_name",
            "at most 50",
        ),
        (
            "no last name",
            c("nolast1").with("last_name", ""),
            "last_name",
            "required",
        ),
        (
            "last name too long",
            c("longlast1").with("last_name", &"l".repeat(51)),
            "last_name",
            "at most 50",
        ),
        (
            "no street",
            c("nostreet1").with("address_line1", ""),
            "address_line1",
            "required",
        ),
        (
            "street too long",
            c("longstreet1").with("address_line1", &"s".repeat(201)),
            "address_line1",
            "at most 200",
        ),
        (
            "line 2 too long",
            c("longline2").with("address_line2", &"s".repeat(201)),
            "address_line2",
            "at most 200",
        ),
        ("no city", c("nocity1").with("city", ""), "city", "required"),
        (
            "US without state",
            c("nostate1").with("state", ""),
            "state",
            "required",
        ),
        (
            "CA without state",
            c("nostateca1")
                .with("country", "CA")
                .with("culture", "fr-CA")
                .with("state", "")
                .with("postal_code", "H3A 3G4"),
            "state",
            "required",
        ),
        (
            "AU without state",
            c("nostateau1")
                .with("country", "AU")
                .with("culture", "en-AU")
                .with("state", "")
                .with("postal_code", "2000"),
            "state",
            "required",
        ),
        (
            "US state not USPS",
            c("badstate1").with("state", "Washington"),
            "state",
            "USPS",
        ),
        (
            "no postal code",
            c("nozip1").with("postal_code", ""),
            "postal_code",
            "required",
        ),
        (
            "US ZIP lost its zero",
            c("zero1").with("postal_code", "2134"),
            "postal_code",
            "did Excel drop a leading zero? `2134` → `02134`?",
        ),
        (
            "US ZIP malformed",
            c("badzip1").with("postal_code", "98O52"),
            "postal_code",
            "5 digits",
        ),
        (
            "UK for GB",
            c("uk1").with("country", "UK").with("state", ""),
            "country",
            "`GB`",
        ),
        (
            "country name",
            c("fullname1").with("country", "Netherlands"),
            "country",
            "two-letter",
        ),
        (
            "a country's alpha-3 code",
            c("usa1").with("country", "USA"),
            "country",
            "here `US`",
        ),
        (
            "a German postal code that lost its zero",
            c("dresden1")
                .with("country", "DE")
                .with("state", "")
                .with("postal_code", "1067"),
            "postal_code",
            "`1067` → `01067`",
        ),
        (
            "a French postal code that lost its zero",
            c("paris1")
                .with("country", "FR")
                .with("state", "")
                .with("postal_code", "7502"),
            "postal_code",
            "`7502` → `07502`",
        ),
        (
            "a Finnish postal code that lost its zero",
            c("espoo1")
                .with("country", "FI")
                .with("state", "")
                .with("postal_code", "2150"),
            "postal_code",
            "`2150` → `02150`",
        ),
        (
            "a Dutch postal code without its letters",
            c("utrecht1")
                .with("country", "NL")
                .with("state", "")
                .with("postal_code", "3511"),
            "postal_code",
            "expected the form `1234 AB`",
        ),
        (
            "a phone in scientific notation",
            c("sci1").with("phone_number", "3.12E+09"),
            "phone_number",
            "scientific notation",
        ),
        (
            "words as a phone",
            c("words1").with("phone_number", "call me"),
            "phone_number",
            "it has no digits",
        ),
        (
            "a state's name",
            c("statename1")
                .with("state", "Massachusetts")
                .with("postal_code", "02116"),
            "state",
            "here `MA`",
        ),
        (
            "a province's name",
            c("ontario1")
                .with("country", "CA")
                .with("state", "Ontario")
                .with("postal_code", "K1A 0B1")
                .with("culture", "en-US"),
            "state",
            "here `ON`",
        ),
        (
            "unknown country",
            c("unknown1").with("country", "ZZ"),
            "country",
            "not a country Partner Center supports",
        ),
        (
            "culture not for country",
            c("culture1")
                .with("country", "NL")
                .with("state", "")
                .with("postal_code", "3511 AB")
                .with("culture", "fr-FR"),
            "culture",
            "use one of `nl-NL`, `en-US`",
        ),
        (
            "en-US in Suriname",
            c("suriname1")
                .with("country", "SR")
                .with("state", "")
                .with("culture", "en-US"),
            "culture",
            "`nl-NL`",
        ),
        (
            "language not ISO 639-1",
            c("lang1").with("language", "eng"),
            "language",
            "ISO 639-1",
        ),
        (
            "no reseller",
            c("noreseller1").with("associated_partner_id", ""),
            "associated_partner_id",
            "direct = true",
        ),
        (
            "reseller not a GUID",
            c("badguid1").with("associated_partner_id", "Adatum"),
            "associated_partner_id",
            "GUID",
        ),
        (
            "registration number outside the 24",
            c("regnl1")
                .with("country", "NL")
                .with("state", "")
                .with("postal_code", "3511AB")
                .with("culture", "nl-NL")
                .with("organization_registration_number", "12345678"),
            "organization_registration_number",
            "600002",
        ),
        (
            "India without registration number",
            c("india1")
                .with("country", "IN")
                .with("state", "")
                .with("postal_code", "110001")
                .with("culture", "en-IN"),
            "organization_registration_number",
            "required",
        ),
        (
            "Poland without phone",
            c("poland1")
                .with("country", "PL")
                .with("state", "")
                .with("postal_code", "00-950")
                .with("culture", "pl-PL")
                .with("organization_registration_number", "5252248481")
                .with("phone_number", ""),
            "phone_number",
            "required",
        ),
    ]
}

#[test]
fn every_rule_rejects_its_bad_row_and_only_that() {
    let ws = Workspace::new();
    let cases = failing_cases();
    let customers: Vec<Customer> = cases.iter().map(|(_, c, _, _)| c.clone()).collect();
    let path = ws.write("bad.csv", csv_text(&customers));

    let result = validate_json(&path, &[]);

    assert_eq!(result.code, 1, "some rows invalid → exit 1");
    assert_eq!(result.doc["rows"], cases.len());
    for (i, (what, ..)) in cases.iter().enumerate() {
        assert!(!result.errors_of(i as u64 + 2).is_empty(), "{what} passed");
    }
    assert_eq!(result.doc["invalid"], cases.len());
    for (i, (what, _, field, words)) in cases.iter().enumerate() {
        let row = i as u64 + 2;
        assert_eq!(result.fields_of(row), [*field], "{what} (row {row})");
        let message = result.errors_of(row)[0]["message"].as_str().unwrap();
        assert!(
            message.contains(words),
            "{what}: {message:?} lacks {words:?}"
        );
    }
}

#[test]
fn rows_that_bend_but_keep_the_rules_pass() {
    let ws = Workspace::new();
    let c = Customer::valid;
    let customers = vec![
        c("plain1"),
        c("FullName2.OnMicrosoft.com"),
        c(&"a".repeat(27)),
        c("zipfour1").with("postal_code", "98052-6399"),
        c("lowstate1").with("state", "wa").with("country", "us"),
        c("military1").with("state", "AE"),
        c("caseculture1")
            .with("culture", "EN-us")
            .with("language", "EN"),
        c("dutch1")
            .with("country", "NL")
            .with("state", "")
            .with("culture", "nl-NL")
            .with("language", "nl")
            .with("postal_code", "1016 BR"),
        c("defaults1").with("culture", "").with("language", ""),
        c("mozambique1")
            .with("country", "MZ")
            .with("state", "")
            .with("culture", "")
            .with("language", "")
            .with("postal_code", "1100"),
        c("india2")
            .with("country", "IN")
            .with("state", "")
            .with("postal_code", "110001")
            .with("culture", "en-IN")
            .with("organization_registration_number", "27AAPFU0939F1ZV"),
        c("unicode1")
            .with("company_name", "株式会社ウィングチップ")
            .with("first_name", "Ærøskøbing"),
        c("maxlen1")
            .with("company_name", &"c".repeat(255))
            .with("first_name", &"é".repeat(50)),
        c("reseller2").with("associated_partner_id", &LITWARE.to_uppercase()),
    ];
    let path = ws.write("good.csv", csv_text(&customers));

    let result = validate_json(&path, &[]);

    assert_eq!(
        result.doc["errors"],
        serde_json::json!([]),
        "{}",
        result.doc
    );
    assert_eq!(result.doc["valid"], customers.len());
    assert_eq!(result.code, 0);
}

#[test]
fn a_direct_customer_template_needs_no_reseller() {
    let ws = Workspace::new();
    let template = ws.write("direct.toml", "direct = true\n");
    let mut text = csv_text(&[Customer::valid("direct1").with("associated_partner_id", "")]);
    text = text.replace(",associated_partner_id,", ",reseller_note,");

    let result = validate_json(
        &ws.write("direct.csv", text),
        &["--template", template.to_str().unwrap()],
    );

    assert_eq!(result.code, 0, "{}", result.doc);
    assert_eq!(result.doc["valid"], 1);
}

#[test]
fn the_second_row_with_a_domain_is_the_error() {
    let ws = Workspace::new();
    let customers = [
        Customer::valid("twice1"),
        Customer::valid("other1"),
        Customer::valid("TWICE1.onmicrosoft.com"),
        Customer::valid("twice1"),
    ];
    let path = ws.write("dupes.csv", csv_text(&customers));

    let result = validate_json(&path, &[]);

    assert!(
        result.errors_of(2).is_empty(),
        "the first row keeps the domain"
    );
    for row in [4, 5] {
        let errors = result.errors_of(row);
        assert_eq!(errors.len(), 1, "row {row}");
        assert_eq!(
            errors[0]["message"],
            "domain `twice1.onmicrosoft.com` is already used by row 2; each customer needs its own domain"
        );
    }
    assert_eq!(result.doc["invalid"], 2);
}

#[test]
fn a_row_with_many_problems_reports_every_one() {
    let ws = Workspace::new();
    let messy = Customer::valid("bad-domain")
        .with("email", "nobody")
        .with("postal_code", "213")
        .with("state", "")
        .with("associated_partner_id", "nope");
    let path = ws.write("messy.csv", csv_text(&[messy]));

    let result = validate_json(&path, &[]);

    assert_eq!(
        result.fields_of(2),
        [
            "associated_partner_id",
            "domain",
            "email",
            "postal_code",
            "state"
        ]
    );
}

/// A CSV is checked in batches, on several threads, with only the duplicate check in sheet order;
/// an xlsx is checked one row at a time. A sheet several batches long, with problems planted at
/// the edges of batches, is judged the same both ways — and as planted: each duplicate against
/// the first row with its domain, however far back, and a domain that is wrong anyway never
/// counted as a duplicate.
#[test]
fn a_sheet_many_batches_long_is_judged_as_row_by_row() {
    let ws = Workspace::new();
    let mut rows = customers("many", 5000);
    // Sheet row = index + 2 (the header is row 1).
    for index in [0, 1023, 1024, 2047, 2048, 4999] {
        rows[index] = rows[index].clone().with("email", "not-an-address");
    }
    let duplicates = [(3000, 10), (2049, 2048), (4096, 4095), (4998, 0)];
    for (later, first) in duplicates {
        rows[later] = rows[later].clone().with("domain", &format!("many{first}"));
    }
    rows[1500] = rows[1500].clone().with("domain", "bad_domain");
    rows[1501] = rows[1501].clone().with("domain", "bad_domain");

    let csv = ws.write("many.csv", csv_text(&rows));
    let sheet_rows: String = std::iter::once(HEADERS.map(str::to_owned).to_vec())
        .chain(rows.iter().map(Customer::cells))
        .enumerate()
        .map(|(i, cells)| row(i as u64 + 1, &cells_of(i as u64 + 1, &cells)))
        .collect();
    let xlsx = ws.write("many.xlsx", xlsx_package(&sheet_rows, &[]));

    let batched = validate_json(&csv, &[]);
    let one_by_one = validate_json(&xlsx, &[]);

    assert_eq!(batched.code, 1, "{}", batched.stderr);
    assert_eq!(batched.doc["errors"], one_by_one.doc["errors"]);
    assert_eq!(batched.doc["rows"], 5000);
    assert_eq!(batched.doc["invalid"], 12);
    let errors = batched.doc["errors"].as_array().unwrap();
    let rows_in_order: Vec<u64> = errors.iter().map(|e| e["row"].as_u64().unwrap()).collect();
    assert!(rows_in_order.is_sorted(), "{rows_in_order:?}");
    for index in [0, 1023, 1024, 2047, 2048, 4999] {
        let fields = batched.fields_of(index as u64 + 2);
        assert_eq!(fields, ["email"], "row {}", index + 2);
    }
    for (later, first) in duplicates {
        let errors = batched.errors_of(later as u64 + 2);
        assert_eq!(errors.len(), 1, "row {}", later + 2);
        assert_eq!(
            errors[0]["message"],
            format!(
                "domain `many{first}.onmicrosoft.com` is already used by row {}; each customer needs its own domain",
                first + 2
            )
        );
    }
    for index in [1500, 1501] {
        assert_eq!(batched.fields_of(index as u64 + 2), ["domain"]);
        let message = batched.errors_of(index as u64 + 2)[0]["message"]
            .as_str()
            .unwrap();
        assert!(!message.contains("already used"), "{message}");
    }
}
