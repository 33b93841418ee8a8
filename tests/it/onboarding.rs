//! Onboarding as a distributor does it: given a sheet, `run` it against the emulator, then look at
//! `status`, `export` and the emulator's own record of what was created.

use std::os::unix::fs::PermissionsExt;

use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

#[test]
fn a_mixed_sheet_creates_every_valid_row_once_and_never_sends_an_invalid_one() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&[
        Customer::valid("mixedgood1").with("external_id", "EXT-1"),
        Customer::valid("mixed-bad2"),
        Customer::valid("mixedgood3").with("associated_partner_id", LITWARE),
        Customer::valid("mixedzip4").with("postal_code", "2134"),
        Customer::valid("mixedgood1"),
        Customer::valid("mixedgood6").with("email", ""),
        Customer::valid("mixedgood7"),
    ]);

    let ran = job.run(&sheet, &[]);

    assert_eq!(ran.code, 1, "some rows invalid → exit 1\n{}", ran.stderr);
    let summary = ran.summary();
    assert_eq!(
        (
            summary["created"].as_i64(),
            summary["invalid"].as_i64(),
            summary["failed"].as_i64()
        ),
        (Some(3), Some(4), Some(0))
    );
    assert_eq!(summary["exit_code"], 1);
    for domain in ["mixedgood1", "mixedgood3", "mixedgood7"] {
        assert_eq!(
            job.emulator
                .creation_count(&format!("{domain}.onmicrosoft.com")),
            1,
            "{domain}"
        );
    }
    assert_eq!(job.create_requests(), 3, "invalid rows are never sent");

    let results = job.results();
    let by_row: Vec<(String, String, String)> = results
        .iter()
        .map(|r| (r["row"].clone(), r["domain"].clone(), r["state"].clone()))
        .collect();
    assert_eq!(
        by_row,
        [
            (
                "2".into(),
                "mixedgood1.onmicrosoft.com".into(),
                "created".into()
            ),
            ("3".into(), "".into(), "invalid".into()),
            (
                "4".into(),
                "mixedgood3.onmicrosoft.com".into(),
                "created".into()
            ),
            (
                "5".into(),
                "mixedzip4.onmicrosoft.com".into(),
                "invalid".into()
            ),
            ("6".into(), "".into(), "invalid".into()),
            (
                "7".into(),
                "mixedgood6.onmicrosoft.com".into(),
                "invalid".into()
            ),
            (
                "8".into(),
                "mixedgood7.onmicrosoft.com".into(),
                "created".into()
            ),
        ]
    );
    let first = &results[0];
    assert_eq!(first["external_id"], "EXT-1");
    assert_eq!(first["associated_partner_id"], ADATUM);
    let issued = job.emulator.customers();
    let made = issued
        .iter()
        .find(|c| c.domain == "mixedgood1.onmicrosoft.com")
        .unwrap();
    assert_eq!(first["customer_id"], made.id);
    assert_eq!(first["commerce_id"], made.commerce_id);
    assert_eq!(first["attempts"], "1");
    assert!(
        results[3]["error_message"].contains("did Excel drop a leading zero"),
        "{:?}",
        results[3]
    );
    assert!(
        results[4]["error_message"].contains("already used by row 2"),
        "{:?}",
        results[4]
    );

    let status = job.status();
    assert_eq!(status["rows"]["created"], 3);
    assert_eq!(status["rows"]["invalid"], 4);
    assert_eq!(status["by_reseller"][LITWARE]["created"], 1);
    assert_eq!(status["runs"][0]["requests"], 3);

    // Each create left one attempt in the journal: its outcome, under the run's correlation id.
    let attempts = job.create_attempts();
    for domain in ["mixedgood1", "mixedgood3", "mixedgood7"] {
        let (counter, recorded) = &attempts[&format!("{domain}.onmicrosoft.com")];
        assert_eq!(*counter, 1);
        assert_eq!(recorded.len(), 1, "{domain}: {recorded:?}");
        assert_eq!(recorded[0].outcome.as_deref(), Some("created"));
        assert_eq!(recorded[0].http_status, Some(201));
        assert!(recorded[0].finished);
        assert_eq!(recorded[0].correlation_id, recorded[0].run_correlation_id);
    }
    assert!(
        attempts["mixedgood6.onmicrosoft.com"].1.is_empty(),
        "invalid rows are never sent"
    );
}

