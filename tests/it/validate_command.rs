//! `csp-onboard validate` as users and scripts see it: the JSON contract, the text people read,
//! exit codes, the errors CSV, header aliases and templates, and the starter files.

use predicates::prelude::*;
use serde_json::json;

use crate::support::*;

#[test]
fn the_sample_sheets_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for sample in ["templates/customers.csv", "templates/customers.xlsx"] {
        let result = validate_json(&root.join(sample), &[]);
        assert_eq!(result.code, 0, "{sample}: {}", result.doc);
        assert_eq!(result.doc["rows"], 8, "{sample}");
        assert_eq!(result.doc["valid"], 8, "{sample}");
    }
}

#[test]
fn json_errors_name_row_column_field_and_raw_value() {
    let ws = Workspace::new();
    let text = "Domain,Company,E-mail,First Name,Last Name,Street,City,State,ZIP,Country,Reseller ID,Fax\n\
                Boston1,Fabrikam,ray@fabrikam.com,Ray,Chen,200 Boylston St,Boston,MA,2134,US,5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01,555\n";
    let path = ws.write("sheet.csv", text);

    let result = validate_json(&path, &[]);

    assert_eq!(result.code, 1);
    assert_eq!(
        result.doc,
        json!({
            "rows": 1, "valid": 0, "invalid": 1,
            "errors": [{
                "row": 2, "column": "ZIP", "field": "postal_code", "value": "2134",
                "message": "a US ZIP code has 5 digits; did Excel drop a leading zero? `2134` → `02134`? Format the column as text so the zeros stay"
            }],
            "warnings": [{
                "row": null, "column": "Fax", "field": null, "value": null,
                "message": "column `Fax` maps to no field and is ignored"
            }]
        })
    );
}

#[test]
fn a_value_from_the_template_has_no_column() {
    let ws = Workspace::new();
    let template = ws.write(
        "fixed.toml",
        "[constants]\nassociated_partner_id = \"not-a-guid\"\n",
    );
    let path = ws.write("sheet.csv", csv_text(&[Customer::valid("const1")]));

    let result = validate_json(&path, &["--template", template.to_str().unwrap()]);

    let errors = result.errors_of(2);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["column"], serde_json::Value::Null);
    assert_eq!(errors[0]["field"], "associated_partner_id");
    assert_eq!(errors[0]["value"], "not-a-guid");
    let warnings = result.doc["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["column"] == "associated_partner_id"
                && w["message"].as_str().unwrap().contains("the template sets")),
        "{warnings:?}"
    );
}

#[test]
fn text_output_says_where_what_and_how_to_fix() {
    let ws = Workspace::new();
    let customers = [
        Customer::valid("good1"),
        Customer::valid("bad_one")
            .with("country", "UK")
            .with("state", ""),
    ];
    let path = ws.write("people.csv", csv_text(&customers));

    csp_onboard()
        .arg("validate")
        .arg(&path)
        .assert()
        .code(1)
        .stdout(format!(
            "error: row 3, column `domain` (domain), `bad_one`: the domain prefix `bad_one` may hold only letters A-Z and digits 0-9, not underscores\n\
             error: row 3, column `country` (country), `UK`: `UK` is not an ISO 3166-1 code: the United Kingdom is `GB`\n\
             {}: 2 rows, 1 valid, 1 invalid\n",
            path.display()
        ));
}

#[test]
fn missing_required_columns_stop_before_any_row_with_exit_2() {
    let ws = Workspace::new();
    let path = ws.write("bad.csv", "Company Name,Domain\nAcme,acme\n");

    let result = validate_json(&path, &[]);

    assert_eq!(result.code, 2);
    let message = result.doc["error"].as_str().unwrap();
    assert!(message.contains("no column for `email`"), "{message}");
    assert!(
        message.ends_with("has `Company Name`, `Domain`"),
        "{message}"
    );
    assert!(result.stderr.starts_with("error: "), "{}", result.stderr);
    assert!(result.stderr.contains("hint: "), "{}", result.stderr);
}

