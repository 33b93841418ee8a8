//! `doctor`: checks, in order, everything a run needs before it sends a row — the configuration,
//! the recipient, the sign-in, the token, the API, the reseller list — and says how to fix each
//! thing that is wrong. A check that needs an earlier one that failed is skipped, and says so.
//!
//! Exit 0 when every check passes; 2 when the configuration or the recipient is the problem; 3
//! when it is the sign-in or the access (CONTRACTS.md). `--format json`: `{"checks": [{"name",
//! "ok", "message"}]}` (plus `fix` and `skipped` where they apply).

use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use clap::Args;
use secrecy::SecretString;
use serde::Serialize;

use super::OutputFormat;
use super::config::{ConfigFile, Source, layered};
use super::connection::{self, ConnectionArgs, Overrides};
use crate::auth::{self, claims};
use crate::error::{Error, ExitCode};
use crate::partner_center::{Lookup, PartnerCenter};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// `text` for people, `json` for programs.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// One check and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// A failure here is the configuration's (exit 2) rather than the sign-in's (exit 3).
    #[serde(skip)]
    configuration: bool,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn pass(&mut self, name: &'static str, message: String) {
        self.0.push(Check {
            name,
            ok: true,
            message,
            fix: None,
            skipped: false,
            configuration: false,
        });
    }

    fn fail(&mut self, name: &'static str, message: String, fix: Option<String>) {
        let configuration = matches!(name, "configuration" | "recipient");
        self.0.push(Check {
            name,
            ok: false,
            message,
            fix,
            skipped: false,
            configuration,
        });
    }

    fn skip(&mut self, names: &[&'static str], because: &str) {
        for name in names {
            self.0.push(Check {
                name,
                ok: false,
                message: format!("not checked: {because}"),
                fix: None,
                skipped: true,
                configuration: false,
            });
        }
    }

    fn exit_code(&self) -> ExitCode {
        match self.0.iter().find(|c| !c.ok && !c.skipped) {
            None => ExitCode::Success,
            Some(check) if check.configuration => ExitCode::Usage,
            Some(_) => ExitCode::Auth,
        }
    }
}

const AFTER_SIGN_IN: [&str; 5] = ["refresh", "token", "api", "resellers", "token age"];

pub fn doctor(args: DoctorArgs) -> Result<ExitCode, Error> {
    let checks = runtime()?.block_on(run_checks(&args));
    let code = checks.exit_code();
    let mut stdout = std::io::stdout().lock();
    let written = match args.format {
        OutputFormat::Json => writeln!(stdout, "{}", serde_json::json!({ "checks": checks.0 })),
        OutputFormat::Text => write_text(&mut stdout, &checks.0),
    };
    written.map_err(|source| Error::Write {
        path: "<stdout>".into(),
        source,
    })?;
    Ok(code)
}

fn write_text(out: &mut impl Write, checks: &[Check]) -> std::io::Result<()> {
    for check in checks {
        let label = if check.skipped {
            "skip"
        } else if check.ok {
            "ok"
        } else {
            "FAIL"
        };
        writeln!(out, "{label:<5} {}: {}", check.name, check.message)?;
        if let Some(fix) = &check.fix {
            writeln!(out, "      fix: {fix}")?;
        }
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::setup("the async runtime", e))
}

