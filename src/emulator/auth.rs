//! The token authority: `POST /{tenant}/oauth2/v2.0/token`, the v1 `/{tenant}/oauth2/token`, and
//! the device-code flow. Refresh tokens rotate on every exchange; an unknown one gets Azure AD's
//! `invalid_grant` / `AADSTS700082`. Access tokens are JWT-shaped so a client can read `tid`,
//! `aud`, `exp` and whether the token is App+User (`amr` holds `mfa`) or app-only (`idtyp: app`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::{DeviceCode, Shared, TokenInfo};

pub const AUDIENCE: &str = "https://api.partnercenter.microsoft.com";

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description, "error_codes": []})),
    )
        .into_response()
}

pub async fn token_v2(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let scope = form.get("scope").map(String::as_str).unwrap_or("");
    if !scope.contains(AUDIENCE) {
        return oauth_error(
            "invalid_scope",
            &format!(
                "AADSTS70011: The provided scope `{scope}` is not valid: ask for {AUDIENCE}/user_impersonation"
            ),
        );
    }
    grant(&shared, &tenant, &form, TokenShape::V2)
}

pub async fn token_v1(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let resource = form.get("resource").map(String::as_str).unwrap_or("");
    if resource.trim_end_matches('/') != AUDIENCE {
        return oauth_error(
            "invalid_resource",
            &format!("AADSTS500011: The resource `{resource}` was not found in the tenant"),
        );
    }
    grant(&shared, &tenant, &form, TokenShape::V1)
}

#[derive(Clone, Copy)]
enum TokenShape {
    V1,
    V2,
}

fn grant(
    shared: &Shared,
    tenant: &str,
    form: &HashMap<String, String>,
    shape: TokenShape,
) -> Response {
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return oauth_error(
            "invalid_request",
            "AADSTS900144: The request body must contain `client_id`",
        );
    }
    if let Some(expected) = &shared.config.tokens.client_id
        && *expected != client_id
    {
        return oauth_error(
            "unauthorized_client",
            &format!("AADSTS700016: Application with identifier `{client_id}` was not found"),
        );
    }
    match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => refresh(shared, form, &client_id, shape),
        Some("client_credentials") => client_credentials(shared, tenant, form, &client_id, shape),
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            device_code_grant(shared, form, shape)
        }
        other => oauth_error(
            "unsupported_grant_type",
            &format!(
                "AADSTS70003: grant type `{}` is not supported",
                other.unwrap_or("")
            ),
        ),
    }
}

fn refresh(
    shared: &Shared,
    form: &HashMap<String, String>,
    client_id: &str,
    shape: TokenShape,
) -> Response {
    let presented = form.get("refresh_token").map(String::as_str).unwrap_or("");
    let revoke = shared.config.tokens.revoke_rotated_refresh_tokens;
    let redeemed = shared.lock().redeem_refresh_token(presented, revoke);
    let Some((tenant, _)) = redeemed else {
        return oauth_error(
            "invalid_grant",
            "AADSTS700082: The refresh token has expired due to inactivity or is not valid. Sign in again",
        );
    };
    tokens(shared, &tenant, client_id, false, shape)
}

fn client_credentials(
    shared: &Shared,
    tenant: &str,
    form: &HashMap<String, String>,
    client_id: &str,
    shape: TokenShape,
) -> Response {
    let secret = form.get("client_secret").map(String::as_str).unwrap_or("");
    let accepted = match &shared.config.tokens.client_secret {
        Some(expected) => expected == secret,
        None => !secret.is_empty(),
    };
    if !accepted {
        return oauth_error(
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided",
        );
    }
    tokens(shared, tenant, client_id, true, shape)
}

fn device_code_grant(
    shared: &Shared,
    form: &HashMap<String, String>,
    shape: TokenShape,
) -> Response {
    let code = form.get("device_code").map(String::as_str).unwrap_or("");
    let now = shared.now();
    let auto = shared.config.tokens.auto_approve_device_code;
    let found = {
        let mut inner = shared.lock();
        let slow_downs = shared.config.tokens.device_code_slow_down_polls;
        match inner.device_codes.get_mut(code) {
            None => None,
            Some(device) if device.expires_at <= now => Some(Err("expired_token")),
            Some(device) if device.denied => Some(Err("access_denied")),
            Some(device) if device.polls < slow_downs => {
                device.polls += 1;
                Some(Err("slow_down"))
            }
            Some(device) if device.approved || auto => {
                let granted = (device.tenant.clone(), device.client_id.clone());
                inner.device_codes.remove(code);
                Some(Ok(granted))
            }
            Some(_) => Some(Err("authorization_pending")),
        }
    };
    match found {
        None => oauth_error("invalid_grant", "AADSTS70000: The device code is not valid"),
        Some(Err(error)) => {
            let description = match error {
                "expired_token" => {
                    "AADSTS70020: The provided value for the input parameter 'device_code' is not valid. This device code has expired"
                }
                "access_denied" => "AADSTS70000: The user declined the sign-in",
                "slow_down" => "AADSTS70016: Poll less often",
                _ => {
                    "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling"
                }
            };
            oauth_error(error, description)
        }
        Some(Ok((tenant, client))) => tokens(shared, &tenant, &client, false, shape),
    }
}