#[test]
fn credentials_are_sealed_and_only_the_identity_opens_them() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("sealed", 4));

    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let exported = job.credentials();
    assert_eq!(exported.len(), 4);
    for line in &exported {
        let issued = job.issued(&line["domain"]);
        assert_eq!(line["password"], issued.password, "{}", line["domain"]);
        assert_eq!(line["user_name"], "admin");
        assert_eq!(line["customer_id"], issued.id);
    }
    let credentials_file = std::fs::read_dir(job.ws.root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("credentials-")
        })
        .unwrap();
    assert_eq!(
        std::fs::metadata(&credentials_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&job.journal)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // No password, refresh token or access token in the journal's bytes or in any log line.
    let mut journal_bytes = std::fs::read(&job.journal).unwrap();
    if let Ok(wal) = std::fs::read(job.journal.with_extension("sqlite-wal")) {
        journal_bytes.extend(wal);
    }
    let journal_text = String::from_utf8_lossy(&journal_bytes);
    let logs = format!("{}{}", ran.stdout, ran.stderr);
    for customer in job.emulator.customers() {
        assert!(
            !journal_text.contains(&customer.password),
            "a password in the journal"
        );
        assert!(!logs.contains(&customer.password), "a password in the logs");
    }
    assert!(
        !logs.contains(&job.emulator.refresh_token()),
        "the refresh token in the logs"
    );
    assert!(
        !journal_text.contains(&job.emulator.refresh_token()),
        "a refresh token in the journal"
    );
    // Every access token the emulator issues starts with its JWT header (base64 of
    // `{"alg":"RS256","typ":"JWT","kid":"emulator"}`): long enough that ciphertext never matches
    // it by chance, unlike a bare `eyJ` (which once did, in CI).
    let token_start = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVtdWxhdG9yIn0.";
    assert!(!logs.contains(token_start), "an access token in the logs");
    assert!(
        !journal_text.contains(token_start),
        "an access token in the journal"
    );

    // Another identity cannot open them, and nothing is written.
    let (other, _) = csp_onboard::credentials::generate_identity();
    let other_path = job.ws.path("other.txt");
    csp_onboard::credentials::write_private_file(
        &other_path,
        secrecy::ExposeSecret::expose_secret(&other).as_bytes(),
    )
    .unwrap();
    let out = job.ws.path("stolen.csv");
    let refused = job
        .command(&["export", "--credentials", "--identity"])
        .arg(&other_path)
        .arg("--out")
        .arg(&out)
        .arg("--journal")
        .arg(&job.journal)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(!out.exists());
}

#[test]
fn running_the_same_sheet_again_sends_nothing_and_a_grown_sheet_sends_only_the_new_rows() {
    let job = Job::new(EmulatorConfig::default());
    let first = customers("nightly", 5);
    let sheet = job.sheet(&first);
    assert_eq!(job.run(&sheet, &[]).code, 0);
    assert_eq!(job.create_requests(), 5);

    let again = job.run(&sheet, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(job.create_requests(), 5, "the same sheet again is a no-op");
    assert_eq!(again.summary()["created"], 5);

    let mut grown = first.clone();
    grown.extend(customers("nightlynew", 3));
    let sheet = job.sheet(&grown);
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        job.create_requests(),
        8,
        "only the three new rows were sent"
    );
    assert_eq!(job.status()["rows"]["created"], 8);
    assert_eq!(job.status()["runs"].as_array().unwrap().len(), 3);
}

#[test]
fn a_row_changed_after_creation_is_flagged_never_created_again() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&[Customer::valid("changed1")]);
    assert_eq!(job.run(&sheet, &[]).code, 0);

    let sheet = job.sheet(&[Customer::valid("changed1").with("city", "Seattle")]);
    let ran = job.run(&sheet, &[]);

    assert_eq!(
        ran.code, 0,
        "changed-after-creation is reported, not a failure"
    );
    assert_eq!(job.create_requests(), 1);
    assert_eq!(job.results()[0]["changed_after_creation"], "true");
    assert_eq!(job.status()["changed_after_creation"], 1);
}