async fn run_checks(args: &DoctorArgs) -> Checks {
    let mut checks = Checks::default();
    let everything_else = [&["recipient", "sign-in"][..], &AFTER_SIGN_IN[..]].concat();

    // 1. The configuration: readable, and complete — every problem at once.
    let file = match ConfigFile::discover(
        args.connection.config.as_deref(),
        args.connection.profile.as_deref(),
    ) {
        Ok(file) => file,
        Err(error) => {
            checks.fail("configuration", error.to_string(), error.hint());
            checks.skip(&everything_else, "the configuration cannot be read");
            return checks;
        }
    };
    let resolution = match connection::resolve(&args.connection, &Overrides::default(), &file) {
        Ok(resolution) => resolution,
        Err(problems) => {
            let fix = problems.iter().find_map(|p| p.hint.clone());
            let message = problems
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join("; ");
            checks.fail("configuration", message, fix);
            checks.skip(&everything_else, "the configuration is incomplete");
            return checks;
        }
    };
    let connection = &resolution.connection;
    let from = |name: &str| {
        resolution
            .sources
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Source::Default, |(_, s)| s.clone())
    };
    checks.pass(
        "configuration",
        format!(
            "profile `{}`, {} cloud; partner tenant `{}` (from {}), app `{}` (from {}), API `{}`",
            connection.profile,
            connection.cloud.name(),
            connection.tenant_id,
            from("tenant_id"),
            connection.client_id,
            from("client_id"),
            connection.api_url
        ),
    );

    // 2. The recipient the passwords are sealed to.
    match layered(None, "CSP_ONBOARD_RECIPIENT", &file, "recipient", |s| {
        &s.recipient
    }) {
        None => checks.fail(
            "recipient",
            "no recipient to seal the admin passwords to".into(),
            Some(
                "set `CSP_ONBOARD_RECIPIENT` to the `age1...` public key of `csp-onboard keygen`"
                    .into(),
            ),
        ),
        Some(found) => match crate::credentials::Sealer::new(&found.value) {
            Ok(_) => checks.pass(
                "recipient",
                format!("an age recipient (from {})", found.from),
            ),
            Err(error) => checks.fail(
                "recipient",
                format!("{error} (from {})", found.from),
                Some("use the `age1...` line `csp-onboard keygen` printed".into()),
            ),
        },
    }

    // 3. A sign-in to use.
    let cache = connection.token_cache();
    let kept = match cache.sign_in() {
        Ok(kept) => kept,
        Err(error) => {
            checks.fail("sign-in", error.to_string(), error.hint());
            checks.skip(&AFTER_SIGN_IN, "no usable sign-in");
            return checks;
        }
    };
    let (refresh_token, last_used, signed_in): (SecretString, _, _) =
        match (&kept, &connection.refresh_token) {
            (Some(kept), _) => {
                checks.pass(
                    "sign-in",
                    format!(
                        "kept for profile `{}` in `{}`{}",
                        connection.profile,
                        cache.path().display(),
                        if cache.sealed() { " (sealed)" } else { "" }
                    ),
                );
                (kept.refresh_token.clone(), kept.last_used, kept.signed_in)
            }
            (None, Some(configured)) => {
                checks.pass(
                    "sign-in",
                    format!("a refresh token from {}", from("refresh_token")),
                );
                (configured.clone(), None, None)
            }
            (None, None) => {
                checks.fail(
                    "sign-in",
                    format!("not signed in (profile `{}`)", connection.profile),
                    Some("run `csp-onboard login`".into()),
                );
                checks.skip(&AFTER_SIGN_IN, "no sign-in");
                return checks;
            }
        };

    // 4. The refresh works (and the rotated token is kept, as every run does).
    let http = match crate::job::http_client(Duration::from_secs(60), 1) {
        Ok(http) => http,
        Err(error) => {
            checks.fail("refresh", error.to_string(), None);
            checks.skip(&AFTER_SIGN_IN[1..], "no HTTP client");
            return checks;
        }
    };
    let settings = connection.auth_settings();
    let token = match auth::redeem(&http, &settings, &refresh_token).await {
        Ok(token) => {
            if let Some(rotated) = &token.refresh_token
                && let Err(error) = settings.cache.store(rotated, false)
            {
                checks.fail("refresh", error.to_string(), error.hint());
                checks.skip(&AFTER_SIGN_IN[1..], "the rotated sign-in cannot be kept");
                return checks;
            }
            checks.pass(
                "refresh",
                format!(
                    "the authority `{}` gave a fresh token",
                    connection.authority_url
                ),
            );
            token
        }
        Err(auth::AuthError::AppOnly) => {
            checks.pass("refresh", "the authority answered".into());
            checks.fail(
                "token",
                auth::AuthError::AppOnly.to_string(),
                auth::AuthError::AppOnly.hint(),
            );
            checks.skip(&AFTER_SIGN_IN[2..], "the token cannot be used");
            return checks;
        }
        Err(error) => {
            checks.fail("refresh", error.to_string(), error.hint());
            checks.skip(&AFTER_SIGN_IN[1..], "no token");
            return checks;
        }
    };

    // 5. App+User, with multi-factor authentication.
    let access = token.access_token;
    match claims::read(&access) {
        Some(claims) if !claims.mfa => {
            checks.fail(
                "token",
                "App+User, but the sign-in did not use multi-factor authentication, which Partner Center requires".into(),
                Some("sign in again with MFA: `csp-onboard login`".into()),
            );
        }
        Some(claims) => checks.pass(
            "token",
            format!(
                "App+User with multi-factor authentication{}",
                claims
                    .user
                    .map_or_else(String::new, |user| format!(", signed in as {user}"))
            ),
        ),
        None => checks.pass(
            "token",
            "App+User (an opaque token: not read further)".into(),
        ),
    }

    // 6. The API answers; 7. the reseller list is readable.
    let pc = match PartnerCenter::new(
        http,
        &connection.api_url,
        uuid::Uuid::new_v4().to_string(),
        &connection.locale,
    ) {
        Ok(pc) => pc,
        Err(message) => {
            checks.fail("api", message, None);
            checks.skip(&AFTER_SIGN_IN[3..], "no API");
            return checks;
        }
    };
    let request_id = || uuid::Uuid::new_v4().to_string();
    match pc.ping(&request_id(), &access).await {
        Lookup::Found(()) => checks.pass("api", format!("`{}` answers", connection.api_url)),
        other => {
            checks.fail(
                "api",
                format!("`{}`: {}", connection.api_url, lookup_failure(&other)),
                Some("check `CSP_ONBOARD_API_URL`, the network, and the account's Partner Center roles".into()),
            );
        }
    }
    match pc.indirect_resellers(&request_id(), &access).await {
        Lookup::Found(resellers) if resellers.is_empty() => checks.fail(
            "resellers",
            "no indirect resellers: the account is not an indirect provider, or has no reseller yet".into(),
            Some("sign in with an account of the indirect provider (distributor) tenant".into()),
        ),
        Lookup::Found(resellers) => {
            let (active, inactive): (Vec<_>, Vec<_>) =
                resellers.iter().partition(|r| r.is_active());
            let names = |list: &[&crate::model::Reseller]| {
                list.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut message = format!("{} active indirect reseller(s): {}", active.len(), names(&active));
            if !inactive.is_empty() {
                message.push_str(&format!("; inactive: {}", names(&inactive)));
            }
            checks.pass("resellers", message);
        }
        other => checks.fail(
            "resellers",
            format!("the indirect-reseller list: {}", lookup_failure(&other)),
            Some("the account must be an indirect provider's, signed in App+User".into()),
        ),
    }

    // 8. How old the sign-in is.
    let now = Utc::now();
    let days = |at: chrono::DateTime<Utc>| (now - at).num_days();
    let age = match (signed_in, last_used) {
        (Some(signed_in), Some(last_used)) => format!(
            "signed in {} day(s) ago; last used {} day(s) before this check; a refresh token lives 90 days from its last use",
            days(signed_in),
            days(last_used)
        ),
        (None, Some(last_used)) => format!(
            "last used {} day(s) before this check; a refresh token lives 90 days from its last use",
            days(last_used)
        ),
        _ => "unknown (it came from the configuration); a refresh token lives 90 days from its last use".into(),
    };
    match last_used.map(days) {
        Some(unused) if unused > 60 => checks.fail(
            "token age",
            age,
            Some("run at least monthly, or sign in again with `csp-onboard login` before 90 days pass".into()),
        ),
        _ => checks.pass("token age", age),
    }
    checks
}

fn lookup_failure<T>(lookup: &Lookup<T>) -> String {
    lookup.describe()
}
