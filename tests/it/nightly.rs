//! What a scheduler runs every night, and what the operator does in the morning: acknowledging the
//! failed rows that were dealt with, the documented limit, and the tooling around the binary
//! (completions, the manual).

use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

#[test]
fn acknowledged_failed_rows_no_longer_make_every_night_exit_1_until_they_change() {
    let job = Job::new(EmulatorConfig {
        taken_domains: vec!["takenack1.onmicrosoft.com".into()],
        ..EmulatorConfig::default()
    });
    let rows = vec![
        Customer::valid("takenack1"),
        Customer::valid("fineack2"),
        Customer::valid("badack3").with("country", "XX"),
    ];
    let sheet = job.sheet(&rows);
    assert_eq!(job.run(&sheet, &[]).code, 1, "a failed and an invalid row");

    let ack = Job::finish({
        let mut cmd = job.command(&[
            "ack",
            "--rows",
            "2,4",
            "--note",
            "reseller onboards them by hand",
        ]);
        cmd.arg("--journal").arg(&job.journal);
        cmd
    });
    assert_eq!(ack.code, 0, "{}", ack.stderr);
    assert!(
        ack.stderr
            .contains("acknowledged 2 row(s): 2 (failed), 4 (invalid)"),
        "{}",
        ack.stderr
    );

    let night = job.run(&sheet, &[]);
    assert_eq!(
        night.code, 0,
        "acknowledged rows do not fail the night: {}",
        night.stderr
    );
    assert_eq!(job.status()["acknowledged"], 2);

    // The invalid row is fixed in the sheet: it is judged (and sent) again.
    let fixed = job.sheet(&[
        rows[0].clone(),
        rows[1].clone(),
        Customer::valid("badack3").with("country", "US"),
    ]);
    let night = job.run(&fixed, &[]);
    assert_eq!(night.code, 0, "{}", night.stderr);
    assert_eq!(job.status()["rows"]["created"], 2);
    assert_eq!(job.status()["acknowledged"], 1);
    // A failed row whose content changes is sent again, and no longer acknowledged.
    let changed = job.sheet(&[
        Customer::valid("takenack1").with("company_name", "Renamed"),
        rows[1].clone(),
        Customer::valid("badack3").with("country", "US"),
    ]);
    assert_eq!(job.run(&changed, &[]).code, 1);
    assert_eq!(job.status()["acknowledged"], 0);
}

#[test]
fn only_failed_or_invalid_rows_can_be_acknowledged_and_nothing_is_written_otherwise() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&[
        Customer::valid("okack1"),
        Customer::valid("badack2").with("country", "XX"),
    ]);
    assert_eq!(job.run(&sheet, &[]).code, 1);
    for (rows, message) in [
        (
            "2,3",
            "error: row 2 is `created`: only failed or invalid rows can be acknowledged",
        ),
        ("9", "error: the journal has no row 9"),
        ("x", "error: `x` is not a row number or a range of them"),
    ] {
        let ran = Job::finish({
            let mut cmd = job.command(&["ack", "--rows", rows]);
            cmd.arg("--journal").arg(&job.journal);
            cmd
        });
        assert_eq!(ran.code, 2, "{rows}");
        assert!(ran.stderr.contains(message), "{rows}: {}", ran.stderr);
    }
    assert_eq!(job.status()["acknowledged"], 0, "all or nothing");
}

#[test]
fn a_rate_above_the_documented_limit_needs_saying_so() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("fast", 2));

    let refused = job.run(&sheet, &["--rate-limit", "600/min"]);

    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("`--rate-limit 600/60s` is 600 requests per minute, above the 500 Partner Center documents per partner tenant"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--allow-above-documented-limit"));
    assert_eq!(job.create_requests(), 0);
    let allowed = job.run(
        &sheet,
        &["--rate-limit", "600/min", "--allow-above-documented-limit"],
    );
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
}

#[test]
fn completions_and_the_manual_page_are_printed() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = csp_onboard().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("doctor") && script.contains("resume"),
            "{shell}"
        );
    }
    let man = csp_onboard().arg("man").output().unwrap();
    assert_eq!(man.status.code(), Some(0));
    let page = String::from_utf8(man.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH csp-onboard 1"),
        "{page}"
    );
    let help = csp_onboard().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("Examples:\n  csp-onboard run templates/customers.csv --emulator"),
        "{help}"
    );
}