#[test]
fn unusable_inputs_exit_2_with_one_message() {
    let ws = Workspace::new();
    let not_there = ws.path("missing.csv");
    let notes = ws.write("notes.docx", "hello");
    let broken = ws.write("broken.xlsx", "this is not a zip file");
    let bad_template = ws.write("bad.toml", "[defaults\n");
    let sheet = ws.write("ok.csv", csv_text(&[Customer::valid("ok1")]));
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (vec![not_there.as_os_str()], "cannot read"),
        (
            vec![notes.as_os_str()],
            "is not a sheet csp-onboard can read",
        ),
        (vec![broken.as_os_str()], "cannot read workbook"),
        (
            vec![
                sheet.as_os_str(),
                "--template".as_ref(),
                bad_template.as_os_str(),
            ],
            "is not valid TOML",
        ),
        (
            vec![sheet.as_os_str(), "--encoding".as_ref(), "klingon".as_ref()],
            "not an encoding",
        ),
    ];
    for (args, words) in cases {
        csp_onboard()
            .arg("validate")
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains(words)))
            .stderr(predicate::str::contains("panicked").not());
    }
}

#[test]
fn errors_can_be_written_to_a_csv_for_the_sheet_owner() {
    let ws = Workspace::new();
    let path = ws.write(
        "sheet.csv",
        csv_text(&[
            Customer::valid("ok1"),
            Customer::valid("x").with("email", "nobody"),
        ]),
    );
    let out = ws.path("errors.csv");

    csp_onboard()
        .arg("validate")
        .arg(&path)
        .arg("--errors-out")
        .arg(&out)
        .assert()
        .code(1);

    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        written,
        "row,column,field,value,message\n3,email,email,nobody,not a usable email address: it has no `@`\n"
    );
}

#[test]
fn common_header_spellings_map_without_a_template() {
    let ws = Workspace::new();
    let text = "Tenant Domain;Company;Email Address;Given name;Surname;Street Address;Town;Province;Postcode;Country Code;Telephone;Locale;Reseller Tenant ID;Registration number;Reference\n\
                aliasco1;Alias Co;a@alias.com;Al;Ias;1 Way;Redmond;WA;98052;US;4255550101;en-US;5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01;;R-1\n";
    let path = ws.write("aliases.csv", text);

    let result = validate_json(&path, &[]);

    assert_eq!(result.code, 0, "{}", result.doc);
    assert_eq!(result.doc["warnings"], json!([]));
}

/// The Dutch example of docs/templates.md, kept honest.
#[test]
fn a_dutch_template_maps_dutch_headers() {
    let ws = Workspace::new();
    let template = ws.write("nl.toml", DUTCH_TEMPLATE);
    let text = "Domeinnaam;Bedrijfsnaam;E-mailadres;Voornaam;Achternaam;Straat;Plaats;Postcode;Land;Telefoon;KvK-nummer\n\
                bakkerijjansen1;Bakkerij Jansen;info@bakkerijjansen.nl;Piet;Jansen;Dorpsstraat 1;Utrecht;3511 AB;nl;0301234567;\n";
    let path = ws.write("klanten.csv", text);

    let result = validate_json(&path, &["--template", template.to_str().unwrap()]);

    assert_eq!(result.code, 0, "{}", result.doc);
    let warnings = result.doc["warnings"].as_array().unwrap();
    assert_eq!(
        warnings.len(),
        1,
        "only the KvK column is unmapped: {warnings:?}"
    );
}

const DUTCH_TEMPLATE: &str = r#"
name = "Dutch reseller sheet"

[aliases]
domain = ["Domeinnaam"]
company_name = ["Bedrijfsnaam"]
email = ["E-mailadres"]
first_name = ["Voornaam"]
last_name = ["Achternaam"]
address_line1 = ["Straat", "Adres"]
city = ["Plaats", "Woonplaats"]
country = ["Land"]
phone_number = ["Telefoon"]

[defaults]
culture = "nl-NL"
language = "nl"

[constants]
associated_partner_id = "6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02"
"#;

#[test]
fn the_template_command_writes_a_starter_kit_and_keeps_existing_files() {
    let ws = Workspace::new();
    let dir = ws.path("starter");

    csp_onboard().arg("template").arg(&dir).assert().success();

    for name in ["default.toml", "customers.csv", "customers.xlsx"] {
        assert!(dir.join(name).is_file(), "{name}");
    }
    let result = validate_json(
        &dir.join("customers.xlsx"),
        &["--template", dir.join("default.toml").to_str().unwrap()],
    );
    assert_eq!((result.code, result.doc["valid"].as_u64()), (0, Some(8)));

    csp_onboard()
        .arg("template")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("already exists").and(predicate::str::contains("--force")),
        );
    csp_onboard()
        .arg("template")
        .arg(&dir)
        .arg("--force")
        .assert()
        .success();
}
