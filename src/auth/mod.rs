//! App+User tokens for Partner Center: the refresh-token grant, an access token cached in memory
//! and refreshed before it expires (never per request), the token cache that keeps the rotated
//! refresh token an unattended run needs ([`cache`]), and the device-code sign-in that puts one
//! there ([`device`]).
//!
//! Every refresh returns a new refresh token; it is written to the cache at once (mode 0600, one
//! entry per profile, authority, tenant and client — never the journal). The cache wins over
//! `CSP_ONBOARD_REFRESH_TOKEN` once it holds a token; if the cached one is refused and the
//! environment holds a different one, that one is tried (CONTRACTS.md).
//!
//! An access token that says it is app-only ([`claims`]) is refused at once: the reseller flow
//! takes App+User only, and finding out from Partner Center's 403 would cost a request per row.
//!
//! Tokens are `SecretString`s: they cannot reach a log line or an error message by accident.

pub mod cache;
pub mod claims;
pub mod device;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

pub use cache::TokenCache;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("not signed in to Partner Center (profile `{profile}`)")]
    NotSignedIn { profile: String },
    #[error("the sign-in has expired or was revoked: {0}")]
    Refused(String),
    #[error(
        "the sign-in gave an app-only token; the reseller flow needs App+User (a person signed in)"
    )]
    AppOnly,
    #[error("cannot reach the token endpoint `{url}`: {message}")]
    Unreachable { url: String, message: String },
    #[error("the token cache `{}` cannot be used: {message}", path.display())]
    Cache { path: PathBuf, message: String },
    #[error("the token cache `{}` is sealed, and no key to open it was given", path.display())]
    CacheSealed { path: PathBuf },
    #[error("the token cache `{}` does not open with the key given", path.display())]
    CacheKeyWrong { path: PathBuf },
    #[error("the sign-in was declined")]
    LoginDeclined,
    #[error("the code was not entered in time")]
    LoginExpired,
    #[error("the sign-in failed: {0}")]
    LoginFailed(String),
}

impl AuthError {
    pub fn hint(&self) -> Option<String> {
        match self {
            AuthError::NotSignedIn { .. } => Some(
                "run `csp-onboard login` (or set `CSP_ONBOARD_REFRESH_TOKEN`)".into(),
            ),
            AuthError::Refused(_) => Some("run `csp-onboard login` to sign in again".into()),
            AuthError::AppOnly => Some(
                "the app registration must have the delegated permission `user_impersonation` on Partner Center; then `csp-onboard login`"
                    .into(),
            ),
            AuthError::CacheSealed { .. } | AuthError::CacheKeyWrong { .. } => Some(
                "set `CSP_ONBOARD_TOKEN_KEY` (or `CSP_ONBOARD_TOKEN_KEY_FILE`) to the key it was sealed with, or `csp-onboard login` again"
                    .into(),
            ),
            AuthError::LoginDeclined | AuthError::LoginExpired => {
                Some("run `csp-onboard login` again".into())
            }
            _ => None,
        }
    }

    /// A transport failure, described without the URL's query.
    pub fn unreachable(url: &str, error: reqwest::Error) -> AuthError {
        AuthError::Unreachable {
            url: url.to_string(),
            message: error.without_url().to_string(),
        }
    }

    /// Whether this is a configuration problem (exit 2) rather than one of signing in (exit 3).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            AuthError::Cache { .. }
                | AuthError::CacheSealed { .. }
                | AuthError::CacheKeyWrong { .. }
        )
    }
}

pub struct AuthSettings {
    pub authority_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    /// The cloud's Partner Center audience (`partner_center::Cloud::scope`).
    pub scope: &'static str,
    /// From the environment or the config file.
    pub refresh_token: Option<SecretString>,
    /// The profile the sign-in belongs to (`default` without one).
    pub profile: String,
    pub cache: TokenCache,
}

impl AuthSettings {
    fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url.trim_end_matches('/'),
            self.tenant_id
        )
    }
}

struct AccessToken {
    secret: SecretString,
    obtained: Instant,
    lifetime: Duration,
}

impl AccessToken {
    /// Refresh when less than 5 minutes or 10% of the lifetime remains, whichever is smaller.
    fn fresh_at(&self, now: Instant) -> bool {
        let margin = Duration::from_secs(300).min(self.lifetime / 10);
        now + margin < self.obtained + self.lifetime
    }
}

pub struct TokenProvider {
    http: reqwest::Client,
    settings: AuthSettings,
    current: tokio::sync::Mutex<Option<AccessToken>>,
}

/// What the token endpoint hands out.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    #[serde(deserialize_with = "seconds")]
    pub expires_in: u64,
    pub refresh_token: Option<SecretString>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl TokenError {
    /// The error of a token endpoint's answer (empty when it is not one).
    fn of(body: &[u8]) -> TokenError {
        serde_json::from_slice(body).unwrap_or_default()
    }

    fn describe(&self, status: reqwest::StatusCode) -> String {
        match (self.error.is_empty(), self.error_description.is_empty()) {
            (true, true) => format!("HTTP {status}"),
            (false, true) => self.error.clone(),
            (true, false) => self.error_description.clone(),
            (false, false) => format!("{}: {}", self.error, self.error_description),
        }
    }
}

