//! Signing in once and running every night: `login` (the device-code flow, polled politely) keeps
//! the sign-in per profile; every run uses and rotates it with no refresh token in the
//! environment; `logout` forgets it; app-only sign-ins are refused before a row is sent.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use csp_onboard::emulator::{EmulatorConfig, TokenSettings};

use crate::support::*;

/// An emulator whose device codes wait for the test to approve or deny them.
fn manual_approval(tokens: TokenSettings) -> EmulatorConfig {
    EmulatorConfig {
        tokens: TokenSettings {
            auto_approve_device_code: false,
            ..tokens
        },
        ..EmulatorConfig::default()
    }
}

/// The binary for this job with no refresh token in the environment: only a sign-in helps.
fn signed_out(job: &Job, args: &[&str]) -> std::process::Command {
    let mut cmd = job.command(args);
    cmd.env_remove("CSP_ONBOARD_REFRESH_TOKEN");
    cmd
}

/// A `login` under way: the process, the rest of its stderr (read as it comes), what it said
/// before it asked for the code.
struct Login {
    child: Child,
    rest: std::thread::JoinHandle<String>,
    said: String,
}

/// Starts `login`; returns it and the code it asks the person to enter.
// The child is handed on in `Login`, and `finish_login` waits for it.
#[allow(clippy::zombie_processes)]
fn start_login(job: &Job, extra: &[&str]) -> (Login, String, String) {
    let mut cmd = signed_out(job, &["login"]);
    cmd.args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "login said: {seen}"
        );
        seen.push_str(&line);
        if let Some(code) = line
            .trim()
            .strip_prefix("To sign in, open https://microsoft.com/devicelogin and enter the code ")
        {
            let code = code.to_string();
            let rest = std::thread::spawn(move || {
                let mut rest = String::new();
                let _ = stderr.read_to_string(&mut rest);
                rest
            });
            let login = Login {
                child,
                rest,
                said: seen.clone(),
            };
            return (login, code, seen);
        }
    }
}

fn finish_login(login: Login) -> Ran {
    let mut ran = Ran::from(login.child.wait_with_output().unwrap());
    ran.stderr = login.said + &login.rest.join().unwrap();
    ran
}

#[test]
fn login_keeps_a_sign_in_that_every_run_then_uses_and_rotates() {
    let job = Job::new(manual_approval(TokenSettings::default()));
    let (child, code, said) = start_login(&job, &[]);
    assert!(said.contains("To sign in, open https://microsoft.com/devicelogin and enter the code"));
    // The person has not signed in yet: the login keeps polling (authorization_pending).
    std::thread::sleep(Duration::from_millis(1500));
    assert!(job.emulator.approve_device_code(&code));
    let login = finish_login(child);
    assert_eq!(login.code, 0, "{}", login.stderr);

    let cache = std::fs::read_to_string(job.ws.path("tokens.json")).unwrap();
    let kept: serde_json::Value = serde_json::from_str(&cache).unwrap();
    let refresh_token = kept["sign_ins"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !login.stderr.contains(&refresh_token) && !login.stdout.contains(&refresh_token),
        "the refresh token is never printed"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(job.ws.path("tokens.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(cache.contains("\"default|"), "{cache}");

    // Two runs, no refresh token in the environment: the first rotates the sign-in, the second
    // runs on the rotated one.
    for night in ["night1", "night2"] {
        let sheet = job
            .ws
            .write(&format!("{night}.csv"), csv_text(&customers(night, 2)));
        let mut cmd = signed_out(&job, &["run"]);
        cmd.arg(&sheet)
            .arg("--journal")
            .arg(job.ws.path(&format!("{night}.journal.sqlite")))
            .args(FAST);
        let ran = Job::finish(cmd);
        assert_eq!(ran.code, 0, "{night}: {}", ran.stderr);
        assert!(
            !ran.stderr.contains(&refresh_token),
            "{night}: no token in the logs"
        );
        let now = std::fs::read_to_string(job.ws.path("tokens.json")).unwrap();
        assert_ne!(
            now, cache,
            "{night}: the refresh token rotated and was kept"
        );
    }
}

#[test]
fn login_waits_politely_through_slow_down() {
    let job = Job::new(manual_approval(TokenSettings {
        device_code_slow_down_polls: 1,
        ..TokenSettings::default()
    }));
    let started = Instant::now();
    let (child, code, _) = start_login(&job, &[]);
    assert!(job.emulator.approve_device_code(&code));
    let login = finish_login(child);
    assert_eq!(login.code, 0, "{}", login.stderr);
    // One poll after 1 s (told to slow down), the next 1 + 5 s later (RFC 8628).
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(6),
        "polled again after {took:?}"
    );
    let polls = job
        .emulator
        .log()
        .iter()
        .filter(|e| e.path.ends_with("/oauth2/v2.0/token"))
        .count();
    assert_eq!(polls, 2);
}

