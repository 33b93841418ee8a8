//! The device-code sign-in (RFC 8628, as Azure AD serves it): ask for a code, show the person
//! where to enter it, and poll the token endpoint — politely: never sooner than `interval`,
//! five seconds slower after each `slow_down`, and no longer than the code lives. It reads
//! nothing from the terminal, so it works with stdin closed (a remote shell, a script).

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{AuthError, AuthSettings, TokenError, TokenResponse, post_form};

/// A code to enter, and what is needed to poll for its outcome.
pub struct DeviceCode {
    pub user_code: String,
    pub verification_uri: String,
    /// Azure AD's own sentence for the person.
    pub message: Option<String>,
    device_code: SecretString,
    expires_in: Duration,
    interval: Duration,
}

#[derive(Deserialize)]
struct DeviceCodeResponse {
    device_code: SecretString,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

/// Asks the authority for a device code.
pub async fn begin(
    http: &reqwest::Client,
    settings: &AuthSettings,
) -> Result<DeviceCode, AuthError> {
    let url = format!(
        "{}/{}/oauth2/v2.0/devicecode",
        settings.authority_url.trim_end_matches('/'),
        settings.tenant_id
    );
    let form = [
        ("client_id", settings.client_id.as_str()),
        ("scope", settings.scope),
    ];
    let (status, body) = post_form(http, &url, &form).await?;
    if !status.is_success() {
        return Err(AuthError::LoginFailed(
            TokenError::of(&body).describe(status),
        ));
    }
    let code: DeviceCodeResponse = serde_json::from_slice(&body).map_err(|e| {
        AuthError::LoginFailed(format!("the device-code answer is unreadable: {e}"))
    })?;
    Ok(DeviceCode {
        user_code: code.user_code,
        verification_uri: code.verification_uri,
        message: code.message,
        device_code: code.device_code,
        expires_in: Duration::from_secs(code.expires_in),
        // RFC 8628: 5 seconds when the server names none.
        interval: Duration::from_secs(code.interval.unwrap_or(5)),
    })
}

/// Polls until the person has signed in (the tokens), declined, or the code expired.
pub async fn wait(
    http: &reqwest::Client,
    settings: &AuthSettings,
    code: &DeviceCode,
) -> Result<TokenResponse, AuthError> {
    let url = settings.token_url();
    let deadline = Instant::now() + code.expires_in;
    let mut interval = code.interval;
    loop {
        tokio::time::sleep(interval).await;
        if Instant::now() >= deadline {
            return Err(AuthError::LoginExpired);
        }
        let mut form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:device_code".to_string(),
            ),
            ("client_id", settings.client_id.clone()),
            ("device_code", code.device_code.expose_secret().to_string()),
            ("scope", settings.scope.to_string()),
        ];
        if let Some(secret) = &settings.client_secret {
            form.push(("client_secret", secret.expose_secret().to_string()));
        }
        let (status, body) = post_form(http, &url, &form).await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                AuthError::LoginFailed(format!("the token answer is unreadable: {e}"))
            });
        }
        let error = TokenError::of(&body);
        match error.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval += Duration::from_secs(5),
            "expired_token" | "code_expired" => return Err(AuthError::LoginExpired),
            "access_denied" | "authorization_declined" => return Err(AuthError::LoginDeclined),
            _ => return Err(AuthError::LoginFailed(error.describe(status))),
        }
    }
}
