//! What a scheduler and a person see: `--quiet` leaves only warnings and errors, `--log-format
//! json` makes every stderr line a JSON object, colour follows `--color`, `NO_COLOR` and the
//! terminal, a closed pipe ends quietly, and the summary is the last stdout line on every exit.

use std::process::Stdio;

use csp_onboard::emulator::EmulatorConfig;

use crate::support::*;

/// The run command without the debug logging the test harness turns on.
fn plain(job: &Job, sheet: &std::path::Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = job.command(&[]);
    cmd.args(extra)
        .arg("run")
        .arg(sheet)
        .arg("--journal")
        .arg(&job.journal)
        .args(FAST)
        .env_remove("CSP_ONBOARD_LOG");
    cmd
}

#[test]
fn quiet_leaves_only_the_summary() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("quiet", 3));

    let ran = Job::finish(plain(&job, &sheet, &["--quiet"]));

    assert_eq!(ran.code, 0);
    assert_eq!(ran.stderr, "", "nothing on stderr");
    assert_eq!(ran.stdout.lines().count(), 1);
    assert_eq!(ran.summary()["created"], 3);
}

#[test]
fn quiet_still_says_what_went_wrong() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&[Customer::valid("quietbad").with("country", "XX")]);

    let ran = Job::finish(plain(&job, &sheet, &["--quiet"]));

    assert_eq!(ran.code, 1);
    assert_eq!(ran.summary()["invalid"], 1);
    assert_eq!(ran.summary()["exit_code"], 1);
    let missing = Job::finish({
        let mut cmd = job.command(&["--quiet", "status", "--journal", "nope.sqlite"]);
        cmd.env_remove("CSP_ONBOARD_LOG");
        cmd
    });
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr,
        "error: journal `nope.sqlite` does not exist\nhint: start a job with `csp-onboard run SHEET --journal J`\n"
    );
}

#[test]
fn json_logs_are_json_on_every_stderr_line() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&[
        Customer::valid("jsonok"),
        Customer::valid("jsonbad").with("country", "XX"),
    ]);

    let ran = Job::finish(plain(&job, &sheet, &["--log-format", "json"]));

    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert!(lines.len() >= 3, "{}", ran.stderr);
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(value.is_object(), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"message\":\"imported 2 row(s)")),
        "{}",
        ran.stderr
    );
    let missing = Job::finish({
        let mut cmd = job.command(&["--log-format", "json", "status", "--journal", "nope.sqlite"]);
        cmd.env_remove("CSP_ONBOARD_LOG");
        cmd
    });
    let error: serde_json::Value = serde_json::from_str(missing.stderr.trim()).unwrap();
    assert_eq!(error["level"], "error");
    assert_eq!(error["message"], "journal `nope.sqlite` does not exist");
    assert_eq!(
        error["hint"],
        "start a job with `csp-onboard run SHEET --journal J`"
    );
}

#[test]
fn errors_name_each_cause_once() {
    let ws = Workspace::new();
    let not_a_journal = ws.write(
        "notes.journal.sqlite",
        "this is not a database, just text ".repeat(200),
    );

    let out = csp_onboard()
        .args(["status", "--journal"])
        .arg(&not_a_journal)
        .output()
        .unwrap();

    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: journal `{}` cannot be used\n  Caused by: file is not a database\n",
            not_a_journal.display()
        )
    );
}

#[test]
fn colour_follows_the_flag_no_color_and_the_terminal() {
    let missing = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_csp-onboard"));
        cmd.args(args).args(["status", "--journal", "nope.sqlite"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env_remove("NO_COLOR");
        let out = cmd.output().unwrap();
        String::from_utf8(out.stderr).unwrap()
    };
    // Not a terminal: no colour unless asked.
    assert!(!missing(&[], &[]).contains('\x1b'));
    assert!(missing(&["--color", "always"], &[]).contains("\x1b[1;31merror:\x1b[0m"));
    assert!(!missing(&["--color", "always", "--log-format", "json"], &[]).contains('\x1b'));
    // On a terminal (a pty from `script`), colour by default, none with NO_COLOR.
    let on_a_terminal = |no_color: bool| {
        let bin = env!("CARGO_BIN_EXE_csp-onboard");
        let mut cmd = std::process::Command::new("script");
        cmd.args([
            "-qec",
            &format!("{bin} status --journal nope.sqlite"),
            "/dev/null",
        ]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        cmd.output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    if let (Some(coloured), Some(plain)) = (on_a_terminal(false), on_a_terminal(true)) {
        assert!(coloured.contains("\x1b[1;31merror:"), "{coloured:?}");
        assert!(!plain.contains('\x1b'), "{plain:?}");
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("piped", 30));
    assert_eq!(job.run(&sheet, &[]).code, 0);

    let mut child = job
        .command(&["status", "--journal"])
        .arg(&job.journal)
        .env_remove("CSP_ONBOARD_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // `status | head -0`
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn the_summary_is_the_last_line_on_exits_0_and_1_and_counts_this_run() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("summed", 2));
    let first = job.run(&sheet, &[]);
    assert_eq!(first.summary()["exit_code"], 0);
    assert_eq!(first.summary()["created_this_run"], 2);

    let again = job.run(&sheet, &[]);
    let summary = again.summary();
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["created"], 2, "the job's total");
    assert_eq!(summary["created_this_run"], 0, "a no-op night");
    assert_eq!(summary["pending"], 0);

    let grown = job.sheet(&[
        Customer::valid("summed0"),
        Customer::valid("summed1"),
        Customer::valid("summedbad").with("country", "XX"),
    ]);
    let failed = job.run(&grown, &[]);
    assert_eq!(failed.code, 1);
    assert_eq!(failed.summary()["exit_code"], 1);
    assert_eq!(failed.summary()["invalid"], 1);
}
