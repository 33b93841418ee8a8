//! Hostile and careless input ends in a clear verdict: one writer per journal whatever the path,
//! control characters caught, memory bounded, absurd settings refused, secrets kept where only
//! their owner reads them, redirects not followed, read-only journals readable, and the summary
//! true on every exit. (Hostile workbooks: `workbooks`.)

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

#[test]
fn the_lock_holds_through_a_symlink_and_a_hard_link() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("linked", 2));
    let holder = csp_onboard::journal::Journal::open(
        &job.journal,
        csp_onboard::journal::Access::CreateAndWork,
    )
    .unwrap();
    let symlink = job.ws.path("symlinked.journal.sqlite");
    std::os::unix::fs::symlink(&job.journal, &symlink).unwrap();
    let hard_link = job.ws.path("hardlinked.journal.sqlite");
    std::fs::hard_link(&job.journal, &hard_link).unwrap();

    for other_name in [&symlink, &hard_link] {
        let mut cmd = job.command(&["run"]);
        cmd.arg(&sheet).arg("--journal").arg(other_name).args(FAST);
        let ran = Job::finish(cmd);

        assert_eq!(ran.code, 2, "{}", ran.stderr);
        assert!(
            ran.stderr
                .contains(&format!("is in use by process {}", std::process::id())),
            "{}",
            ran.stderr
        );
    }
    assert_eq!(job.create_requests(), 0, "no second writer sent anything");
    drop(holder);
}

#[test]
fn nul_and_escape_sequences_in_cells_are_row_errors_and_never_printed_raw() {
    let ws = Workspace::new();
    let path = ws.write(
        "customers.csv",
        csv_text(&[
            Customer::valid("nul1").with("company_name", "Wingtip\0Toys"),
            Customer::valid("esc2").with("city", "Red\x1b[31mmond"),
            Customer::valid("bidi3").with("last_name", "Soto\u{202e}evil"),
            Customer::valid("fine4"),
        ]),
    );

    let v = validate_json(&path, &[]);
    let text = csp_onboard().arg("validate").arg(&path).output().unwrap();

    assert_eq!(v.code, 1);
    assert_eq!(v.fields_of(2), ["company_name"]);
    assert_eq!(
        v.errors_of(2)[0]["message"],
        "contains the control character U+0000; remove it"
    );
    assert_eq!(v.fields_of(3), ["city"]);
    assert_eq!(v.fields_of(4), ["last_name"]);
    assert_eq!(
        v.errors_of(4)[0]["message"],
        "contains the invisible character U+202E; remove it"
    );
    assert_eq!(v.doc["valid"], 1);
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert!(
        !stdout.contains('\x1b') && !stdout.contains('\0'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("row 3, column `city` (city), `Red\\u{1b}[31mmond`: contains the control character U+001B; remove it"),
        "{stdout}"
    );
}

#[test]
fn a_row_longer_than_a_mebibyte_is_refused_in_bounded_time() {
    let ws = Workspace::new();
    // What `/dev/zero` or a quote never closed looks like to a CSV parser: one endless cell.
    let mut bytes = format!("{}\n\"", HEADERS.join(",")).into_bytes();
    bytes.extend(std::iter::repeat_n(b'a', 3 << 20));
    let path = ws.write("endless.csv", bytes);
    let started = Instant::now();

    let v = validate_json(&path, &[]);

    assert_eq!(v.code, 2);
    assert!(
        v.stderr.contains("row 2: the row is over 1 MiB long"),
        "{}",
        v.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_fifo_or_a_device_named_csv_is_refused_at_once() {
    let ws = Workspace::new();
    let fifo = ws.path("customers.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_csp-onboard"))
        .arg("validate")
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("still waiting on the FIFO after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("is a pipe (FIFO): csp-onboard reads only files"),
        "{stderr}"
    );

    let device = ws.path("zero.csv");
    std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
    let v = validate_json(&device, &[]);
    assert_eq!(v.code, 2);
    assert!(v.stderr.contains("is a device"), "{}", v.stderr);
}

#[test]
fn huge_values_are_cut_in_messages() {
    let ws = Workspace::new();
    let company = "W".repeat(500_000);
    let path = ws.write(
        "customers.csv",
        csv_text(&[Customer::valid("long1").with("company_name", &company)]),
    );

    let v = validate_json(&path, &[]);
    let text = csp_onboard().arg("validate").arg(&path).output().unwrap();

    assert_eq!(v.code, 1);
    let value = v.errors_of(2)[0]["value"].as_str().unwrap();
    assert!(
        value.ends_with("… (500000 characters)"),
        "{}",
        &value[value.len() - 40..]
    );
    assert!(value.len() < 1000);
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert!(stdout.len() < 2000, "{} bytes of output", stdout.len());
    assert!(
        stdout.contains("500000 characters is too long: at most 255 are allowed"),
        "{stdout}"
    );
}

#[test]
fn a_hundred_thousand_unknown_columns_are_one_warning() {
    let ws = Workspace::new();
    let mut header = HEADERS.join(",");
    let mut row = Customer::valid("wide1").csv_line().trim_end().to_string();
    for i in 0..100_000 {
        header.push_str(&format!(",x{i}"));
        row.push(',');
    }
    let path = ws.write("wide.csv", format!("{header}\n{row}\n"));

    let v = validate_json(&path, &[]);

    assert_eq!(v.code, 0, "{}", v.stderr);
    let warnings = v.doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 11, "ten named, the rest counted");
    assert_eq!(
        warnings[0]["message"],
        "column `x0` maps to no field and is ignored"
    );
    assert_eq!(
        warnings[10]["message"],
        "99990 more columns map to no field and are ignored"
    );
}

#[test]
fn absurd_durations_and_rate_periods_are_refused_without_a_panic() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("absurd", 1));
    let cases: [(&[&str], &str); 6] = [
        (
            &["--request-timeout", "1e30"],
            "`--request-timeout 1e30`: must be more than 0 to 3600 seconds",
        ),
        (
            &["--backoff-cap", "1e300"],
            "`--backoff-cap 1e300`: must be 0 to 86400 seconds",
        ),
        (
            &["--reconcile-patience", "NaN"],
            "`--reconcile-patience NaN`: must be 0 to 86400 seconds",
        ),
        (
            &["--rate-limit", "1/0.0000000001s"],
            "the period of a rate must be between 1 second and 24 hours",
        ),
        (
            &["--rate-limit", "5/99999999999999999999h"],
            "the period of a rate must be between 1 second and 24 hours",
        ),
        (
            &["--concurrency", "10000000000"],
            "`--concurrency` must be 1 to 100000",
        ),
    ];
    for (args, message) in cases {
        let ran = job.run(&sheet, args);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(message), "{args:?}: {}", ran.stderr);
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    }
    job.ws
        .write_private("csp-onboard.toml", "request_timeout_s = 1e30\n");
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "`request_timeout_s = 1e30` in `csp-onboard.toml`: must be more than 0 to 3600 seconds"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(job.create_requests(), 0);
}

