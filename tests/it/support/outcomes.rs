//! What a job left behind, checked against the emulator's own count and the journal: every row
//! created once, credentials sealed or flagged lost, every attempt recorded; and the signals a
//! test sends a running job.

use csp_onboard::emulator::LogEntry;

use super::job::Job;
use super::sheets::Customer;

/// Ctrl-C, as a terminal sends it.
pub fn interrupt(child: &std::process::Child) {
    send_signal(child, libc::SIGINT);
}

/// What `systemctl stop` and schedulers send.
pub fn terminate(child: &std::process::Child) {
    send_signal(child, libc::SIGTERM);
}

fn send_signal(child: &std::process::Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, signal) };
}

pub fn created_in(log: &[LogEntry]) -> usize {
    log.iter()
        .filter(|e| e.method == "POST" && e.path == "/v1/customers" && e.status == 201)
        .count()
}

/// Every row created exactly once, sealed credentials for all but the rows flagged lost.
pub fn assert_all_created_once(job: &Job, rows: &[Customer]) {
    let status = job.status();
    assert_eq!(status["rows"]["created"], rows.len(), "{status}");
    for row in rows {
        let domain = format!("{}.onmicrosoft.com", row.cells()[0]);
        assert_eq!(
            job.emulator.creation_count(&domain),
            1,
            "{domain} created {} times",
            job.emulator.creation_count(&domain)
        );
    }
    let results = job.results();
    let credentials = job.credentials();
    assert_eq!(credentials.len(), rows.len());
    for line in &credentials {
        let lost = results
            .iter()
            .find(|r| r["domain"] == line["domain"])
            .unwrap()["credentials_lost"]
            == "true";
        let issued = job.issued(&line["domain"]);
        if lost {
            assert_eq!(line["password"], "", "{}: flagged lost", line["domain"]);
        } else {
            assert_eq!(
                line["password"], issued.password,
                "{}: sealed",
                line["domain"]
            );
        }
        assert_eq!(line["customer_id"], issued.id);
    }
    assert_every_attempt_recorded(job);
}

/// Each intent a row committed left exactly one create attempt in the journal — recorded with its
/// outcome, or as interrupted when the process died with it in flight — under its run's
/// correlation id.
pub fn assert_every_attempt_recorded(job: &Job) {
    for (domain, (counter, attempts)) in job.create_attempts() {
        assert_eq!(attempts.len() as i64, counter, "{domain}: {attempts:?}");
        for attempt in &attempts {
            let outcome = attempt.outcome.as_deref().unwrap_or("");
            assert!(
                attempt.finished || outcome == "interrupted",
                "{domain}: {attempt:?}"
            );
            assert_eq!(
                attempt.correlation_id, attempt.run_correlation_id,
                "{domain}"
            );
            assert!(!attempt.correlation_id.is_empty(), "{domain}");
        }
        let created = attempts
            .iter()
            .filter(|a| a.http_status == Some(201))
            .count();
        assert!(created <= 1, "{domain}: {attempts:?}");
    }
}
