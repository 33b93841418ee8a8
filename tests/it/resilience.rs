//! Nothing lost, nothing duplicated: the real process killed mid-run, dropped responses, 5xx, 429
//! storms, slow responses, expired tokens, refused sign-ins and Ctrl-C — each followed by the
//! emulator's own count of what was created.

use std::process::Stdio;
use std::time::Duration;

use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

/// Returns how many rows were in flight when the process was killed.
fn crash_and_resume(seed: u64, kill_after: usize, replay: bool) -> usize {
    let mut config = EmulatorConfig {
        seed,
        throttle: false,
        ..EmulatorConfig::default()
    };
    config.faults.drop_after_create_rate = 0.15;
    config.faults.transient_error_rate = 0.1;
    config.faults.latency_ms = 10;
    config.faults.latency_jitter_ms = 8;
    config.faults.replay_request_ids = replay;
    let job = Job::new(config);
    let rows = customers(
        &format!("crash{seed}k{kill_after}r{}n", u8::from(replay)),
        40,
    );
    let sheet = job.sheet(&rows);

    let mut child = job
        .run_command(&sheet, &["--concurrency", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reached = job
        .emulator
        .wait_until(Duration::from_secs(30), |log| created_in(log) >= kill_after);
    child.kill().unwrap(); // SIGKILL: no chance to tidy up
    child.wait().unwrap();
    assert!(reached, "the emulator never saw {kill_after} creates");
    assert!(
        created_in(&job.emulator.log()) < rows.len(),
        "killed before the end"
    );

    let ran = job.resume(&FAST);

    assert_eq!(
        ran.code, 0,
        "seed {seed}, kill after {kill_after}, replay {replay}\n{}",
        ran.stderr
    );
    assert_all_created_once(&job, &rows);
    // The attempts the kill cut short are in the journal too, one per row that was in flight.
    let in_flight: usize = ran
        .stderr
        .lines()
        .find_map(|l| {
            l.strip_suffix(
                " row(s) were in flight when the last run stopped: reconciling them first",
            )
        })
        .map_or(0, |n| n.parse().unwrap());
    let interrupted: usize = job
        .create_attempts()
        .values()
        .map(|(_, attempts)| {
            attempts
                .iter()
                .filter(|a| a.outcome.as_deref() == Some("interrupted"))
                .count()
        })
        .sum();
    assert_eq!(interrupted, in_flight, "{}", ran.stderr);
    in_flight
}

#[test]
fn sigkill_mid_run_then_resume_loses_and_duplicates_nothing() {
    let cut_short: usize = [(1, 3), (2, 12), (3, 25)]
        .into_iter()
        .map(|(seed, kill_after)| crash_and_resume(seed, kill_after, false))
        .sum();
    assert!(cut_short > 0, "no kill caught a request in flight");
}

#[test]
fn sigkill_mid_run_then_resume_with_request_id_replay() {
    let cut_short: usize = [(4, 5), (5, 14), (6, 22)]
        .into_iter()
        .map(|(seed, kill_after)| crash_and_resume(seed, kill_after, true))
        .sum();
    assert!(cut_short > 0, "no kill caught a request in flight");
}

#[test]
fn dropped_responses_are_reconciled_as_created_with_lost_credentials() {
    let mut config = EmulatorConfig::default();
    config.faults.drop_after_create_rate = 1.0;
    let job = Job::new(config);
    let rows = customers("dropall", 3);
    let sheet = job.sheet(&rows);

    let ran = job.run(&sheet, &[]);

    assert_eq!(
        ran.code, 0,
        "credentials lost is reported, not a failure\n{}",
        ran.stderr
    );
    assert_eq!(ran.summary()["credentials_lost"], 3);
    assert_eq!(job.create_requests(), 3, "reconciled, never sent twice");
    assert_all_created_once(&job, &rows);
    assert!(
        job.results()
            .iter()
            .all(|r| r["credentials_lost"] == "true")
    );
}

#[test]
fn five_hundreds_html_bodies_and_slow_responses_lose_nothing() {
    let mut config = EmulatorConfig {
        seed: 11,
        ..EmulatorConfig::default()
    };
    config.faults.transient_error_rate = 0.3;
    config.faults.html_error_rate = 0.5;
    config.faults.slow_response_rate = 0.2;
    config.faults.slow_response_s = 5.0;
    let job = Job::new(config);
    let rows = customers("flaky", 20);
    let sheet = job.sheet(&rows);

    let ran = job.run(&sheet, &["--request-timeout", "0.5"]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_all_created_once(&job, &rows);
    let lost = ran.summary()["credentials_lost"].as_i64().unwrap();
    assert!(
        lost >= 1,
        "some responses came too late: their passwords are lost"
    );
    assert!(lost < 20);
}

#[test]
fn a_429_storm_slows_the_run_and_loses_nothing() {
    let config = EmulatorConfig {
        rate_limit: 10,
        window_s: 1.0,
        ..EmulatorConfig::default()
    };
    let job = Job::new(config);
    let rows = customers("storm", 30);
    let sheet = job.sheet(&rows);

    // The client is told nothing of the limit: it learns from the 429s.
    let ran = job.run(&sheet, &["--concurrency", "8"]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let throttled = ran.summary()["throttled"].as_i64().unwrap();
    assert!(throttled > 0, "the storm happened");
    assert_eq!(job.status()["throttled"], throttled);
    assert_all_created_once(&job, &rows);
    let refused = job
        .emulator
        .log()
        .iter()
        .filter(|e| e.status == 429)
        .count();
    assert_eq!(
        refused as i64, throttled,
        "every 429 the emulator sent was counted"
    );
}

#[test]
fn an_access_token_that_expires_mid_run_is_refreshed_and_the_rotated_refresh_token_kept() {
    let mut config = EmulatorConfig::default();
    config.tokens.access_token_lifetime_s = 1;
    config.tokens.revoke_rotated_refresh_tokens = true;
    let job = Job::new(config);
    let rows = customers("expiry", 20);
    let sheet = job.sheet(&rows);

    let ran = job.run(&sheet, &["--rate-limit", "8/1s", "--concurrency", "2"]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_all_created_once(&job, &rows);
    let token_requests = job
        .emulator
        .log()
        .iter()
        .filter(|e| e.path.ends_with("/oauth2/v2.0/token"))
        .count();
    assert!(
        token_requests >= 2,
        "refreshed before expiry ({token_requests} token requests)"
    );

    // The environment's refresh token was rotated (and revoked): the next run lives on the cache.
    let grown = [rows.clone(), customers("expirylater", 2)].concat();
    let sheet = job.sheet(&grown);
    let ran = job.run(&sheet, &[]);
    assert_eq!(
        ran.code, 0,
        "the cached refresh token works\n{}",
        ran.stderr
    );
    let cache = std::fs::read_to_string(job.ws.path("tokens.json")).unwrap();
    assert!(
        !cache.contains(&job.emulator.refresh_token()),
        "the cache holds the rotated token"
    );
}

#[test]
fn a_refused_sign_in_stops_the_run_with_exit_3_and_fails_no_row() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("refused", 5));

    let mut cmd = job.command(&["run"]);
    cmd.arg(&sheet)
        .arg("--journal")
        .arg(&job.journal)
        .args(FAST)
        .env("CSP_ONBOARD_REFRESH_TOKEN", "not-a-token");
    let ran = Job::finish(cmd);

    assert_eq!(ran.code, 3);
    let stderr = &ran.stderr;
    assert!(stderr.contains("AADSTS700082"), "{stderr}");
    assert!(
        !stderr.contains("not-a-token"),
        "the token itself is never printed"
    );
    let status = job.status();
    assert_eq!(status["rows"]["failed"], 0);
    assert_eq!(status["rows"]["pending"], 5);
    assert_eq!(job.create_requests(), 0);
    // Signed in properly, resume finishes the job.
    assert_eq!(job.resume(&FAST).code, 0);
    assert_eq!(job.status()["rows"]["created"], 5);
}

#[test]
fn a_provider_without_permission_stops_after_a_few_refusals() {
    let config = EmulatorConfig {
        forbid_creates: true,
        ..EmulatorConfig::default()
    };
    let job = Job::new(config);
    let sheet = job.sheet(&customers("noperm", 20));

    let ran = job.run(&sheet, &["--concurrency", "1"]);

    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains("lack of permission"), "{}", ran.stderr);
    let status = job.status();
    assert_eq!(status["rows"]["failed"], 5);
    assert_eq!(
        status["rows"]["pending"], 15,
        "the rest is left for a resume"
    );
}

#[test]
fn ctrl_c_lets_requests_in_flight_finish_then_resume_completes_the_job() {
    let mut config = EmulatorConfig::default();
    config.faults.latency_ms = 100;
    let job = Job::new(config);
    let rows = customers("ctrlc", 30);
    let sheet = job.sheet(&rows);
    let child = job
        .run_command(&sheet, &["--concurrency", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        job.emulator
            .wait_until(Duration::from_secs(20), |log| created_in(log) >= 4)
    );

    interrupt(&child);
    let out = Ran::from(child.wait_with_output().unwrap());

    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("resume"));
    let status = job.status();
    assert_eq!(
        status["rows"]["in_flight"], 0,
        "requests in flight finished and were recorded"
    );
    let created = status["rows"]["created"].as_i64().unwrap();
    assert!((4..30).contains(&created), "{status}");
    assert_eq!(job.resume(&FAST).code, 0);
    assert_all_created_once(&job, &rows);
}

#[test]
fn an_outage_leaves_rows_pending_not_failed_and_resume_finishes_the_job() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("outage", 3);
    let sheet = job.sheet(&rows);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead); // nothing listens there now: every create is refused before it is sent

    let mut cmd = job.command(&["run"]);
    cmd.arg(&sheet)
        .arg("--journal")
        .arg(&job.journal)
        .args(FAST)
        .args(["--max-attempts", "3"]);
    cmd.env("CSP_ONBOARD_API_URL", &dead_url);
    let out = Job::finish(cmd);

    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("left for `resume`"));
    let status = job.status();
    assert_eq!(
        status["rows"]["failed"], 0,
        "an outage is not Partner Center's verdict"
    );
    assert_eq!(status["rows"]["retry_wait"], 3);

    let ran = job.resume(&FAST);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_all_created_once(&job, &rows);
}

#[test]
fn ctrl_c_twice_quits_at_once_and_resume_reconciles_what_was_in_flight() {
    let mut config = EmulatorConfig::default();
    config.faults.latency_ms = 400;
    let job = Job::new(config);
    let rows = customers("twice", 12);
    let sheet = job.sheet(&rows);
    let child = job
        .run_command(&sheet, &["--concurrency", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A first create answered (the log records a request when it is answered); the next ones are
    // in flight for 400 ms: interrupt twice in that time.
    assert!(
        job.emulator
            .wait_until(Duration::from_secs(20), |log| created_in(log) >= 1)
    );
    std::thread::sleep(Duration::from_millis(150));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(50));
    interrupt(&child);
    let out = Ran::from(child.wait_with_output().unwrap());

    assert_eq!(out.code, 4, "{}", out.stderr);
    let in_flight = job.status()["rows"]["in_flight"].as_i64().unwrap();
    assert!(
        in_flight > 0,
        "quit with requests in flight: resume must reconcile them"
    );
    let ran = job.resume(&FAST);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("were in flight when the last run stopped"),
        "{}",
        ran.stderr
    );
    assert_all_created_once(&job, &rows);
}
