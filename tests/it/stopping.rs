//! Stopping is a feature: Ctrl-C and SIGTERM end a run within the time of the requests really in
//! flight, whatever the rate, leave no row in flight that was never sent, and print the summary;
//! after a kill -9, only the requests really sent are left to reconcile.
//!
//! These tests time a stop, so they run one at a time (nextest group `serial-timing`), and their
//! bound (3 s) leaves room for a busy machine: what they guard against took 12 s to forever.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

/// Starts `run` on `rows` customers at `rate` with the default concurrency, and waits for the
/// emulator to have logged `creates` creates.
fn running(
    job: &Job,
    prefix: &str,
    rows: usize,
    rate: &str,
    creates: usize,
) -> (Child, Vec<Customer>) {
    let rows = customers(prefix, rows);
    let sheet = job.sheet(&rows);
    let child = job
        .run_command(&sheet, &["--rate-limit", rate])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        job.emulator
            .wait_until(Duration::from_secs(60), |log| created_in(log) >= creates),
        "the emulator never saw {creates} creates"
    );
    (child, rows)
}

/// Signals `child`, waits for it; returns how it ended and how long that took.
fn stop(child: Child, signal: fn(&Child)) -> (Ran, Duration) {
    let signalled = Instant::now();
    signal(&child);
    let ran = Ran::from(child.wait_with_output().unwrap());
    (ran, signalled.elapsed())
}

fn assert_stopped_cleanly(job: &Job, ran: &Ran, took: Duration, rows: &[Customer]) {
    assert_eq!(ran.code, 4, "{}", ran.stderr);
    assert!(
        took < Duration::from_secs(3),
        "the stop took {took:?}\n{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("stopping: letting the"),
        "{}",
        ran.stderr
    );
    let hint = format!(
        "hint: continue with `csp-onboard resume --journal {}`",
        job.journal.display()
    );
    assert!(ran.stderr.contains(&hint), "{}", ran.stderr);
    let summary = ran.summary();
    assert_eq!(summary["exit_code"], 4);
    let status = job.status();
    assert_eq!(
        status["rows"]["in_flight"], 0,
        "nothing that was never sent looks in flight"
    );
    assert_eq!(summary["created"], status["rows"]["created"]);
    assert_eq!(summary["created_this_run"], status["rows"]["created"]);
    let left = rows.len() as i64 - status["rows"]["created"].as_i64().unwrap();
    assert_eq!(summary["pending"], left, "{summary}");
    assert!(left > 0, "stopped before the end");
    // And nothing was lost: resume finishes the job, each customer created once.
    let resumed = job.resume(&FAST);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        !resumed.stderr.contains("were in flight"),
        "a clean stop leaves nothing to reconcile: {}",
        resumed.stderr
    );
    assert_all_created_once(job, rows);
}

#[test]
fn ctrl_c_at_a_slow_pace_ends_the_run_at_once() {
    // 10 per 6 s: a slot every 0.6 s, with a hundred rows waiting for theirs.
    let mut config = EmulatorConfig::default();
    config.faults.latency_ms = 200;
    let job = Job::new(config);
    let (child, rows) = running(&job, "slowstop", 120, "10/6s", 3);

    let (ran, took) = stop(child, interrupt);

    assert_stopped_cleanly(&job, &ran, took, &rows);
}

#[test]
fn sigterm_at_the_default_pace_is_one_ctrl_c() {
    let mut config = EmulatorConfig::default();
    config.faults.latency_ms = 200;
    let job = Job::new(config);
    let (child, rows) = running(&job, "termstop", 300, "500/min", 5);

    let (ran, took) = stop(child, terminate);

    assert_stopped_cleanly(&job, &ran, took, &rows);
}

#[test]
fn after_kill_9_only_the_requests_really_sent_are_in_doubt() {
    // 10 per 6 s at 2 s a create: about 1.7 × 2 ≈ 3–4 requests are out at any time, while a
    // hundred rows wait for their pace slot. Only the ones out may be in flight in the journal.
    let mut config = EmulatorConfig::default();
    config.faults.latency_ms = 2000;
    let job = Job::new(config);
    let (mut child, rows) = running(&job, "killnine", 100, "10/6s", 3);

    child.kill().unwrap();
    let _ = child.wait();

    let in_flight = job.status()["rows"]["in_flight"].as_i64().unwrap();
    assert!(
        (1..=6).contains(&in_flight),
        "{in_flight} rows in flight; about 3–4 requests were really out"
    );
    let resumed = job.resume(&FAST);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_all_created_once(&job, &rows);
}

#[test]
fn a_signal_during_the_import_stops_the_job_before_anything_is_sent() {
    // Signalled as soon as the run is recorded: the import of 20,000 rows is under way (it is
    // one transaction, so it goes through), and the job must stop before sending a thing.
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("importing", 20_000);
    let sheet = job.sheet(&rows);
    let child = job
        .run_command(&sheet, &["--rate-limit", "1/1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !run_recorded(&job) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no run recorded"
        );
        std::thread::sleep(Duration::from_millis(2));
    }

    let (ran, _) = stop(child, terminate);

    assert_eq!(ran.code, 4, "{}", ran.stderr);
    let summary = ran.summary();
    assert_eq!(summary["exit_code"], 4);
    let status = job.status();
    assert_eq!(status["rows"]["in_flight"], 0);
    // Almost always the signal lands in the import and nothing is sent; at worst the first slot
    // of the 1/1s pace was taken.
    let sent = job.create_requests() as i64;
    assert!(sent <= 1, "{sent} creates sent after the signal");
    assert_eq!(summary["pending"], 20_000 - sent, "{summary}");
    assert_eq!(status["rows"]["pending"], 20_000 - sent);
}

/// Whether the job's run has been recorded in its journal.
fn run_recorded(job: &Job) -> bool {
    rusqlite::Connection::open_with_flags(&job.journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0)))
        .is_ok_and(|n| n > 0)
}
