//! `doctor`: each check's verdict as a person reads it (exact text), the JSON document, and the
//! exit code: 0 all well, 2 the configuration, 3 the sign-in or the access.

use csp_onboard::emulator::{EmulatorConfig, Reseller, TokenSettings};

use crate::support::*;

/// `doctor` for this job, with no refresh token in the environment; the text and the exit code.
fn doctor(job: &Job, env: &[(&str, &str)], remove: &[&str]) -> Ran {
    let mut cmd = job.command(&["doctor"]);
    cmd.env_remove("CSP_ONBOARD_REFRESH_TOKEN");
    for (name, value) in env {
        cmd.env(name, value);
    }
    for name in remove {
        cmd.env_remove(name);
    }
    Job::finish(cmd)
}

fn login(job: &Job) {
    let mut cmd = job.command(&["login"]);
    cmd.env_remove("CSP_ONBOARD_REFRESH_TOKEN");
    let ran = Job::finish(cmd);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

/// The text with what changes from run to run (ports, temp folders) put in words.
fn filtered(job: &Job, text: &str) -> String {
    text.replace(job.emulator.url(), "[emulator]")
        .replace(&job.ws.root().display().to_string(), "[workspace]")
}

#[test]
fn all_is_well_after_login() {
    let job = Job::new(EmulatorConfig::default());
    login(&job);

    let ran = doctor(&job, &[], &[]);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        filtered(&job, &ran.stdout),
        "ok    configuration: profile `default`, global cloud; partner tenant `3f7c6c1d-8d4e-4b5a-9f10-aa11bb22cc33` (from `CSP_ONBOARD_TENANT_ID`), app `csp-onboard-tests` (from `CSP_ONBOARD_CLIENT_ID`), API `[emulator]`
ok    recipient: an age recipient (from `CSP_ONBOARD_RECIPIENT`)
ok    sign-in: kept for profile `default` in `[workspace]/tokens.json`
ok    refresh: the authority `[emulator]` gave a fresh token
ok    token: App+User with multi-factor authentication, signed in as admin@partner.onmicrosoft.com
ok    api: `[emulator]` answers
ok    resellers: 3 active indirect reseller(s): Adatum Resellers, Litware Partners, Proseware IT; inactive: Wide World Resale
ok    token age: signed in 0 day(s) ago; last used 0 day(s) before this check; a refresh token lives 90 days from its last use
"
    );
}

#[test]
fn an_incomplete_configuration_is_every_problem_at_once_with_exit_2() {
    let job = Job::new(EmulatorConfig::default());

    let ran = doctor(
        &job,
        &[("CSP_ONBOARD_API_URL", "http://partner.example")],
        &["CSP_ONBOARD_TENANT_ID", "CSP_ONBOARD_CLIENT_ID"],
    );

    assert_eq!(ran.code, 2);
    assert_eq!(
        ran.stdout,
        "FAIL  configuration: `http://partner.example` (`CSP_ONBOARD_API_URL`) is not an https:// URL; no partner tenant id: set `CSP_ONBOARD_TENANT_ID`, or `tenant_id` in csp-onboard.toml; no client (application) id: set `CSP_ONBOARD_CLIENT_ID`, or `client_id` in csp-onboard.toml
      fix: only https:// is accepted, except loopback addresses (the emulator)
skip  recipient: not checked: the configuration is incomplete
skip  sign-in: not checked: the configuration is incomplete
skip  refresh: not checked: the configuration is incomplete
skip  token: not checked: the configuration is incomplete
skip  api: not checked: the configuration is incomplete
skip  resellers: not checked: the configuration is incomplete
skip  token age: not checked: the configuration is incomplete
"
    );
}

#[test]
fn a_bad_recipient_and_no_sign_in() {
    let job = Job::new(EmulatorConfig::default());

    let ran = doctor(&job, &[("CSP_ONBOARD_RECIPIENT", "age1nope")], &[]);

    assert_eq!(ran.code, 2, "the recipient is configuration");
    let text = filtered(&job, &ran.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1..5],
        [
            "FAIL  recipient: `age1nope` is not an age X25519 recipient (`age1...`) (from `CSP_ONBOARD_RECIPIENT`)",
            "      fix: use the `age1...` line `csp-onboard keygen` printed",
            "FAIL  sign-in: not signed in (profile `default`)",
            "      fix: run `csp-onboard login`",
        ]
    );
}

#[test]
fn a_refused_sign_in_exits_3() {
    let job = Job::new(EmulatorConfig::default());

    let ran = doctor(&job, &[("CSP_ONBOARD_REFRESH_TOKEN", "not-a-token")], &[]);

    assert_eq!(ran.code, 3);
    let text = filtered(&job, &ran.stdout);
    assert!(
        text.contains("ok    sign-in: a refresh token from `CSP_ONBOARD_REFRESH_TOKEN`\nFAIL  refresh: the sign-in has expired or was revoked: invalid_grant: AADSTS700082: The refresh token has expired due to inactivity or is not valid. Sign in again\n      fix: run `csp-onboard login` to sign in again\nskip  token: not checked: no token\n"),
        "{text}"
    );
    assert!(!text.contains("not-a-token"));
}

