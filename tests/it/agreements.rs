//! The Microsoft Customer Agreement: each customer created is attested exactly once, with the
//! row's contact — through 5xx, dropped responses, a kill -9 mid-attestation and a re-run that
//! adopts customers attested already — and only where the API allows it (the global cloud).

use std::process::Stdio;
use std::time::Duration;

use csp_onboard::emulator::{EmulatorConfig, LogEntry};
use serde_json::Value;

use crate::support::*;

/// The agreements the emulator holds for `row`'s customer.
fn agreements_of(job: &Job, row: &Customer) -> Vec<Value> {
    job.issued(&format!("{}.onmicrosoft.com", row.cells()[0]))
        .agreements
}

/// Every row's customer has exactly one agreement, the Microsoft Customer Agreement.
fn assert_each_attested_once(job: &Job, rows: &[Customer]) {
    for row in rows {
        let agreements = agreements_of(job, row);
        assert_eq!(agreements.len(), 1, "{}: {agreements:?}", row.cells()[0]);
        assert_eq!(agreements[0]["type"], "MicrosoftCustomerAgreement");
    }
}

fn attestations_in(log: &[LogEntry]) -> usize {
    log.iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/agreements") && e.status == 201)
        .count()
}

#[test]
fn every_customer_created_is_attested_with_its_contact() {
    let config = EmulatorConfig::default();
    let template = config.mca_template_id.clone();
    let job = Job::new(config);
    let rows = vec![
        Customer::valid("mca1"),
        Customer::valid("mca2")
            .with("first_name", "Lars")
            .with("last_name", "Öberg")
            .with("email", "lars@fabrikam.se")
            .with("phone_number", ""),
    ];
    let sheet = job.sheet(&rows);

    let ran = job.run(&sheet, &["--attest-mca", "--agreed-date", "2026-11-20"]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_each_attested_once(&job, &rows);
    let first = &agreements_of(&job, &rows[0])[0];
    assert_eq!(first["templateId"], template.as_str());
    assert_eq!(first["dateAgreed"], "2026-11-20T00:00:00Z");
    assert_eq!(
        first["primaryContact"],
        serde_json::json!({"firstName": "Gena", "lastName": "Soto",
                           "email": "gena@wingtiptoys.com", "phoneNumber": "4255550101"})
    );
    let second = &agreements_of(&job, &rows[1])[0];
    assert_eq!(
        second["primaryContact"],
        serde_json::json!({"firstName": "Lars", "lastName": "Öberg", "email": "lars@fabrikam.se"}),
        "no phone, no phoneNumber"
    );
    assert_eq!(
        ran.summary()["attestations"],
        serde_json::json!({"attested": 2, "pending": 0, "failed": 0})
    );
    assert_eq!(
        job.status()["attestations"],
        serde_json::json!({"attested": 2, "pending": 0, "failed": 0})
    );
    assert!(job.results().iter().all(|r| r["mca_attested"] == "true"));
}

#[test]
fn without_the_flag_nothing_is_attested_and_a_later_run_attests_what_was_created() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("later", 3);
    let sheet = job.sheet(&rows);
    assert_eq!(job.run(&sheet, &[]).code, 0);
    assert!(rows.iter().all(|r| agreements_of(&job, r).is_empty()));
    assert!(job.results().iter().all(|r| r["mca_attested"] == "false"));

    // The template key does what the flag does.
    let template = job.ws.write("attest.toml", "attest_mca = true\n");
    let ran = job.run(&sheet, &["--template", template.to_str().unwrap()]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        ran.summary()["created_this_run"],
        0,
        "nothing created again"
    );
    assert_each_attested_once(&job, &rows);
}

