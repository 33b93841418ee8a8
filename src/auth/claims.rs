//! What an access token says about itself: whether it is App+User or app-only, whether the sign-in
//! used multi-factor authentication, whose tenant it is for. Read from the JWT's payload — never
//! verified here (Partner Center verifies it); this is for refusing early and explaining, not for
//! trusting.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Issued to an application, not a user (`idtyp: app`, or roles and no delegated scope).
    pub app_only: bool,
    /// The sign-in used multi-factor authentication (`amr` holds `mfa`).
    pub mfa: bool,
    pub tenant: Option<String>,
    /// Who signed in.
    pub user: Option<String>,
}

/// The claims of a JWT-shaped token; `None` for an opaque one.
pub fn read(token: &SecretString) -> Option<Claims> {
    let payload = token.expose_secret().split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let app_only = text("idtyp").as_deref() == Some("app")
        || (claims.get("scp").is_none() && claims.get("roles").is_some());
    let mfa = claims
        .get("amr")
        .and_then(Value::as_array)
        .is_some_and(|amr| amr.iter().any(|m| m == "mfa"));
    Some(Claims {
        app_only,
        mfa,
        tenant: text("tid"),
        user: text("upn").or_else(|| text("unique_name")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> SecretString {
        SecretString::from(format!(
            "eyJhbGciOiJub25lIn0.{}.sig",
            URL_SAFE_NO_PAD.encode(claims)
        ))
    }

    #[test]
    fn app_user_app_only_and_mfa_are_told_apart() {
        let user = read(&token(
            r#"{"tid":"t","scp":"user_impersonation","amr":["pwd","mfa"],"upn":"a@b"}"#,
        ))
        .unwrap();
        assert!(!user.app_only && user.mfa);
        assert_eq!(user.user.as_deref(), Some("a@b"));
        let app = read(&token(r#"{"tid":"t","idtyp":"app","roles":[]}"#)).unwrap();
        assert!(app.app_only);
        let roles_only = read(&token(r#"{"tid":"t","roles":["x"]}"#)).unwrap();
        assert!(roles_only.app_only);
        let no_mfa = read(&token(r#"{"scp":"user_impersonation","amr":["pwd"]}"#)).unwrap();
        assert!(!no_mfa.mfa);
        assert_eq!(read(&SecretString::from("opaque")), None);
    }
}