/// A server that answers every request with a redirect to `location`; returns its URL and a count
/// of the requests it got.
fn redirecting_server(
    location: String,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buffer = [0u8; 65536];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

#[test]
fn redirects_are_not_followed_so_no_secret_is_re_posted_elsewhere() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("redirected", 2));
    // Where a followed redirect would re-post the refresh token: plain http, which the URL policy
    // refuses for anything but loopback — here a second loopback listener that counts.
    let (elsewhere, re_posted) = redirecting_server("http://127.0.0.1:9/".into());
    let (authority, asked) = redirecting_server(format!("{elsewhere}/token"));

    let mut cmd = job.run_command(&sheet, &[]);
    cmd.env("CSP_ONBOARD_AUTHORITY_URL", &authority);
    let ran = Job::finish(cmd);

    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(
        re_posted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the token request was not re-posted to the redirect's target"
    );
    assert!(ran.stderr.contains("HTTP 307"), "{}", ran.stderr);
    assert_eq!(job.create_requests(), 0);
}

#[test]
fn config_files_others_may_change_or_read_are_refused() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("perms", 1));
    let config = job.ws.write("csp-onboard.toml", "max_attempts = 3\n");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();

    let ran = job.run(&sheet, &[]);

    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("config file `csp-onboard.toml` can be changed by other users (mode 0666): it is not used"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("hint: `chmod go-w csp-onboard.toml`"));

    job.ws
        .write("csp-onboard.toml", "refresh_token = \"kept-secret\"\n");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ran = job.run(&sheet, &[]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("holds a secret and can be read by other users (mode 0644)"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("kept-secret"));
    assert_eq!(job.create_requests(), 0);

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(job.run(&sheet, &[]).code, 0, "0600 is fine");
}