#[test]
fn failed_and_dropped_attestations_are_retried_and_reconciled_never_doubled() {
    let mut config = EmulatorConfig {
        seed: 21,
        ..EmulatorConfig::default()
    };
    config.faults.transient_error_rate = 0.3;
    config.faults.drop_after_attest_rate = 0.4;
    let job = Job::new(config);
    let rows = customers("flakymca", 12);
    let sheet = job.sheet(&rows);

    let ran = job.run(&sheet, &["--attest-mca", "--request-timeout", "2"]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_all_created_once(&job, &rows);
    assert_each_attested_once(&job, &rows);
    let log = job.emulator.log();
    assert!(
        log.iter()
            .any(|e| e.dropped && e.path.ends_with("/agreements")),
        "no attestation response was dropped: the test proves nothing"
    );
    assert!(
        log.iter()
            .any(|e| e.method == "GET" && e.path.ends_with("/agreements")),
        "a dropped attestation is reconciled by reading the customer's agreements"
    );
}

/// Kills the run once the emulator has made `kill_after` attestations; returns how many were in
/// flight, as the resume reports them.
fn kill_mid_attestation_then_resume(seed: u64, kill_after: usize) -> usize {
    let mut config = EmulatorConfig {
        seed,
        throttle: false,
        ..EmulatorConfig::default()
    };
    config.faults.latency_ms = 15;
    config.faults.latency_jitter_ms = 10;
    config.faults.drop_after_attest_rate = 0.1;
    let job = Job::new(config);
    let rows = customers(&format!("killmca{seed}k{kill_after}n"), 24);
    let sheet = job.sheet(&rows);

    let mut child = job
        .run_command(&sheet, &["--attest-mca", "--concurrency", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reached = job.emulator.wait_until(Duration::from_secs(30), |log| {
        attestations_in(log) >= kill_after
    });
    child.kill().unwrap(); // SIGKILL: no chance to tidy up
    child.wait().unwrap();
    assert!(reached, "the emulator never saw {kill_after} attestations");
    assert!(
        attestations_in(&job.emulator.log()) < rows.len(),
        "killed before the end"
    );

    let ran = job.resume(&FAST);

    assert_eq!(
        ran.code, 0,
        "seed {seed}, kill after {kill_after}\n{}",
        ran.stderr
    );
    assert_all_created_once(&job, &rows);
    assert_each_attested_once(&job, &rows);
    assert_eq!(ran.summary()["attestations"]["attested"], rows.len());
    ran.stderr
        .lines()
        .find_map(|l| {
            l.strip_suffix(" attestation(s) were in flight when the last run stopped: reading those customers' agreements before sending any again")
        })
        .map_or(0, |n| n.parse().unwrap())
}

#[test]
fn sigkill_mid_attestation_then_resume_attests_each_exactly_once() {
    let cut_short: usize = [(31, 2), (32, 9), (33, 17)]
        .into_iter()
        .map(|(seed, kill_after)| kill_mid_attestation_then_resume(seed, kill_after))
        .sum();
    assert!(cut_short > 0, "no kill caught an attestation in flight");
}

#[test]
fn a_customer_adopted_under_a_new_journal_is_not_attested_again() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("adoptmca", 3);
    let sheet = job.sheet(&rows);
    assert_eq!(job.run(&sheet, &["--attest-mca"]).code, 0);

    let mut again = job.command(&["run"]);
    again
        .arg(&sheet)
        .arg("--journal")
        .arg(job.ws.path("new.journal.sqlite"))
        .args(FAST)
        .arg("--attest-mca");
    let ran = Job::finish(again);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["already_existed"], 3);
    assert_eq!(ran.summary()["attestations"]["attested"], 3);
    assert_each_attested_once(&job, &rows);
}

#[test]
fn a_customer_adopted_without_an_agreement_is_attested_once() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("adoptbare", 2);
    let sheet = job.sheet(&rows);
    assert_eq!(job.run(&sheet, &[]).code, 0, "created, not attested");

    let mut again = job.command(&["run"]);
    again
        .arg(&sheet)
        .arg("--journal")
        .arg(job.ws.path("new.journal.sqlite"))
        .args(FAST)
        .arg("--attest-mca");
    let ran = Job::finish(again);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["already_existed"], 2);
    assert_each_attested_once(&job, &rows);
    let reads = job
        .emulator
        .log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.starts_with("/v1/customers/"))
        .filter(|e| e.path.ends_with("/agreements"))
        .count();
    assert_eq!(
        reads, 2,
        "looked once per adopted customer before attesting"
    );
}

#[test]
fn attestation_is_refused_outside_the_global_cloud_before_anything_is_sent() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("china", 2));

    let ran = job.run(&sheet, &["--attest-mca", "--cloud", "china"]);

    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "error: the Microsoft Customer Agreement is attested through the API in the global cloud only, and this run is for the `china` cloud\nhint: run without `--attest-mca` (and without `attest_mca = true` in the template)"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(job.create_requests(), 0);
}

#[test]
fn an_agreed_date_needs_the_attestation_and_cannot_be_tomorrow() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("dates", 1));

    let alone = job.run(&sheet, &["--agreed-date", "2026-11-20"]);
    assert_eq!(alone.code, 2);
    assert!(
        alone.stderr.contains("error: `--agreed-date` is the day of the Microsoft Customer Agreement's acceptance, and nothing is attested in this run\nhint: add `--attest-mca` (or `attest_mca = true` in the template)"),
        "{}",
        alone.stderr
    );

    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let ran = job.run(&sheet, &["--attest-mca", "--agreed-date", &tomorrow]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains(&format!("error: `--agreed-date {tomorrow}` is after today")),
        "{}",
        ran.stderr
    );

    let garbled = job.run(&sheet, &["--attest-mca", "--agreed-date", "20/11/2026"]);
    assert_eq!(garbled.code, 2);
    assert!(
        garbled
            .stderr
            .contains("error: `--agreed-date 20/11/2026`: not a date as `YYYY-MM-DD`"),
        "{}",
        garbled.stderr
    );
    assert_eq!(job.create_requests(), 0);
}
