//! The HTTP client for Partner Center: headers, and the classification of every outcome into what
//! the journal's state machine needs to know — created, throttled, never sent, unknown, rejected.
//!
//! The classification is the safety-critical part. A request whose bytes may have reached the
//! server (a timeout, a connection reset after sending, a 5xx) is *ambiguous*: it may have been
//! processed, so the dispatcher reconciles before sending it again. Only a connection that was
//! refused before anything was sent is "not sent".

use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::model::{ApiError, Collection, Customer};

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// What became of a create (of a customer, or of anything else a `POST` makes: an agreement).
#[derive(Debug)]
pub enum CreateOutcome<T = Customer> {
    Created(T),
    Throttled {
        retry_after: Duration,
    },
    /// Refused before any byte was sent: safe to send again.
    NotSent(String),
    /// May or may not have been processed.
    Ambiguous {
        status: Option<u16>,
        code: Option<String>,
        message: String,
    },
    /// A definite refusal (4xx other than 401 and 429).
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
        kind: Rejection,
    },
    Unauthorized,
}

/// What a refusal of a create is about (partner-center-api.md §4). The codes are Partner Center's;
/// what each means for a row is the dispatcher's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Something in the request (registration number, phone, a property, the country, the
    /// reseller id, the sandbox's customer cap): fix the row.
    Data,
    /// The domain exists already. Undocumented: observed as 400 / 3000 with a "hostname ... is not
    /// valid" description.
    DomainTaken,
    /// The reseller has not accepted the Microsoft Partner Agreement (403 / 900123).
    Reseller,
    /// The signed-in account may not do this (403 / 600006, 1002, 900308).
    Permission,
    /// The call needs an App+User token and got an app-only one (403 / 900329).
    AppUserRequired,
    /// 400 / 3000 in a language other than English: a taken domain (which Partner Center tells
    /// only in its English description, `hostname: … is not valid`) or data it refuses. Whether
    /// the domain exists decides which.
    TakenOrInvalid,
}

impl Rejection {
    /// Classifies a definite refusal by its HTTP status, error code and description; `english`
    /// says whether the description was asked for in English (`X-Locale: en-…`), the only
    /// language its words are read in.
    pub fn of(status: u16, code: Option<&str>, message: &str, english: bool) -> Rejection {
        match (status, code) {
            (403, Some("900329")) => Rejection::AppUserRequired,
            (403, Some("600006" | "1002" | "900308")) => Rejection::Permission,
            (403, Some("900123")) => Rejection::Reseller,
            (400, Some("3000")) if message.contains("hostname") => Rejection::DomainTaken,
            (400, Some("3000")) if !english => Rejection::TakenOrInvalid,
            _ => Rejection::Data,
        }
    }
}

/// What became of a read.
#[derive(Debug)]
pub enum Lookup<T> {
    Found(T),
    Throttled(Duration),
    Unauthorized,
    Failed(String),
}

impl<T> Lookup<T> {
    /// What went wrong, for a message (`ok` when something was found).
    pub fn describe(&self) -> String {
        match self {
            Lookup::Found(_) => "ok".into(),
            Lookup::Throttled(wait) => format!("throttled (429; retry in {} s)", wait.as_secs()),
            Lookup::Unauthorized => "the token was refused (401)".into(),
            Lookup::Failed(message) => message.clone(),
        }
    }

    /// The same outcome, with what was found turned into something else.
    pub fn map_found<U>(self, f: impl FnOnce(T) -> U) -> Lookup<U> {
        match self {
            Lookup::Found(t) => Lookup::Found(f(t)),
            Lookup::Throttled(d) => Lookup::Throttled(d),
            Lookup::Unauthorized => Lookup::Unauthorized,
            Lookup::Failed(m) => Lookup::Failed(m),
        }
    }
}

pub struct PartnerCenter {
    http: reqwest::Client,
    base: String,
    /// Parsed once: every create goes to it.
    customers_url: reqwest::Url,
    correlation_id: String,
    /// Header values that are the same on every request, validated once.
    correlation_header: HeaderValue,
    application_header: HeaderValue,
    /// `X-Locale`: the language Partner Center answers in.
    locale_header: HeaderValue,
    /// The locale is English: refusals' descriptions can be read.
    english: bool,
    /// `Bearer <token>` for the token in use, built once per token: validating a 1–2 KB header
    /// value on every request is measurable at full speed. Marked sensitive.
    authorization: Mutex<Option<(SecretString, HeaderValue)>>,
}

static MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
static MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");
static X_LOCALE: HeaderName = HeaderName::from_static("x-locale");
static MS_APPLICATION: HeaderName = HeaderName::from_static("ms-partnercenter-application");

impl PartnerCenter {
    /// `base` is the API base without `/v1`.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        correlation_id: String,
        locale: &str,
    ) -> Result<PartnerCenter, String> {
        let locale_header =
            HeaderValue::from_str(locale).map_err(|_| format!("`{locale}` cannot be a locale"))?;
        let base = base.trim_end_matches('/').to_string();
        let customers_url = reqwest::Url::parse(&format!("{base}/v1/customers"))
            .map_err(|e| format!("`{base}` is not a usable API URL: {e}"))?;
        let correlation_header = HeaderValue::from_str(&correlation_id)
            .map_err(|_| format!("`{correlation_id}` cannot be a correlation id"))?;
        Ok(PartnerCenter {
            http,
            base,
            customers_url,
            correlation_id,
            correlation_header,
            application_header: HeaderValue::from_static(concat!(
                "csp-onboard/",
                env!("CARGO_PKG_VERSION")
            )),
            authorization: Mutex::new(None),
            locale_header,
            english: locale.to_ascii_lowercase().starts_with("en"),
        })
    }

    /// The `Authorization` value for `token` (`None` if the token cannot be a header value, which
    /// Partner Center would refuse anyway: the request then goes without one and gets a 401).
    fn authorization(&self, token: &SecretString) -> Option<HeaderValue> {
        let mut cached = self
            .authorization
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((for_token, value)) = cached.as_ref()
            && for_token.expose_secret() == token.expose_secret()
        {
            return Some(value.clone());
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).ok()?;
        value.set_sensitive(true);
        *cached = Some((token.clone(), value.clone()));
        Some(value)
    }

    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
        token: &SecretString,
        request_id: &str,
    ) -> reqwest::RequestBuilder {
        let mut builder = self
            .http
            .request(method, url)
            .header(ACCEPT, JSON)
            .header(&MS_REQUEST_ID, request_id)
            .header(&MS_CORRELATION_ID, self.correlation_header.clone())
            .header(&X_LOCALE, self.locale_header.clone())
            .header(&MS_APPLICATION, self.application_header.clone());
        if let Some(authorization) = self.authorization(token) {
            builder = builder.header(AUTHORIZATION, authorization);
        }
        builder
    }

    pub async fn create_customer(
        &self,
        body: &str,
        request_id: &str,
        token: &SecretString,
    ) -> CreateOutcome {
        self.post(self.customers_url.clone(), body, request_id, token)
            .await
    }

    /// `POST /v1/customers/{id}/agreements`: attests the customer's acceptance of an agreement.
    pub async fn attest_agreement(
        &self,
        customer_id: &str,
        body: &str,
        request_id: &str,
        token: &SecretString,
    ) -> CreateOutcome<serde_json::Value> {
        let url = format!("{}/v1/customers/{customer_id}/agreements", self.base);
        match reqwest::Url::parse(&url) {
            Ok(url) => self.post(url, body, request_id, token).await,
            Err(e) => CreateOutcome::NotSent(format!("`{url}` is not a URL: {e}")),
        }
    }

    /// `PATCH /v1/customers/{id}/users/{userId}/resetpassword`: gives the customer's user the
    /// password in `body` (App+User only; not in the 21Vianet or US Government clouds).
    pub async fn reset_password(
        &self,
        customer_id: &str,
        user_id: &str,
        body: &str,
        request_id: &str,
        token: &SecretString,
    ) -> CreateOutcome<serde_json::Value> {
        let url = format!(
            "{}/v1/customers/{customer_id}/users/{user_id}/resetpassword",
            self.base
        );
        match reqwest::Url::parse(&url) {
            Ok(url) => {
                self.send(reqwest::Method::PATCH, url, body, request_id, token)
                    .await
            }
            Err(e) => CreateOutcome::NotSent(format!("`{url}` is not a URL: {e}")),
        }
    }

    /// The users of a customer's tenant (`GET /v1/customers/{id}/users`).
    pub async fn users(
        &self,
        customer_id: &str,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<Vec<crate::model::CustomerUser>> {
        self.read::<Collection<crate::model::CustomerUser>>(
            &format!("/v1/customers/{customer_id}/users"),
            &[],
            request_id,
            token,
        )
        .await
        .map_found(|list| list.items)
    }

    /// A `POST` of a JSON `body`, its outcome classified (see the module docs).
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        url: reqwest::Url,
        body: &str,
        request_id: &str,
        token: &SecretString,
    ) -> CreateOutcome<T> {
        self.send(reqwest::Method::POST, url, body, request_id, token)
            .await
    }

    /// A request with a JSON `body` that changes something, its outcome classified.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: &str,
        request_id: &str,
        token: &SecretString,
    ) -> CreateOutcome<T> {
        let sent = self
            .request(method, url, token, request_id)
            .header(CONTENT_TYPE, JSON)
            .body(body.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) if error.is_connect() => return CreateOutcome::NotSent(describe(&error)),
            Err(error) => {
                return CreateOutcome::Ambiguous {
                    status: None,
                    code: None,
                    message: describe(&error),
                };
            }
        };
        let status = response.status();
        let retry_after = retry_after(&response);
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => {
                return CreateOutcome::Ambiguous {
                    status: Some(status.as_u16()),
                    code: None,
                    message: format!("the response broke off: {}", describe(&error)),
                };
            }
        };
        if status.is_success() {
            return match serde_json::from_slice::<T>(&bytes) {
                Ok(created) => CreateOutcome::Created(created),
                Err(e) => CreateOutcome::Ambiguous {
                    status: Some(status.as_u16()),
                    code: None,
                    message: format!("HTTP {status} with an unreadable body: {e}"),
                },
            };
        }
        let (code, message) = error_of(status, &bytes);
        match status {
            StatusCode::TOO_MANY_REQUESTS => CreateOutcome::Throttled {
                retry_after: retry_after.unwrap_or(Duration::from_secs(60)),
            },
            StatusCode::UNAUTHORIZED => CreateOutcome::Unauthorized,
            StatusCode::REQUEST_TIMEOUT => CreateOutcome::Ambiguous {
                status: Some(408),
                code,
                message,
            },
            s if s.is_server_error() => CreateOutcome::Ambiguous {
                status: Some(s.as_u16()),
                code,
                message,
            },
            // Redirects are not followed (a create must not be re-posted where the URL policy was
            // never applied), and nobody knows what the server did before it redirected.
            s if s.is_redirection() => CreateOutcome::Ambiguous {
                status: Some(s.as_u16()),
                code: None,
                message: format!("HTTP {s}: a redirect, not followed"),
            },
            s => CreateOutcome::Rejected {
                status: s.as_u16(),
                kind: Rejection::of(s.as_u16(), code.as_deref(), &message, self.english),
                code,
                message,
            },
        }
    }

    /// `HEAD /v1/domains/{domain}`: whether the domain exists (anywhere).
    pub async fn domain_exists(
        &self,
        domain: &str,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<bool> {
        let path = format!("/v1/domains/{domain}");
        match self
            .request(
                reqwest::Method::HEAD,
                format!("{}{path}", self.base),
                token,
                request_id,
            )
            .send()
            .await
        {
            Ok(response) => match response.status() {
                StatusCode::OK => Lookup::Found(true),
                StatusCode::NOT_FOUND => Lookup::Found(false),
                StatusCode::UNAUTHORIZED => Lookup::Unauthorized,
                StatusCode::TOO_MANY_REQUESTS => {
                    Lookup::Throttled(retry_after(&response).unwrap_or(Duration::from_secs(60)))
                }
                other => Lookup::Failed(format!("HEAD {path}: HTTP {other}")),
            },
            Err(error) => Lookup::Failed(describe(&error)),
        }
    }

    /// Our customer with exactly this domain, if Partner Center lists one yet.
    pub async fn find_customer(
        &self,
        domain: &str,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<Option<Customer>> {
        let filter =
            serde_json::json!({"Field": "Domain", "Value": domain, "Operator": "starts_with"})
                .to_string();
        let found = self
            .read::<Collection<Customer>>(
                "/v1/customers",
                &[("size", "10"), ("filter", filter.as_str())],
                request_id,
                token,
            )
            .await;
        match found {
            Lookup::Failed(message) => Lookup::Failed(format!("customer lookup: {message}")),
            found => found.map_found(|list| {
                list.items.into_iter().find(|c| {
                    c.company_profile
                        .as_ref()
                        .and_then(|p| p.domain.as_deref())
                        .is_some_and(|d| d.eq_ignore_ascii_case(domain))
                })
            }),
        }
    }
}

impl PartnerCenter {
    /// A `GET` of `path` (with `query`) read as `T`.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<T> {
        let request = self
            .request(
                reqwest::Method::GET,
                format!("{}{path}", self.base),
                token,
                request_id,
            )
            .query(query);
        self.answer(request).await
    }

    /// A `POST` that only asks (changes nothing), read as `T`.
    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: String,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<T> {
        let request = self
            .request(
                reqwest::Method::POST,
                format!("{}{path}", self.base),
                token,
                request_id,
            )
            .header(CONTENT_TYPE, JSON)
            .body(body);
        self.answer(request).await
    }

    /// The answer to a question, classified.
    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Lookup<T> {
        let sent = request.send().await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Lookup::Failed(describe(&error)),
        };
        let status = response.status();
        match status {
            StatusCode::UNAUTHORIZED => return Lookup::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => {
                return Lookup::Throttled(
                    retry_after(&response).unwrap_or(Duration::from_secs(60)),
                );
            }
            s if !s.is_success() => {
                let body = response.bytes().await.unwrap_or_default();
                let (code, message) = error_of(s, &body);
                let code = code.map_or_else(String::new, |c| format!(" / {c}"));
                return Lookup::Failed(format!("HTTP {}{code}: {message}", s.as_u16()));
            }
            _ => {}
        }
        match response.json::<T>().await {
            Ok(value) => Lookup::Found(value),
            Err(error) => Lookup::Failed(format!("unreadable answer: {}", describe(&error))),
        }
    }

    /// Whether the API answers this token: one customer of the partner's, read.
    pub async fn ping(&self, request_id: &str, token: &SecretString) -> Lookup<()> {
        self.read::<serde_json::Value>("/v1/customers", &[("size", "1")], request_id, token)
            .await
            .map_found(|_| ())
    }

    /// The Microsoft Customer Agreement's current template id (`GET /v1/agreements`).
    pub async fn mca_template_id(
        &self,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<Option<String>> {
        self.read::<Collection<crate::model::AgreementMetadata>>(
            "/v1/agreements",
            &[("agreementType", "MicrosoftCustomerAgreement")],
            request_id,
            token,
        )
        .await
        .map_found(|list| list.items.into_iter().find_map(|a| a.template_id))
    }

    /// The agreements a customer has attested (`GET /v1/customers/{id}/agreements`).
    pub async fn agreements(
        &self,
        customer_id: &str,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<Vec<crate::model::Agreement>> {
        self.read::<Collection<crate::model::Agreement>>(
            &format!("/v1/customers/{customer_id}/agreements"),
            &[],
            request_id,
            token,
        )
        .await
        .map_found(|list| list.items)
    }

    /// A country's rules for addresses, cultures and languages
    /// (`GET /v1/countryvalidationrules/{iso2}`).
    pub async fn country_rules(
        &self,
        iso2: &str,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<crate::model::CountryRules> {
        self.read(
            &format!("/v1/countryvalidationrules/{iso2}"),
            &[],
            request_id,
            token,
        )
        .await
    }

    /// Partner Center's opinion of an address (`POST /v1/validations/address`).
    pub async fn validate_address(
        &self,
        address: &crate::model::AddressToValidate,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<crate::model::AddressVerdict> {
        let body = serde_json::to_string(address).expect("an address serializes");
        self.ask("/v1/validations/address", body, request_id, token)
            .await
    }

    /// The provider's indirect resellers (App+User only).
    pub async fn indirect_resellers(
        &self,
        request_id: &str,
        token: &SecretString,
    ) -> Lookup<Vec<crate::model::Reseller>> {
        self.read::<Collection<crate::model::Reseller>>(
            "/v1/relationships",
            &[("relationship_type", "IsIndirectCloudSolutionProviderOf")],
            request_id,
            token,
        )
        .await
        .map_found(|list| list.items)
    }
}

/// A transport error as a person should read it, without the URL's query (no secrets are in it,
/// but it is noise).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the response broke off"
    } else {
        "the connection failed"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The code and description of an error body; an HTML or otherwise unreadable body is described
/// by its status.
fn error_of(status: StatusCode, body: &[u8]) -> (Option<String>, String) {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(error) if error.code.is_some() || error.description.is_some() => (
            error.code,
            error
                .description
                .unwrap_or_else(|| format!("HTTP {status}")),
        ),
        _ => (None, format!("HTTP {status} with an unreadable error body")),
    }
}

/// The Partner Center clouds (partner-center-api.md §8): where the API and the sign-in are, and
/// the audience a token asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    #[default]
    Global,
    /// 21Vianet.
    China,
    /// US Government.
    Usgov,
}

impl Cloud {
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::China => "china",
            Cloud::Usgov => "usgov",
        }
    }

    pub fn parse(text: &str) -> Option<Cloud> {
        [Cloud::Global, Cloud::China, Cloud::Usgov]
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(text.trim()))
    }

    /// The API base, without `/v1`.
    pub fn api_url(self) -> &'static str {
        match self {
            Cloud::Global | Cloud::Usgov => "https://api.partnercenter.microsoft.com",
            Cloud::China => "https://partner.partnercenterapi.microsoftonline.cn",
        }
    }

    /// The token authority.
    pub fn authority_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::China => "https://login.chinacloudapi.cn",
            Cloud::Usgov => "https://login.microsoftonline.us",
        }
    }

    /// The `scope` a token request asks for: the cloud's Partner Center audience.
    pub fn scope(self) -> &'static str {
        match self {
            Cloud::Global | Cloud::Usgov => {
                "https://api.partnercenter.microsoft.com/user_impersonation offline_access"
            }
            Cloud::China => {
                "https://partner.partnercenterapi.microsoftonline.cn/user_impersonation offline_access"
            }
        }
    }
}