#[test]
fn a_declined_or_expired_sign_in_exits_3_and_keeps_nothing() {
    let job = Job::new(manual_approval(TokenSettings::default()));
    let (child, code, _) = start_login(&job, &[]);
    assert!(job.emulator.deny_device_code(&code));
    let declined = finish_login(child);
    assert_eq!(declined.code, 3, "{}", declined.stderr);
    assert!(
        declined
            .stderr
            .contains("error: the sign-in was declined\nhint: run `csp-onboard login` again"),
        "{}",
        declined.stderr
    );

    let job = Job::new(manual_approval(TokenSettings {
        device_code_lifetime_s: 2,
        ..TokenSettings::default()
    }));
    let (child, _, _) = start_login(&job, &[]);
    let expired = finish_login(child);
    assert_eq!(expired.code, 3, "{}", expired.stderr);
    assert!(
        expired
            .stderr
            .contains("error: the code was not entered in time"),
        "{}",
        expired.stderr
    );
    assert!(!job.ws.path("tokens.json").exists());
}

#[test]
fn logout_then_run_exits_3_naming_login() {
    let job = Job::new(EmulatorConfig::default()); // approves device codes at once
    let login = Job::finish(signed_out(&job, &["login"]));
    assert_eq!(login.code, 0, "{}", login.stderr);
    let logout = Job::finish(signed_out(&job, &["logout"]));
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(
        logout
            .stderr
            .contains("forgot the sign-in of profile `default`"),
        "{}",
        logout.stderr
    );

    let sheet = job.sheet(&customers("loggedout", 2));
    let mut cmd = signed_out(&job, &["run"]);
    cmd.arg(&sheet)
        .arg("--journal")
        .arg(&job.journal)
        .args(FAST);
    let ran = Job::finish(cmd);

    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("not signed in to Partner Center (profile `default`)"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("csp-onboard login"), "{}", ran.stderr);
    assert_eq!(job.create_requests(), 0);
    assert_eq!(ran.summary()["exit_code"], 3);
}

#[test]
fn an_app_only_sign_in_is_refused_before_any_row_is_sent() {
    let job = Job::new(EmulatorConfig {
        tokens: TokenSettings {
            app_only_tokens: true,
            ..TokenSettings::default()
        },
        ..EmulatorConfig::default()
    });
    let sheet = job.sheet(&customers("apponly", 3));

    let ran = job.run(&sheet, &[]);

    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("the sign-in gave an app-only token; the reseller flow needs App+User"),
        "{}",
        ran.stderr
    );
    assert_eq!(job.create_requests(), 0);
    assert_eq!(job.status()["rows"]["pending"], 3);
}

#[test]
fn login_refuses_an_app_only_or_single_factor_sign_in() {
    for (tokens, said) in [
        (
            TokenSettings {
                app_only_tokens: true,
                ..TokenSettings::default()
            },
            "the sign-in gave an app-only token",
        ),
        (
            TokenSettings {
                without_mfa: true,
                ..TokenSettings::default()
            },
            "the sign-in did not use multi-factor authentication",
        ),
    ] {
        let job = Job::new(EmulatorConfig {
            tokens,
            ..EmulatorConfig::default()
        });
        let login = Job::finish(signed_out(&job, &["login"]));
        assert_eq!(login.code, 3, "{}", login.stderr);
        assert!(login.stderr.contains(said), "{}", login.stderr);
        assert!(!job.ws.path("tokens.json").exists(), "nothing kept");
    }
}