#[test]
fn a_failed_row_is_retried_only_when_it_changed_or_when_asked() {
    let config = EmulatorConfig {
        taken_domains: vec!["takenaway1.onmicrosoft.com".into()],
        ..EmulatorConfig::default()
    };
    let job = Job::new(config);
    let sheet = job.sheet(&[Customer::valid("takenaway1"), Customer::valid("fine2")]);
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 1);
    let results = job.results();
    assert_eq!(results[0]["state"], "failed");
    // Looked up before it failed: taken, and not one of the partner's customers.
    assert_eq!(results[0]["error_code"], "domain_taken");
    assert_eq!(
        results[0]["error_message"],
        "the domain `takenaway1.onmicrosoft.com` is taken, and not by one of this partner's customers"
    );

    job.run(&sheet, &[]);
    assert_eq!(
        job.create_requests(),
        2,
        "unchanged failed rows stay failed"
    );

    job.run(&sheet, &["--retry-failed"]);
    assert_eq!(job.create_requests(), 3, "--retry-failed sends it again");

    let sheet = job.sheet(&[
        Customer::valid("takenaway1").with("company_name", "Renamed"),
        Customer::valid("fine2"),
    ]);
    job.run(&sheet, &[]);
    assert_eq!(
        job.create_requests(),
        4,
        "a changed failed row is sent again"
    );
}

#[test]
fn a_second_process_on_the_same_journal_is_told_who_holds_it() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("locked", 2));
    let holder = csp_onboard::journal::Journal::open(
        &job.journal,
        csp_onboard::journal::Access::CreateAndWork,
    )
    .unwrap();

    let ran = job.run(&sheet, &[]);

    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr
            .contains(&format!("is in use by process {}", std::process::id())),
        "{}",
        ran.stderr
    );
    assert_eq!(job.create_requests(), 0);
    drop(holder);
    assert_eq!(
        job.run(&sheet, &[]).code,
        0,
        "the lock dies with its holder"
    );
}

#[test]
fn status_export_and_resume_refuse_a_journal_that_does_not_exist() {
    let job = Job::new(EmulatorConfig::default());
    let missing = job.ws.path("nope.sqlite");
    for args in [
        vec!["status", "--journal"],
        vec!["resume", "--journal"],
        vec!["export", "--out", "x.csv", "--journal"],
    ] {
        let mut cmd = job.command(&args);
        cmd.arg(&missing);
        let out = Job::finish(cmd);
        assert_eq!(out.code, 2, "{args:?}");
        assert!(out.stderr.contains("does not exist"), "{args:?}");
        assert!(!missing.exists(), "{args:?} created the journal");
    }
}

#[test]
fn without_a_recipient_the_run_refuses_to_start() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("norecipient", 1));

    let out = Ran::from(
        job.command(&["run", "--journal"])
            .arg(&job.journal)
            .arg(&sheet)
            .env_remove("CSP_ONBOARD_RECIPIENT")
            .output()
            .unwrap(),
    );

    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("csp-onboard keygen"));
    assert_eq!(job.create_requests(), 0);
}

#[test]
fn only_https_is_accepted_except_loopback() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("plainhttp", 1));
    let out = Ran::from(
        job.command(&["run", "--journal"])
            .arg(&job.journal)
            .arg(&sheet)
            .env(
                "CSP_ONBOARD_API_URL",
                "http://api.partnercenter.microsoft.com",
            )
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not an https:// URL"));
}

#[test]
fn keygen_writes_an_identity_age_keygen_would_and_prints_its_recipient() {
    let ws = Workspace::new();
    let key = ws.path("key.txt");
    let out = csp_onboard()
        .arg("keygen")
        .arg("--out")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(recipient.starts_with("age1"));
    let text = std::fs::read_to_string(&key).unwrap();
    assert!(text.starts_with("# created: "));
    assert!(text.contains(&format!("# public key: {recipient}\n")));
    assert!(text.lines().any(|l| l.starts_with("AGE-SECRET-KEY-1")));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        csp_onboard::credentials::recipient_of(&key).unwrap(),
        recipient
    );
    let again = csp_onboard()
        .arg("keygen")
        .arg("--out")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing key is never overwritten"
    );
}

