//! App+User tokens for Partner Center: the refresh-token grant, an access token cached in memory
//! and refreshed before it expires (never per request), and the token cache that keeps the rotated
//! refresh token an unattended run needs.
//!
//! Every refresh returns a new refresh token; it is written to the cache at once (mode 0600, keyed
//! by authority, tenant and client — never the journal). The cache wins over
//! `CSP_ONBOARD_REFRESH_TOKEN` once it holds a token; if the cached one is refused and the
//! environment holds a different one, that one is tried (CONTRACTS.md).
//!
//! Tokens are `SecretString`s: they cannot reach a log line or an error message by accident.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// The audience every token request asks for, whatever the URLs (CONTRACTS.md).
pub const PARTNER_CENTER_SCOPE: &str =
    "https://api.partnercenter.microsoft.com/user_impersonation offline_access";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no refresh token: set `CSP_ONBOARD_REFRESH_TOKEN` or `refresh_token` in the config file"
    )]
    NoRefreshToken,
    #[error("the token endpoint refused the refresh token: {0}")]
    Refused(String),
    #[error("cannot reach the token endpoint `{url}`: {message}")]
    Unreachable { url: String, message: String },
    #[error("cannot write the token cache `{}`: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AuthError {
    pub fn hint(&self) -> Option<String> {
        match self {
            AuthError::Refused(_) | AuthError::NoRefreshToken => Some(
                "sign in again to get a new refresh token (App+User, with MFA) and set `CSP_ONBOARD_REFRESH_TOKEN`"
                    .into(),
            ),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub authority_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    /// From the environment or the config file.
    pub refresh_token: Option<SecretString>,
    pub cache_path: PathBuf,
}

impl AuthSettings {
    fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url.trim_end_matches('/'),
            self.tenant_id
        )
    }

    fn cache_key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.authority_url.trim_end_matches('/'),
            self.tenant_id,
            self.client_id
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

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(deserialize_with = "seconds")]
    expires_in: u64,
    refresh_token: Option<SecretString>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
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
        let cached = read_cache(&self.settings.cache_path)
            .remove(&self.settings.cache_key())
            .map(SecretString::from);
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
            return Err(AuthError::NoRefreshToken);
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
        let url = self.settings.token_url();
        let mut form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", self.settings.client_id.clone()),
            ("refresh_token", refresh_token.expose_secret().to_string()),
            ("scope", PARTNER_CENTER_SCOPE.to_string()),
        ];
        if let Some(secret) = &self.settings.client_secret {
            form.push(("client_secret", secret.expose_secret().to_string()));
        }
        let unreachable = |message: String| AuthError::Unreachable {
            url: url.clone(),
            message,
        };
        let obtained = Instant::now();
        let response = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if !status.is_success() {
            let error: TokenError = serde_json::from_slice(&body).unwrap_or_default();
            if status.is_client_error() {
                return Err(AuthError::Refused(format!(
                    "{} {}",
                    error.error, error.error_description
                )));
            }
            return Err(unreachable(format!("HTTP {status}")));
        }
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| unreachable(format!("unreadable token response: {e}")))?;
        if let Some(rotated) = &token.refresh_token {
            write_cache(
                &self.settings.cache_path,
                &self.settings.cache_key(),
                rotated.expose_secret(),
            )?;
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

fn read_cache(path: &Path) -> BTreeMap<String, String> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes the cache atomically (a 0600 temp file renamed over the old one).
fn write_cache(path: &Path, key: &str, refresh_token: &str) -> Result<(), AuthError> {
    let error = |source| AuthError::Cache {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut cache = read_cache(path);
    cache.insert(key.to_string(), refresh_token.to_string());
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(error)?;
        file.write_all(&serde_json::to_vec(&cache).unwrap_or_default())
            .map_err(error)?;
        file.sync_all().map_err(error)?;
    }
    std::fs::rename(&temp, path).map_err(error)
}