#[test]
fn an_app_only_token_and_a_single_factor_sign_in_are_named() {
    for (tokens, line) in [
        (
            TokenSettings {
                app_only_tokens: true,
                ..TokenSettings::default()
            },
            "FAIL  token: the sign-in gave an app-only token; the reseller flow needs App+User (a person signed in)\n      fix: the app registration must have the delegated permission `user_impersonation` on Partner Center; then `csp-onboard login`\n",
        ),
        (
            TokenSettings {
                without_mfa: true,
                ..TokenSettings::default()
            },
            "FAIL  token: App+User, but the sign-in did not use multi-factor authentication, which Partner Center requires\n      fix: sign in again with MFA: `csp-onboard login`\n",
        ),
    ] {
        let job = Job::new(EmulatorConfig {
            tokens,
            ..EmulatorConfig::default()
        });
        let ran = doctor(
            &job,
            &[("CSP_ONBOARD_REFRESH_TOKEN", &job.emulator.refresh_token())],
            &[],
        );
        assert_eq!(ran.code, 3);
        assert!(ran.stdout.contains(line), "{}", ran.stdout);
    }
}

#[test]
fn no_indirect_resellers_means_not_an_indirect_provider() {
    let job = Job::new(EmulatorConfig {
        resellers: Some(Vec::<Reseller>::new()),
        ..EmulatorConfig::default()
    });
    login(&job);

    let ran = doctor(&job, &[], &[]);

    assert_eq!(ran.code, 3);
    assert!(
        ran.stdout.contains("FAIL  resellers: no indirect resellers: the account is not an indirect provider, or has no reseller yet\n      fix: sign in with an account of the indirect provider (distributor) tenant\n"),
        "{}",
        ran.stdout
    );
}

#[test]
fn an_unreachable_api_is_named() {
    let job = Job::new(EmulatorConfig::default());
    login(&job);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);

    let ran = doctor(&job, &[("CSP_ONBOARD_API_URL", &dead_url)], &[]);

    assert_eq!(ran.code, 3);
    assert!(
        ran.stdout
            .contains(&format!("FAIL  api: `{dead_url}`: could not connect")),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_sign_in_unused_for_two_months_is_flagged() {
    let job = Job::new(EmulatorConfig::default());
    login(&job);
    let path = job.ws.path("tokens.json");
    let mut cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(75)).to_rfc3339();
    for entry in cache["sign_ins"].as_object_mut().unwrap().values_mut() {
        entry["signed_in"] = long_ago.clone().into();
        entry["last_used"] = long_ago.clone().into();
    }
    job.ws.write_private("tokens.json", cache.to_string());

    let ran = doctor(&job, &[], &[]);

    assert_eq!(ran.code, 3);
    assert!(
        ran.stdout.contains("FAIL  token age: signed in 75 day(s) ago; last used 75 day(s) before this check; a refresh token lives 90 days from its last use\n      fix: run at least monthly, or sign in again with `csp-onboard login` before 90 days pass\n"),
        "{}",
        ran.stdout
    );
}

#[test]
fn json_has_one_entry_per_check() {
    let job = Job::new(EmulatorConfig::default());
    login(&job);
    let mut cmd = job.command(&["doctor", "--format", "json"]);
    cmd.env_remove("CSP_ONBOARD_REFRESH_TOKEN");

    let ran = Job::finish(cmd);

    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let names: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["ok"], true, "{c}");
            assert!(c["message"].is_string());
            c["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "configuration",
            "recipient",
            "sign-in",
            "refresh",
            "token",
            "api",
            "resellers",
            "token age"
        ]
    );
}

#[test]
fn a_cloud_sets_where_the_api_and_the_sign_in_are() {
    let job = Job::new(EmulatorConfig::default());
    let mut cmd = job.command(&["doctor", "--cloud", "china"]);
    cmd.env_remove("CSP_ONBOARD_REFRESH_TOKEN")
        .env_remove("CSP_ONBOARD_API_URL")
        .env_remove("CSP_ONBOARD_AUTHORITY_URL");

    let ran = Job::finish(cmd);

    assert_eq!(ran.code, 3, "no sign-in for it");
    let first = ran.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        "ok    configuration: profile `default`, china cloud; partner tenant `3f7c6c1d-8d4e-4b5a-9f10-aa11bb22cc33` (from `CSP_ONBOARD_TENANT_ID`), app `csp-onboard-tests` (from `CSP_ONBOARD_CLIENT_ID`), API `https://partner.partnercenterapi.microsoftonline.cn`"
    );
}
