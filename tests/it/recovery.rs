//! `recover-credentials`: customers whose one-time password never reached the journal get a new
//! one — the admin's password reset once, sealed before the reset leaves, handed out by `export`
//! only once Partner Center confirmed it — and only where the API allows it.

use std::process::Stdio;
use std::time::Duration;

use csp_onboard::emulator::{EmulatorConfig, LogEntry};

use crate::support::*;

/// A job whose every create response was dropped: all created, all with credentials lost.
fn lost_job(config: EmulatorConfig, prefix: &str, n: usize) -> (Job, Vec<Customer>) {
    let mut config = config;
    config.faults.drop_after_create_rate = 1.0;
    let job = Job::new(config);
    let rows = customers(prefix, n);
    let sheet = job.sheet(&rows);
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["credentials_lost"], n);
    (job, rows)
}

fn recover(job: &Job, extra: &[&str]) -> Ran {
    let mut cmd = job.command(&["recover-credentials", "--journal"]);
    cmd.arg(&job.journal).args(FAST).args(extra);
    Job::finish(cmd)
}

fn resets_in(log: &[LogEntry]) -> usize {
    log.iter()
        .filter(|e| e.method == "PATCH" && e.path.ends_with("/resetpassword") && e.status == 200)
        .count()
}

/// Every row has the password the emulator holds now, reset exactly once, to be changed at the
/// admin's next sign-in.
fn assert_recovered_once(job: &Job, rows: &[Customer]) {
    let credentials = job.credentials();
    assert_eq!(credentials.len(), rows.len());
    for line in &credentials {
        let issued = job.issued(&line["domain"]);
        assert_eq!(line["credentials_lost"], "false", "{}", line["domain"]);
        assert_eq!(line["password"], issued.password, "{}", line["domain"]);
        assert_eq!(line["sign_in_name"], format!("admin@{}", line["domain"]));
        assert_eq!(issued.password_resets, 1, "{}", line["domain"]);
        assert!(issued.must_change_password, "{}", line["domain"]);
    }
    assert!(
        job.results()
            .iter()
            .all(|r| r["credentials_lost"] == "false")
    );
}

#[test]
fn rows_reconciled_as_lost_get_a_new_password_sealed() {
    let (job, rows) = lost_job(EmulatorConfig::default(), "lostpw", 4);

    let ran = recover(&job, &[]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["recovered"], 4);
    assert_eq!(ran.summary()["credentials_lost"], 0);
    assert_recovered_once(&job, &rows);
    assert!(
        !ran.stderr
            .contains(&job.issued(&job.credentials()[0]["domain"]).password),
        "a password reached stderr"
    );

    // Nothing left: a second recovery sends nothing.
    let again = recover(&job, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to recover"),
        "{}",
        again.stderr
    );
    assert_eq!(resets_in(&job.emulator.log()), 4);
}

#[test]
fn a_dropped_reset_is_sent_again_with_the_same_password() {
    let mut config = EmulatorConfig {
        seed: 41,
        ..EmulatorConfig::default()
    };
    config.faults.drop_after_reset_rate = 0.5;
    let (job, rows) = lost_job(config, "droppw", 6);

    let ran = recover(&job, &["--request-timeout", "2"]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let log = job.emulator.log();
    assert!(
        log.iter()
            .any(|e| e.dropped && e.path.ends_with("/resetpassword")),
        "no reset response was dropped: the test proves nothing"
    );
    // Each customer's password is the one sealed, whatever was resent.
    for line in job.credentials() {
        assert_eq!(line["password"], job.issued(&line["domain"]).password);
    }
    assert_eq!(rows.len(), job.credentials().len());
}

#[test]
fn sigkill_mid_recovery_then_again_loses_no_password() {
    let mut config = EmulatorConfig {
        seed: 43,
        throttle: false,
        ..EmulatorConfig::default()
    };
    config.faults.latency_ms = 15;
    config.faults.latency_jitter_ms = 10;
    let (job, rows) = lost_job(config, "killpw", 20);

    let mut cmd = job.command(&["recover-credentials", "--journal"]);
    cmd.arg(&job.journal)
        .args(FAST)
        .args(["--concurrency", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let reached = job
        .emulator
        .wait_until(Duration::from_secs(30), |log| resets_in(log) >= 7);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reached, "the emulator never saw 7 resets");
    assert!(
        resets_in(&job.emulator.log()) < rows.len(),
        "killed before the end"
    );

    let ran = recover(&job, &[]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // Every customer's sealed password is the one Partner Center holds now; a reset whose answer
    // the kill cut off was made again with a new password, so some were reset twice, none lost.
    for line in job.credentials() {
        let issued = job.issued(&line["domain"]);
        assert_eq!(line["credentials_lost"], "false");
        assert_eq!(line["password"], issued.password, "{}", line["domain"]);
        assert!((1..=2).contains(&issued.password_resets));
    }
}

#[test]
fn recovery_is_refused_outside_the_global_cloud() {
    let (job, _) = lost_job(EmulatorConfig::default(), "usgovpw", 1);

    let ran = recover(&job, &["--cloud", "usgov"]);

    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("error: Partner Center resets a customer's password through the API in the global cloud only, and this journal's profile is for the `usgov` cloud (US Government)"),
        "{}",
        ran.stderr
    );
    assert_eq!(resets_in(&job.emulator.log()), 0);
}

#[test]
fn an_app_only_sign_in_stops_recovery_with_exit_3() {
    let (job, _) = lost_job(EmulatorConfig::default(), "apponlypw", 2);
    // The same journal, now signed in as an app: the emulator refuses resets without a user.
    let mut config = EmulatorConfig::default();
    config.tokens.app_only_tokens = true;
    let other = Job::new(config);
    let mut cmd = other.command(&["recover-credentials", "--journal"]);
    cmd.arg(&job.journal).args(FAST);
    let ran = Job::finish(cmd);

    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert_eq!(resets_in(&other.emulator.log()), 0);
}