/// `chattr +i` (root may write anything else) on `paths`; false where the file system has no
/// such flag.
fn immutable(paths: &[&std::path::Path], on: bool) -> bool {
    std::process::Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .args(paths)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn status_and_export_read_a_journal_they_may_not_change() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("readonly", 3));
    assert_eq!(job.run(&sheet, &[]).code, 0);
    // A journal handed over as it is after a run: no WAL left, in a folder nobody may write to.
    let folder = job.ws.path("handed-over");
    std::fs::create_dir(&folder).unwrap();
    let journal = folder.join("job.journal.sqlite");
    let copy = rusqlite::Connection::open(&job.journal).unwrap();
    copy.execute("VACUUM INTO ?1", [journal.to_str().unwrap()])
        .unwrap();
    drop(copy);
    let out = job.ws.path("results.csv");
    if !immutable(&[&journal, &folder], true) {
        eprintln!("skipped: no chattr here");
        return;
    }

    let status = Job::finish({
        let mut cmd = job.command(&["status", "--format", "json", "--journal"]);
        cmd.arg(&journal);
        cmd
    });
    let export = Job::finish({
        let mut cmd = job.command(&["export", "--journal"]);
        cmd.arg(&journal).arg("--out").arg(&out);
        cmd
    });
    immutable(&[&journal, &folder], false);

    assert_eq!(status.code, 0, "{}", status.stderr);
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(doc["rows"]["created"], 3);
    assert_eq!(export.code, 0, "{}", export.stderr);
    assert_eq!(read_csv(&out).len(), 3);
}

#[test]
fn the_summary_after_an_error_counts_what_the_journal_holds() {
    let job = Job::new(EmulatorConfig::default());
    let first = job.sheet(&customers("counted", 3));
    assert_eq!(job.run(&first, &[]).code, 0);
    // The next night's sheet cannot be read (its encoding is unsure): the job stops with exit 2,
    // and its summary still says what the journal holds.
    let (head, _, _) =
        encoding_rs::WINDOWS_1250.encode("domain,company_name\nprague1,Pražské sklárny Šťastný\n");
    let (tail, _, _) = encoding_rs::ISO_8859_2.encode("gdansk2,Gdańska Stocznia Źródło Woźniak\n");
    let broken = job
        .ws
        .write("customers.csv", [&head[..], &tail[..]].concat());

    let ran = job.run(&broken, &[]);

    assert_eq!(ran.code, 2, "{}", ran.stderr);
    let summary = ran.summary();
    assert_eq!(summary["created"], 3, "{summary}");
    assert_eq!(summary["created_this_run"], 0);
    assert_eq!(summary["exit_code"], 2);
    assert!(
        summary["error"].as_str().unwrap().contains("encoding"),
        "{summary}"
    );
}

#[test]
fn resume_of_a_rehearsal_meets_the_customers_its_run_created() {
    let ws = Workspace::new();
    let rows = customers("rehearsed", 60);
    let sheet = ws.write("rehearsal.csv", csv_text(&rows));
    let journal = ws.path("csp-onboard-demo/rehearsal.journal.sqlite");
    let rehearsal = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_csp-onboard"));
        cmd.args(args)
            .current_dir(ws.root())
            .env("XDG_CONFIG_HOME", ws.path("xdg"))
            .env_remove("CSP_ONBOARD_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let child = rehearsal(&["run", "rehearsal.csv", "--emulator", "--no-progress"])
        .spawn()
        .unwrap();
    // Stopped once a few customers exist (the journal says so).
    let started = Instant::now();
    loop {
        let created = rusqlite::Connection::open_with_flags(
            &journal,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM rows WHERE state = 'created'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .unwrap_or(0);
        if created >= 5 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no creates");
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt(&child);
    let stopped = Ran::from(child.wait_with_output().unwrap());
    assert_eq!(stopped.code, 4, "{}", stopped.stderr);
    assert!(
        stopped.stderr.contains("--emulator`"),
        "the hint says how to continue the rehearsal: {}",
        stopped.stderr
    );

    let resumed = Ran::from(
        rehearsal(&[
            "resume",
            "--journal",
            journal.to_str().unwrap(),
            "--no-progress",
        ])
        .output()
        .unwrap(),
    );

    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(resumed.summary()["created"], 60);
    // The rehearsal's Partner Center holds every customer once: the run's and the resume's.
    let state = ws.path("csp-onboard-demo/rehearsal.journal.sqlite.emulator.json");
    let customers: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let mut domains: Vec<&str> = customers
        .iter()
        .map(|c| c["domain"].as_str().unwrap())
        .collect();
    domains.sort();
    domains.dedup();
    assert_eq!(domains.len(), 60);
    assert_eq!(customers.len(), 60);
    drop(sheet);
}