#[test]
fn results_export_as_xlsx_too() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("xlsxout", 2));
    job.run(&sheet, &[]);
    let out = job.ws.path("results.xlsx");
    let ran = job
        .command(&["export", "--out"])
        .arg(&out)
        .arg("--journal")
        .arg(&job.journal)
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(0));
    let read = read_sheet(&out, &csp_onboard::source::SourceOptions::default()).unwrap();
    assert_eq!(read.header.cells[..3], ["row", "domain", "company_name"]);
    assert_eq!(read.cell(2, "domain"), "xlsxout0.onmicrosoft.com");
    assert_eq!(read.cell(3, "state"), "created");
}

#[test]
fn json_logs_for_unattended_runs() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("jsonlog", 1));
    let ran = job.run(&sheet, &["--log-format", "json"]);
    assert_eq!(ran.code, 0);
    let json_lines: Vec<serde_json::Value> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        json_lines
            .iter()
            .any(|l| l["fields"]["message"] == "got a Partner Center access token"),
        "{}",
        ran.stderr
    );
}

#[test]
fn settings_come_from_flags_then_environment_then_config_files() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("configured", 2));
    // Everything in ./csp-onboard.toml, a wrong tenant included...
    let toml = format!(
        "api_url = \"{url}\"\nauthority_url = \"{url}\"\ntenant_id = \"wrong-tenant\"\nclient_id = \"from-file\"\n\
         refresh_token = \"{rt}\"\nrecipient = \"{recipient}\"\ntoken_cache = \"{cache}\"\n",
        url = job.emulator.url(),
        rt = job.emulator.refresh_token(),
        recipient = job.recipient,
        cache = job.ws.path("file-tokens.json").display(),
    );
    job.ws.write_private("csp-onboard.toml", toml);
    let mut cmd = job.run_command(&sheet, &[]);
    for name in [
        "CSP_ONBOARD_API_URL",
        "CSP_ONBOARD_AUTHORITY_URL",
        "CSP_ONBOARD_CLIENT_ID",
        "CSP_ONBOARD_REFRESH_TOKEN",
        "CSP_ONBOARD_RECIPIENT",
        "CSP_ONBOARD_TOKEN_CACHE",
    ] {
        cmd.env_remove(name);
    }
    // ...and the right tenant in the environment, which wins over the file.
    let out = Job::finish(cmd);

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(job.create_requests(), 2);
    assert!(
        job.ws.path("file-tokens.json").exists(),
        "the token cache named in the file was used"
    );
}

fn run_options(job: &Job) -> Vec<serde_json::Value> {
    let conn = rusqlite::Connection::open(&job.journal).unwrap();
    let mut statement = conn
        .prepare("SELECT options FROM runs ORDER BY id")
        .unwrap();
    statement
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|o| serde_json::from_str(&o.unwrap()).unwrap())
        .collect()
}

#[test]
fn resume_reuses_the_last_runs_settings_unless_a_flag_overrides_them() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("remember", 2));
    assert_eq!(
        job.run(
            &sheet,
            &[
                "--max-attempts",
                "3",
                "--rate-limit",
                "7/1s",
                "--concurrency",
                "5"
            ]
        )
        .code,
        0
    );

    assert_eq!(job.resume(&["--no-progress"]).code, 0);
    assert_eq!(
        job.resume(&["--no-progress", "--max-attempts", "4"]).code,
        0
    );

    let runs = run_options(&job);
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[1]["max_attempts"], 3, "resume remembered");
    assert_eq!(runs[1]["rate_limit"], "7/1s");
    assert_eq!(runs[1]["concurrency"], 5);
    assert_eq!(runs[2]["max_attempts"], 4, "a flag overrides");
    assert_eq!(runs[2]["rate_limit"], "7/1s");
}

#[test]
fn a_sheet_longer_than_a_page_of_the_work_queue_is_sent_whole() {
    let job = Job::new(EmulatorConfig {
        throttle: false,
        ..EmulatorConfig::default()
    });
    let rows = customers("paged", 2500);
    let sheet = job.sheet(&rows);

    let ran = job.run(&sheet, &[]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.summary()["created"], 2500);
    assert_eq!(
        job.create_requests(),
        2500,
        "each row sent once across the pages"
    );
    assert_eq!(job.emulator.customers().len(), 2500);
}
