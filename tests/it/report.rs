//! `report --journal J --out report.html`: one self-contained page whose numbers are the
//! journal's. (Its rendering in a real browser is `.ci/render-report`, run by `.ci/run`.)

use crate::support::*;

const LITWARE: &str = "6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02";
const WIDE_WORLD_INACTIVE: &str = "8041ad23-6e5f-4c91-8db4-4f5a6b7c8d04";

fn count(page: &str, needle: &str) -> usize {
    page.matches(needle).count()
}

#[test]
fn the_report_shows_the_journals_numbers_and_what_to_do() {
    let job = Job::new(Default::default());
    let customers = vec![
        Customer::valid("adatum1"),
        Customer::valid("adatum2"),
        Customer::valid("litware1").with("associated_partner_id", LITWARE),
        Customer::valid("inactive1").with("associated_partner_id", WIDE_WORLD_INACTIVE),
        Customer::valid("bad1").with("email", "not-an-address"),
    ];
    let sheet = job.ws.write("customers.csv", csv_text(&customers));
    let ran = job.run(&sheet, &["--rate-limit", "10/2s", "--preflight"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let status = job.status();

    let out = job.ws.path("report.html");
    let mut cmd = job.command(&["report"]);
    cmd.arg("--journal")
        .arg(&job.journal)
        .arg("--out")
        .arg(&out);
    let made = Job::finish(cmd);
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert!(
        made.stderr.contains("1 run(s), 2 row(s) needing attention"),
        "{}",
        made.stderr
    );
    let page = std::fs::read_to_string(&out).unwrap();

    // Self-contained: nothing fetched from anywhere, no script.
    for outside in ["<script", " src=", "href=", "@import", "url("] {
        assert_eq!(count(&page, outside), 0, "{outside}");
    }
    for section in [
        "totals",
        "requests",
        "resellers",
        "attestation",
        "attention",
        "runs",
    ] {
        assert!(
            page.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
    // The journal's numbers.
    assert_eq!(status["rows"]["created"], 3);
    assert!(page.contains("<span class=\"value\">3</span><span class=\"label\">created</span>"));
    let requests = status["runs"][0]["requests"].as_i64().unwrap();
    assert!(
        page.contains(&format!("Run 1: {requests} requests, one bar per 2 s")),
        "{page}"
    );
    assert!(page.contains("against a limit of 10"));
    // Resellers by name, with their counts.
    assert!(page.contains("<td>Adatum Resellers</td>"), "{page}");
    assert!(page.contains("<td>Litware Partners</td>"));
    // The rows that need attention, each with what to do.
    assert!(page.contains("Rows that need attention (2)"));
    assert!(page.contains("correct the row in the sheet; the next run sends it"));
    assert!(
        page.contains("Wide World Resale"),
        "the inactive reseller is named"
    );
    assert_eq!(count(&page, "<tr>"), 1 + 3 + 1 + 2 + 1 + 1, "{page}");
}

#[test]
fn a_report_is_an_html_file_or_refused() {
    let job = Job::new(Default::default());
    let sheet = job
        .ws
        .write("customers.csv", csv_text(&[Customer::valid("one1")]));
    assert_eq!(job.run(&sheet, &[]).code, 0);
    let mut cmd = job.command(&["report"]);
    cmd.arg("--journal")
        .arg(&job.journal)
        .arg("--out")
        .arg(job.ws.path("report.pdf"));
    let refused = Job::finish(cmd);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("error: `")
            && refused.stderr.contains("report.pdf` is not an .html file"),
        "{}",
        refused.stderr
    );
    assert!(!job.ws.path("report.pdf").exists());
}