/// Whether only `https://` is used, loopback excepted (the emulator).
pub fn url_is_allowed(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback() {
        assert!(url_is_allowed("https://api.partnercenter.microsoft.com"));
        assert!(url_is_allowed("http://127.0.0.1:8700"));
        assert!(url_is_allowed("http://localhost:8700/"));
        assert!(url_is_allowed("http://[::1]:8700"));
        assert!(!url_is_allowed("http://api.partnercenter.microsoft.com"));
        assert!(!url_is_allowed("http://127.0.0.1.evil.example"));
        assert!(!url_is_allowed("ftp://127.0.0.1"));
    }

    #[test]
    fn refusals_are_classified_by_status_and_code() {
        let cases = [
            (403, Some("900329"), "App+User", Rejection::AppUserRequired),
            (403, Some("600006"), "not allowed", Rejection::Permission),
            (403, Some("1002"), "", Rejection::Permission),
            (403, Some("900308"), "", Rejection::Permission),
            (403, Some("900123"), "MPA", Rejection::Reseller),
            (
                400,
                Some("3000"),
                "hostname: x is not valid",
                Rejection::DomainTaken,
            ),
            (400, Some("3000"), "invalid property", Rejection::Data),
            (400, Some("3000"), "ongeldige eigenschap", Rejection::Data),
            (400, Some("600050"), "", Rejection::Data),
            (400, Some("800016"), "", Rejection::Data),
            (400, None, "HTTP 400", Rejection::Data),
            (404, Some("900329"), "", Rejection::Data),
        ];
        for (status, code, message, want) in cases {
            assert_eq!(
                Rejection::of(status, code, message, true),
                want,
                "{status} {code:?} {message}"
            );
        }
        // Asked in another language, a 3000 cannot be read: the domain decides.
        for (message, want) in [
            ("ongeldige eigenschap", Rejection::TakenOrInvalid),
            ("hostname: x is not valid", Rejection::DomainTaken),
        ] {
            assert_eq!(Rejection::of(400, Some("3000"), message, false), want);
        }
        assert_eq!(
            Rejection::of(400, Some("600050"), "", false),
            Rejection::Data
        );
    }

    #[test]
    fn html_error_bodies_are_described_by_status() {
        let (code, message) = error_of(StatusCode::SERVICE_UNAVAILABLE, b"<html>oops</html>");
        assert_eq!(code, None);
        assert_eq!(
            message,
            "HTTP 503 Service Unavailable with an unreadable error body"
        );
        let (code, _) = error_of(
            StatusCode::BAD_REQUEST,
            br#"{"code":600050,"description":"x"}"#,
        );
        assert_eq!(code.as_deref(), Some("600050"));
    }
}
