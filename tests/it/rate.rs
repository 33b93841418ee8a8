//! The two promises about the rate, on a scaled window (50 requests per 6 s) against the
//! emulator's strict sliding window: never over (zero 429s, no 6 s window with more than 50
//! requests to /v1/customers), and never far under (≥ 90% of the limit here; the ≥ 99% figure at
//! the real 500/min is the benchmark's, `benches/rate.sh`).
//!
//! These tests take about 36 s each and run one at a time (nextest group `serial-timing`).

use csp_onboard::emulator::{EmulatorConfig, LogEntry};

use crate::support::*;

const LIMIT: usize = 50;
const WINDOW_S: f64 = 6.0;

fn customer_requests(log: &[LogEntry]) -> Vec<&LogEntry> {
    log.iter()
        .filter(|e| e.path.starts_with("/v1/customers"))
        .collect()
}

/// The most requests any window of `WINDOW_S` seconds holds.
fn busiest_window(times: &[f64]) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t < times[i] + WINDOW_S)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn check_rate(config: EmulatorConfig, rows: usize) {
    check_rate_at(config, rows, LIMIT);
}

/// Runs `rows` creates at `limit` per 6 s against an emulator that allows exactly that, with the
/// default concurrency, and checks both promises.
fn check_rate_at(config: EmulatorConfig, rows: usize, limit: usize) {
    let job = Job::new(EmulatorConfig {
        rate_limit: limit,
        window_s: WINDOW_S,
        ..config
    });
    let sheet = job.sheet(&customers("rate", rows));

    let rate = format!("{limit}/6s");
    let mut args = vec!["--rate-limit", rate.as_str()];
    if limit > LIMIT {
        // A scaled window faster than 500/min: the emulator allows it, so the test does too.
        args.push("--allow-above-documented-limit");
    }
    let ran = job.run(&sheet, &args);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_both_promises(&job.emulator.log(), rows, limit);
}

/// Never over: no 429, no window with more than `limit` requests to /v1/customers. Never far
/// under: `creates` creates admitted at 90% of the limit or more, first to last.
fn assert_both_promises(log: &[LogEntry], creates: usize, limit: usize) {
    let requests = customer_requests(log);
    assert_eq!(
        requests.iter().filter(|e| e.status == 429).count(),
        0,
        "never throttled"
    );
    let mut times: Vec<f64> = requests.iter().map(|e| e.t).collect();
    times.sort_by(f64::total_cmp);
    let busiest = busiest_window(&times);
    assert!(
        busiest <= limit,
        "{busiest} requests in one {WINDOW_S} s window"
    );
    let created: Vec<f64> = requests
        .iter()
        .filter(|e| e.status == 201)
        .map(|e| e.t)
        .collect();
    assert_eq!(created.len(), creates);
    let span = created.iter().cloned().fold(f64::MIN, f64::max)
        - created.iter().cloned().fold(f64::MAX, f64::min);
    let achieved = (created.len() - 1) as f64 / span;
    let per_s = limit as f64 / WINDOW_S;
    assert!(
        achieved >= 0.9 * per_s,
        "{achieved:.2}/s is under 90% of {per_s:.2}/s"
    );
}

#[test]
fn rate_50_per_6s_is_never_exceeded_and_nearly_reached() {
    let config = EmulatorConfig {
        rate_limit: LIMIT,
        window_s: WINDOW_S,
        ..EmulatorConfig::default()
    };
    check_rate(config, 300);
}

#[test]
fn rate_with_slow_creates_still_nearly_reached_at_default_concurrency() {
    let mut config = EmulatorConfig {
        rate_limit: LIMIT,
        window_s: WINDOW_S,
        seed: 3,
        ..EmulatorConfig::default()
    };
    config.faults.latency_ms = 1000;
    config.faults.latency_jitter_ms = 500;
    check_rate(config, 300);
}

#[test]
fn rate_holds_when_creates_take_longer_than_a_fixed_100_in_flight_could_carry() {
    // 100 per 6 s at 8 s ± 50 % per create: Little's law wants about 16.7 × 8 ≈ 133 requests out,
    // more than the 100 a fixed concurrency used to allow (which capped this at 75 %: measured, it
    // fails with `--concurrency 100`). The number out must follow the latency from the start.
    let mut config = EmulatorConfig {
        seed: 11,
        ..EmulatorConfig::default()
    };
    config.faults.latency_ms = 8000;
    config.faults.latency_jitter_ms = 4000;
    check_rate_at(config, 400, 100);
}

#[test]
fn rate_two_runs_on_one_tenant_share_one_budget() {
    // The nightly job and an operator's resume at once, on one partner tenant: each alone would
    // take the whole 50/6s, and together they met 8 × 429. One budget between them.
    let job = Job::new(EmulatorConfig {
        rate_limit: LIMIT,
        window_s: WINDOW_S,
        ..EmulatorConfig::default()
    });
    let spawn = |prefix: &str| {
        let sheet = job
            .ws
            .write(&format!("{prefix}.csv"), csv_text(&customers(prefix, 150)));
        let mut cmd = job.command(&["run"]);
        cmd.arg(&sheet)
            .arg("--journal")
            .arg(job.ws.path(&format!("{prefix}.journal.sqlite")))
            .args(FAST)
            .args(["--rate-limit", "50/6s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let nightly = spawn("nightly");
    let operator = spawn("operator");
    for child in [nightly, operator] {
        let ran = Ran::from(child.wait_with_output().unwrap());
        assert_eq!(ran.code, 0, "{}", ran.stderr);
    }

    // Together, as one run would.
    assert_both_promises(&job.emulator.log(), 300, LIMIT);
}