fn tokens(
    shared: &Shared,
    tenant: &str,
    client_id: &str,
    app_only: bool,
    shape: TokenShape,
) -> Response {
    let lifetime = Duration::from_secs(shared.config.tokens.access_token_lifetime_s);
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(lifetime)
        .as_secs();
    let settings = &shared.config.tokens;
    let app_only = app_only || settings.app_only_tokens;
    let info = TokenInfo {
        tenant: tenant.to_string(),
        client_id: client_id.to_string(),
        app_only,
        expires_at: shared.now() + lifetime,
    };
    let mut inner = shared.lock();
    let access = inner.issue_access_token(info, AUDIENCE, exp, !settings.without_mfa);
    // An app registration set up for app-only access still rotates the user's refresh token.
    let refresh = (!app_only || settings.app_only_tokens)
        .then(|| inner.issue_refresh_token(tenant, client_id));
    drop(inner);
    let secs = lifetime.as_secs();
    let mut body = match shape {
        TokenShape::V2 => {
            json!({"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs,
                                  "scope": format!("{AUDIENCE}/user_impersonation"), "access_token": access})
        }
        // The v1 endpoint famously sends numbers as strings.
        TokenShape::V1 => json!({"token_type": "Bearer", "expires_in": secs.to_string(),
                                  "expires_on": exp.to_string(), "resource": AUDIENCE, "access_token": access}),
    };
    if let (Some(refresh), Some(map)) = (refresh, body.as_object_mut()) {
        map.insert("refresh_token".into(), Value::String(refresh));
    }
    Json(body).into_response()
}

pub async fn device_code(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return oauth_error(
            "invalid_request",
            "AADSTS900144: The request body must contain `client_id`",
        );
    }
    let scope = form.get("scope").map(String::as_str).unwrap_or("");
    if !scope.contains(AUDIENCE) {
        return oauth_error(
            "invalid_scope",
            &format!(
                "AADSTS70011: The provided scope `{scope}` is not valid: ask for {AUDIENCE}/user_impersonation"
            ),
        );
    }
    let expires_in = shared.config.tokens.device_code_lifetime_s;
    let interval = shared.config.tokens.device_code_interval_s;
    let mut inner = shared.lock();
    let device_code = inner.new_guid();
    let user_code: String = inner.new_guid().replace('-', "")[..9].to_uppercase();
    inner.device_codes.insert(
        device_code.clone(),
        DeviceCode {
            user_code: user_code.clone(),
            tenant,
            client_id,
            approved: false,
            denied: false,
            polls: 0,
            expires_at: shared.now() + Duration::from_secs(expires_in),
        },
    );
    drop(inner);
    Json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": expires_in,
        "interval": interval,
        "message": format!("To sign in, open https://microsoft.com/devicelogin and enter the code {user_code}."),
    }))
    .into_response()
}

/// `POST /_emulator/devicecodes/{user_code}/approve`: the user signed in (with MFA).
pub async fn approve_device_code(
    State(shared): State<Arc<Shared>>,
    Path(user_code): Path<String>,
) -> StatusCode {
    found(shared.approve_device_code(&user_code))
}

/// `POST /_emulator/devicecodes/{user_code}/deny`: the user declined.
pub async fn deny_device_code(
    State(shared): State<Arc<Shared>>,
    Path(user_code): Path<String>,
) -> StatusCode {
    found(shared.deny_device_code(&user_code))
}

fn found(known: bool) -> StatusCode {
    if known {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

/// The caller of a `/v1` request, from its bearer token.
pub fn authenticate(
    shared: &Shared,
    authorization: Option<&str>,
) -> Result<TokenInfo, &'static str> {
    let token = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .ok_or("The request has no bearer token")?;
    let inner = shared.lock();
    let info = inner
        .access_token(token.trim())
        .ok_or("The access token is not valid")?;
    if info.expires_at <= shared.now() {
        return Err("The access token has expired");
    }
    Ok(info.clone())
}