#[test]
fn profiles_keep_their_own_sign_in_and_tenant() {
    let job = Job::new(EmulatorConfig::default());
    let toml = format!(
        "client_id = \"csp-onboard-tests\"\n\
         [profiles.nl]\ntenant_id = \"{tenant}\"\n\
         [profiles.se]\ntenant_id = \"55555555-5555-4555-8555-555555555555\"\n",
        tenant = job.emulator.tenant()
    );
    job.ws.write_private("csp-onboard.toml", toml);
    let mut login = signed_out(&job, &["login", "--profile", "nl"]);
    login
        .env_remove("CSP_ONBOARD_TENANT_ID")
        .env_remove("CSP_ONBOARD_CLIENT_ID");
    let login = Job::finish(login);
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(login.stderr.contains("(profile `nl`)"), "{}", login.stderr);

    let sheet = job.sheet(&customers("profiled", 2));
    let run = |profile: &str| {
        let mut cmd = signed_out(&job, &["run"]);
        cmd.arg(&sheet)
            .arg("--journal")
            .arg(job.ws.path(&format!("{profile}.journal.sqlite")))
            .args(FAST)
            .env("CSP_ONBOARD_PROFILE", profile)
            .env_remove("CSP_ONBOARD_TENANT_ID")
            .env_remove("CSP_ONBOARD_CLIENT_ID");
        Job::finish(cmd)
    };
    let nl = run("nl");
    assert_eq!(nl.code, 0, "{}", nl.stderr);
    // The other profile has no sign-in of its own.
    let se = run("se");
    assert_eq!(se.code, 3, "{}", se.stderr);
    assert!(
        se.stderr
            .contains("not signed in to Partner Center (profile `se`)"),
        "{}",
        se.stderr
    );
}

#[test]
fn a_sealed_token_cache_needs_its_key() {
    let job = Job::new(EmulatorConfig::default());
    let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let mut login = signed_out(&job, &["login"]);
    login.env("CSP_ONBOARD_TOKEN_KEY", key);
    assert_eq!(Job::finish(login).code, 0);
    let cache = std::fs::read_to_string(job.ws.path("tokens.json")).unwrap();
    assert!(
        cache.contains("\"sealed\"") && !cache.contains("refresh_token"),
        "{cache}"
    );

    let sheet = job.sheet(&customers("sealed", 1));
    let mut run = signed_out(&job, &["run"]);
    run.arg(&sheet)
        .arg("--journal")
        .arg(&job.journal)
        .args(FAST);
    let keyless = Job::finish(run);
    assert_eq!(keyless.code, 2, "{}", keyless.stderr);
    assert!(
        keyless
            .stderr
            .contains("is sealed, and no key to open it was given"),
        "{}",
        keyless.stderr
    );

    let mut run = signed_out(&job, &["run"]);
    run.arg(&sheet)
        .arg("--journal")
        .arg(&job.journal)
        .args(FAST)
        .env("CSP_ONBOARD_TOKEN_KEY", key);
    let keyed = Job::finish(run);
    assert_eq!(keyed.code, 0, "{}", keyed.stderr);
}

#[test]
fn a_journal_refuses_a_run_configured_for_another_tenant() {
    let job = Job::new(EmulatorConfig::default());
    let sheet = job.sheet(&customers("tenanted", 1));
    assert_eq!(job.run(&sheet, &[]).code, 0);

    let mut other = job.run_command(&sheet, &[]);
    other.env(
        "CSP_ONBOARD_TENANT_ID",
        "55555555-5555-4555-8555-555555555555",
    );
    let ran = Job::finish(other);

    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("belongs to partner tenant `3f7c6c1d-8d4e-4b5a-9f10-aa11bb22cc33` (profile `default`), but this run is configured for `55555555-5555-4555-8555-555555555555`"),
        "{}",
        ran.stderr
    );
}
