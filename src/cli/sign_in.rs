//! `login` and `logout`: putting a sign-in into the token cache, and taking it out.
//!
//! `login` is the device-code flow: it prints where to go and the code to enter, polls until the
//! person has signed in, checks that the token is App+User with multi-factor authentication (what
//! Partner Center's reseller flow demands), and keeps the refresh token in the cache, per profile.
//! It reads nothing from the terminal. Every later command that calls Partner Center uses and
//! rotates that sign-in; it lives 90 days from its last use.

use std::time::Duration;

use clap::Args;

use super::config::ConfigFile;
use super::connection::{self, ConnectionArgs, Overrides, problems_error};
use crate::auth::{AuthError, check_app_user, claims, device};
use crate::error::{Error, ExitCode};
use crate::printer;

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// The partner tenant to sign in to (else `CSP_ONBOARD_TENANT_ID` or the configuration).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,

    /// The app registration (else `CSP_ONBOARD_CLIENT_ID` or the configuration).
    #[arg(long, value_name = "CLIENT_ID")]
    pub client_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::setup("the async runtime", e))
}

pub fn login(args: LoginArgs) -> Result<ExitCode, Error> {
    let file = ConfigFile::discover(
        args.connection.config.as_deref(),
        args.connection.profile.as_deref(),
    )?;
    let overrides = Overrides {
        tenant: args.tenant.clone(),
        client_id: args.client_id.clone(),
    };
    let connection = connection::resolve(&args.connection, &overrides, &file)
        .map_err(problems_error)?
        .connection;
    let settings = connection.auth_settings();
    let http = crate::job::http_client(Duration::from_secs(60), 1)?;
    runtime()?.block_on(async {
        let code = device::begin(&http, &settings).await?;
        printer::say(&format!(
            "To sign in, open {} and enter the code {}",
            code.verification_uri, code.user_code
        ));
        printer::say(&format!(
            "Sign in as a user of partner tenant `{}` with multi-factor authentication; waiting…",
            connection.tenant_id
        ));
        let tokens = device::wait(&http, &settings, &code).await?;
        check_app_user(&tokens.access_token)?;
        let claims = claims::read(&tokens.access_token);
        if claims.as_ref().is_some_and(|c| !c.mfa) {
            return Err(AuthError::LoginFailed(
                "the sign-in did not use multi-factor authentication, which Partner Center requires for App+User calls".into(),
            ));
        }
        let Some(refresh_token) = tokens.refresh_token else {
            return Err(AuthError::LoginFailed(
                "no refresh token came with the sign-in (the scope asks for `offline_access`)"
                    .into(),
            ));
        };
        settings.cache.store(&refresh_token, true)?;
        let who = claims
            .and_then(|c| c.user)
            .map_or_else(String::new, |user| format!(" as {user}"));
        printer::note(&format!(
            "signed in{who} to partner tenant `{}` (profile `{}`); kept in `{}`{}",
            connection.tenant_id,
            connection.profile,
            settings.cache.path().display(),
            if settings.cache.sealed() {
                ", sealed"
            } else {
                ""
            }
        ));
        Ok(ExitCode::Success)
    })
    .map_err(Error::from)
}

pub fn logout(args: LogoutArgs) -> Result<ExitCode, Error> {
    let file = ConfigFile::discover(
        args.connection.config.as_deref(),
        args.connection.profile.as_deref(),
    )?;
    let connection = connection::resolve(&args.connection, &Overrides::default(), &file)
        .map_err(problems_error)?
        .connection;
    let cache = connection.token_cache();
    if cache.forget()? {
        printer::note(&format!(
            "forgot the sign-in of profile `{}` (partner tenant `{}`)",
            connection.profile, connection.tenant_id
        ));
    } else {
        printer::note(&format!(
            "no sign-in of profile `{}` was kept: nothing to forget",
            connection.profile
        ));
    }
    if connection.refresh_token.is_some() {
        printer::warning(
            "a refresh token is still configured (`CSP_ONBOARD_REFRESH_TOKEN` or `refresh_token`); runs will use it",
        );
    }
    Ok(ExitCode::Success)
}
