//! Customers that already exist are adopted, not failed: a sheet re-run under a new journal, a
//! customer created by hand. A domain that is someone else's fails with a plain message. And a
//! journal given another sheet says so instead of mixing two jobs.

use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

/// `run` of `sheet` into the journal `name` in the job's workspace.
fn run_into(job: &Job, sheet: &std::path::Path, name: &str, extra: &[&str]) -> Ran {
    let mut cmd = job.command(&["run"]);
    cmd.arg(sheet)
        .arg("--journal")
        .arg(job.ws.path(name))
        .args(FAST)
        .args(extra);
    Job::finish(cmd)
}

#[test]
fn a_rerun_under_a_new_journal_adopts_every_row() {
    let job = Job::new(EmulatorConfig::default());
    let rows = customers("adopted", 5);
    let sheet = job.sheet(&rows);
    assert_eq!(job.run(&sheet, &[]).code, 0);

    // The same sheet, saved under tomorrow's name: a new journal, every domain already taken.
    let tomorrow = job.ws.write("customers-2026-12-02.csv", csv_text(&rows));
    let ran = run_into(&job, &tomorrow, "customers-2026-12-02.journal.sqlite", &[]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let summary = ran.summary();
    assert_eq!(summary["created"], 5);
    assert_eq!(summary["already_existed"], 5);
    assert_eq!(summary["credentials_lost"], 0, "adopted, not lost");
    for row in &rows {
        let domain = format!("{}.onmicrosoft.com", row.cells()[0]);
        assert_eq!(
            job.emulator.creation_count(&domain),
            1,
            "{domain} created once"
        );
    }
    let mut status = job.command(&["status", "--format", "json", "--journal"]);
    status.arg(job.ws.path("customers-2026-12-02.journal.sqlite"));
    let status: serde_json::Value = serde_json::from_str(&Job::finish(status).stdout).unwrap();
    assert_eq!(status["already_existed"], 5);
}

#[test]
fn a_domain_of_another_reseller_fails_saying_whose_it_is() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&[Customer::valid("whose1")]);
    assert_eq!(job.run(&sheet, &[]).code, 0);

    let other = job.ws.write(
        "litware.csv",
        csv_text(&[Customer::valid("whose1").with("associated_partner_id", LITWARE)]),
    );
    let ran = run_into(&job, &other, "litware.journal.sqlite", &[]);

    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let mut export = job.command(&["export", "--out"]);
    export
        .arg(job.ws.path("litware.csv.results.csv"))
        .arg("--journal")
        .arg(job.ws.path("litware.journal.sqlite"));
    assert_eq!(Job::finish(export).code, 0);
    let results = read_csv(&job.ws.path("litware.csv.results.csv"));
    assert_eq!(results[0]["state"], "failed");
    assert_eq!(results[0]["already_existed"], "false");
    assert_eq!(
        results[0]["error_message"],
        format!(
            "`whose1.onmicrosoft.com` is already a customer of this partner, of reseller `{ADATUM}`, not of this row's reseller"
        )
    );
}

#[test]
fn a_journal_given_another_sheet_says_so_unless_told() {
    let job = Job::new(EmulatorConfig::default());
    let first = job.sheet(&customers("firstsheet", 2));
    assert_eq!(job.run(&first, &[]).code, 0);

    let other = job
        .ws
        .write("other-reseller.csv", csv_text(&customers("othersheet", 2)));
    let mut cmd = job.run_command(&other, &[]);
    let refused = Job::finish({
        cmd.env_remove("CSP_ONBOARD_LOG");
        cmd
    });

    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "error: journal `{}` was made from `{}`, and none of the rows of `{}` are in it: this looks like another sheet",
            job.journal.display(),
            first.display(),
            other.display()
        )),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--add-sheet"));
    assert_eq!(job.status()["rows"]["created"], 2, "nothing imported");
    assert_eq!(job.create_requests(), 2);

    let told = job.run(&other, &["--add-sheet"]);
    assert_eq!(told.code, 0, "{}", told.stderr);
    assert_eq!(job.status()["rows"]["created"], 4);

    // The first sheet grown and renamed shares rows with the journal: no question asked.
    let grown = job.ws.write(
        "customers-grown.csv",
        csv_text(&[customers("firstsheet", 2), customers("grownsheet", 1)].concat()),
    );
    assert_eq!(job.run(&grown, &[]).code, 0);
}
