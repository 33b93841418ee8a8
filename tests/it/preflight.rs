//! Pre-flight (`validate --online`, `run --preflight`): Partner Center's own answers before
//! anything is created — taken domains, unknown and inactive resellers, each country's rules, the
//! address validation — in the offline report's shape, within the rate budget.

use csp_onboard::emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::support::*;

const WIDE_WORLD: &str = "8041ad23-6e5f-4c91-8db4-4f5a6b7c8d04";
/// Adatum's id with its last digit mistyped.
const ADATUM_TYPO: &str = "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a0b";

/// An emulator whose US postal rule is stricter than the offline one (ZIP codes of the west).
fn config() -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    config
        .postal_code_patterns
        .insert("US".into(), r"^9\d{4}$".into());
    config
}

/// One row for each thing pre-flight finds, and one it finds nothing in.
fn rows() -> Vec<Customer> {
    vec![
        Customer::valid("pfgood"),
        Customer::valid("contoso"), // taken, by someone else
        Customer::valid("pfinactive").with("associated_partner_id", WIDE_WORLD),
        Customer::valid("pftypo").with("associated_partner_id", ADATUM_TYPO),
        Customer::valid("pfzip")
            .with("city", "New York")
            .with("state", "NY")
            .with("postal_code", "10001"),
        Customer::valid("pfcity").with("city", "redmond"),
    ]
}

fn validate_online(job: &Job, sheet: &std::path::Path) -> (i32, Value, String) {
    let mut cmd = job.command(&["validate", "--online", "--format", "json"]);
    cmd.arg(sheet);
    let ran = Job::finish(cmd);
    let doc = serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    (ran.code, doc, ran.stderr)
}

#[test]
fn validate_online_finds_what_partner_center_would_refuse() {
    let job = Job::new(config());
    let sheet = job.sheet(&rows());

    let (code, doc, stderr) = validate_online(&job, &sheet);

    assert_eq!(code, 1, "{stderr}");
    assert_eq!(doc["rows"], 6);
    assert_eq!(doc["valid"], 2);
    assert_eq!(doc["invalid"], 4);
    assert_eq!(
        doc["errors"],
        json!([
            {"row": 3, "column": "domain", "field": "domain", "value": "contoso.onmicrosoft.com",
             "message": "the domain is taken, and not by one of this partner's customers: Partner Center refuses it"},
            {"row": 4, "column": "associated_partner_id", "field": "associated_partner_id",
             "value": WIDE_WORLD,
             "message": "the reseller `Wide World Resale` is Inactive for this partner: Partner Center refuses customers for it; did you mean `Proseware IT` (`7f309c12-5d4e-4b80-9ca3-3e4f5a6b7c03`)?"},
            {"row": 5, "column": "associated_partner_id", "field": "associated_partner_id",
             "value": ADATUM_TYPO,
             "message": "not an indirect reseller of this partner; did you mean `Adatum Resellers` (`5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01`)?"},
            {"row": 6, "column": "postal_code", "field": "postal_code", "value": "10001",
             "message": "not a postal code of `US` by Partner Center's rule (`^9\\d{4}$`)"},
        ]),
        "{stderr}"
    );
    assert_eq!(
        doc["warnings"],
        json!([{"row": 7, "column": "city", "field": "city", "value": "redmond",
                "message": "Partner Center did not verify the address (StreetPartial): The address was found in another form; suggested: One Microsoft Way, Redmond, WA, 98052, US"}])
    );
    let log = job.emulator.log();
    assert_eq!(job.create_requests(), 0, "pre-flight creates nothing");
    let count = |path: &str| log.iter().filter(|e| e.path.starts_with(path)).count();
    assert_eq!(count("/v1/relationships"), 1, "resellers listed once");
    assert_eq!(
        count("/v1/countryvalidationrules/"),
        1,
        "one country, its rules once"
    );
    assert_eq!(count("/v1/validations/address"), 6);
    assert_eq!(
        log.iter()
            .filter(|e| e.method == "HEAD" && e.path.starts_with("/v1/domains/"))
            .count(),
        6
    );
}

#[test]
fn run_preflight_records_what_partner_center_would_refuse_and_sends_the_rest() {
    let job = Job::new(config());
    let rows = rows();
    let sheet = job.sheet(&rows);

    let ran = job.run(&sheet, &["--preflight"]);

    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let summary = ran.summary();
    assert_eq!(summary["created"], 2, "{}", ran.stderr);
    assert_eq!(summary["invalid"], 4);
    assert_eq!(
        job.create_requests(),
        2,
        "nothing Partner Center would refuse was sent"
    );
    assert!(
        ran.stderr.contains("warning: row 7, column `city` (city), `redmond`: Partner Center did not verify the address"),
        "{}",
        ran.stderr
    );
    let results = job.results();
    let of = |row: &str| results.iter().find(|r| r["row"] == row).unwrap();
    assert_eq!(of("2")["state"], "created");
    assert_eq!(of("7")["state"], "created");
    assert_eq!(of("5")["state"], "invalid");
    assert!(
        of("5")["error_message"].contains("did you mean `Adatum Resellers`"),
        "{:?}",
        of("5")
    );

    // Fixed in the sheet, the row goes; rows created are not asked about again.
    let mut fixed = rows.clone();
    fixed[3] = fixed[3].clone().with("associated_partner_id", ADATUM);
    let sheet = job.sheet(&fixed);
    let before = job.emulator.log().len();
    let again = job.run(&sheet, &["--preflight"]);
    assert_eq!(again.summary()["created"], 3, "{}", again.stderr);
    let heads = job.emulator.log()[before..]
        .iter()
        .filter(|e| e.method == "HEAD")
        .count();
    assert_eq!(heads, 4, "the two created rows were not asked about");
}

#[test]
fn rate_preflight_keeps_to_the_budget() {
    let mut config = EmulatorConfig {
        rate_limit: 6,
        window_s: 1.0,
        ..EmulatorConfig::default()
    };
    config.address_suggestions = false;
    let job = Job::new(config);
    let sheet = job.sheet(&customers("pfrate", 6));

    let mut cmd = job.command(&["validate", "--online", "--rate-limit", "5/1s"]);
    cmd.arg(&sheet);
    let ran = Job::finish(cmd);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let log = job.emulator.log();
    assert!(
        log.iter().filter(|e| e.path.starts_with("/v1/")).count() >= 13,
        "every row asked about"
    );
    assert!(
        log.iter().all(|e| e.status != 429),
        "pre-flight was throttled: it did not keep to its budget"
    );
}