/// `expires_in` is a number from v2 and a string from v1.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("negative")),
        serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom(
            "expires_in is neither a number nor a string",
        )),
    }
}

impl TokenProvider {
    pub fn new(http: reqwest::Client, settings: AuthSettings) -> TokenProvider {
        TokenProvider {
            http,
            settings,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// A live access token: the cached one, or a fresh one when it is close to expiry. Callers
    /// that find the lock held wait for the refresh in progress rather than starting another.
    pub async fn token(&self) -> Result<SecretString, AuthError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && token.fresh_at(Instant::now())
        {
            return Ok(token.secret.clone());
        }
        let fresh = self.refresh().await?;
        let secret = fresh.secret.clone();
        *current = Some(fresh);
        Ok(secret)
    }

    /// A 401 with `used`: forget it (unless another caller already replaced it).
    pub async fn invalidate(&self, used: &SecretString) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|t| t.secret.expose_secret() == used.expose_secret())
        {
            *current = None;
        }
    }

    async fn refresh(&self) -> Result<AccessToken, AuthError> {
        let cached = self
            .settings
            .cache
            .sign_in()?
            .map(|sign_in| sign_in.refresh_token);
        let configured = self.settings.refresh_token.clone();
        let mut candidates: Vec<SecretString> = cached.into_iter().collect();
        if let Some(configured) = configured
            && !candidates
                .iter()
                .any(|c| c.expose_secret() == configured.expose_secret())
        {
            candidates.push(configured);
        }
        if candidates.is_empty() {
            return Err(AuthError::NotSignedIn {
                profile: self.settings.profile.clone(),
            });
        }
        let mut refusal = None;
        for candidate in candidates {
            match self.redeem(&candidate).await {
                Ok(token) => return Ok(token),
                Err(AuthError::Refused(why)) => {
                    tracing::warn!(
                        "a refresh token was refused; trying the next one if there is one"
                    );
                    refusal = Some(why);
                }
                Err(other) => return Err(other),
            }
        }
        Err(AuthError::Refused(refusal.unwrap_or_default()))
    }

    async fn redeem(&self, refresh_token: &SecretString) -> Result<AccessToken, AuthError> {
        let obtained = Instant::now();
        let token = redeem(&self.http, &self.settings, refresh_token).await?;
        if let Some(rotated) = &token.refresh_token {
            self.settings.cache.store(rotated, false)?;
        }
        tracing::info!(
            lifetime_s = token.expires_in,
            "got a Partner Center access token"
        );
        Ok(AccessToken {
            secret: token.access_token,
            obtained,
            lifetime: Duration::from_secs(token.expires_in),
        })
    }
}

/// The refresh-token grant: a fresh access token (App+User, or refused) and the rotated refresh
/// token, which the caller must keep.
pub async fn redeem(
    http: &reqwest::Client,
    settings: &AuthSettings,
    refresh_token: &SecretString,
) -> Result<TokenResponse, AuthError> {
    let url = settings.token_url();
    let mut form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("client_id", settings.client_id.clone()),
        ("refresh_token", refresh_token.expose_secret().to_string()),
        ("scope", settings.scope.to_string()),
    ];
    if let Some(secret) = &settings.client_secret {
        form.push(("client_secret", secret.expose_secret().to_string()));
    }
    let (status, body) = post_form(http, &url, &form).await?;
    if !status.is_success() {
        let error = TokenError::of(&body);
        if status.is_client_error() {
            return Err(AuthError::Refused(error.describe(status)));
        }
        let redirect = if status.is_redirection() {
            " (a redirect, not followed)"
        } else {
            ""
        };
        return Err(AuthError::Unreachable {
            url,
            message: format!("HTTP {status}{redirect}"),
        });
    }
    let token: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| AuthError::Unreachable {
            url: url.clone(),
            message: format!("unreadable token response: {e}"),
        })?;
    check_app_user(&token.access_token)?;
    Ok(token)
}

/// Posts a form to the authority: the status and the body, or why nothing came back.
async fn post_form<T: serde::Serialize + ?Sized>(
    http: &reqwest::Client,
    url: &str,
    form: &T,
) -> Result<(reqwest::StatusCode, Vec<u8>), AuthError> {
    let response = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| AuthError::unreachable(url, e))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| AuthError::unreachable(url, e))?;
    Ok((status, body.to_vec()))
}

/// Refuses an app-only access token.
pub fn check_app_user(access_token: &SecretString) -> Result<(), AuthError> {
    match claims::read(access_token) {
        Some(claims) if claims.app_only => Err(AuthError::AppOnly),
        _ => Ok(()),
    }
}

/// csp-onboard's folder in the user's state directory (`$XDG_STATE_HOME/csp-onboard`).
pub fn state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("csp-onboard")
}

/// Where the token cache lives by default: the user's state directory.
pub fn default_cache_path() -> PathBuf {
    state_dir().join("tokens.json")
}
