//! The emulator's settings: limits, tokens, resellers and faults. Read from its own TOML file
//! (`csp-onboard emulator --config F`), overridden by flags, or built in code by tests.
//!
//! Where Microsoft documents nothing (what a replayed `MS-RequestId` returns, whether a taken
//! domain is a 400 or a 500, how long a new customer stays invisible), the behaviour is a setting
//! here with a documented default, never a silent guess. See docs/emulator.md.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An indirect reseller of the emulated provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reseller {
    pub id: String,
    pub name: String,
    /// `Active` or `Inactive`; only active resellers can be `associatedPartnerId`.
    pub state: String,
    #[serde(default = "yes")]
    pub mpa_accepted: bool,
    #[serde(default)]
    pub mpn_id: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
}

fn yes() -> bool {
    true
}

/// The built-in resellers (CONTRACTS.md); the sample sheets use them.
pub fn builtin_resellers() -> Vec<Reseller> {
    [
        (
            "5d1e7a90-3b2c-4f6e-9a81-1c2d3e4f5a01",
            "Adatum Resellers",
            "Active",
        ),
        (
            "6e2f8b01-4c3d-4a7f-8b92-2d3e4f5a6b02",
            "Litware Partners",
            "Active",
        ),
        (
            "7f309c12-5d4e-4b80-9ca3-3e4f5a6b7c03",
            "Proseware IT",
            "Active",
        ),
        (
            "8041ad23-6e5f-4c91-8db4-4f5a6b7c8d04",
            "Wide World Resale",
            "Inactive",
        ),
    ]
    .iter()
    .enumerate()
    .map(|(i, (id, name, state))| Reseller {
        id: id.to_string(),
        name: name.to_string(),
        state: state.to_string(),
        mpa_accepted: true,
        mpn_id: Some(format!("{}", 6_100_000 + i)),
        location: Some("US".into()),
    })
    .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Seeds every random decision (faults, latency, ids), so a failing test can be replayed.
    pub seed: u64,
    /// The partner tenant the emulator plays (the `tid` of its tokens when the path names none).
    pub partner_tenant: String,
    /// At most this many `/v1/customers...` requests per partner tenant in any `window_s` seconds.
    pub rate_limit: usize,
    pub window_s: f64,
    /// Throttling switched off entirely (benchmarks).
    pub throttle: bool,
    pub tokens: TokenSettings,
    pub faults: Faults,
    /// `null` = the built-in resellers.
    pub resellers: Option<Vec<Reseller>>,
    /// Domains that exist already, owned by someone else.
    pub taken_domains: Vec<String>,
    /// Domains whose create is refused as invalid data (400 / 3000, "The company profile is not
    /// valid"): a refusal that is not a taken domain, for clients that must tell the two apart.
    pub invalid_domains: Vec<String>,
    /// Countries the partner may sell in; empty = every supported country.
    pub sellable_countries: Vec<String>,
    /// An integration sandbox: at most `sandbox_cap` customers, then 800018.
    pub sandbox: bool,
    pub sandbox_cap: usize,
    /// The `templateId` of the Microsoft Customer Agreement.
    pub mca_template_id: String,
    /// Registration number patterns by country (regex); others use `registration_default_pattern`.
    pub registration_patterns: std::collections::BTreeMap<String, String>,
    pub registration_default_pattern: String,
    /// Postal code patterns by country (regex): `GET /v1/countryvalidationrules` returns them and
    /// creates are refused when a postal code does not match (US ZIP codes are always checked).
    pub postal_code_patterns: std::collections::BTreeMap<String, String>,
    /// `POST /v1/validations/address` suggests the address in its usual form (trimmed, the city
    /// capitalised, a US state in capitals) when the one sent differs from it, with the status
    /// `StreetPartial`. Microsoft documents no rule for its suggestions.
    pub address_suggestions: bool,
    /// Refuse every create with 403 / 600006 (a provider without the right role).
    pub forbid_creates: bool,
    /// Keep the customers across restarts: loaded at start, saved when the emulator stops.
    pub state_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// Lifetime of access tokens, seconds.
    pub access_token_lifetime_s: u64,
    /// The refresh token the emulator accepts from the start (random when unset).
    pub refresh_token: Option<String>,
    /// A rotated refresh token stops working (Azure AD keeps them valid; some tenants don't).
    pub revoke_rotated_refresh_tokens: bool,
    /// Device-code logins are approved on the first poll.
    pub auto_approve_device_code: bool,
    /// The polling interval a device code asks for, seconds.
    pub device_code_interval_s: u64,
    /// How long a device code lives, seconds.
    pub device_code_lifetime_s: u64,
    /// The first this many polls of a device code are told `slow_down`.
    pub device_code_slow_down_polls: u32,
    /// Every access token is app-only (`idtyp: app`), as from an app registration set up for
    /// app-only access: the reseller flow must refuse it.
    pub app_only_tokens: bool,
    /// App+User tokens say no multi-factor sign-in (`amr` without `mfa`).
    pub without_mfa: bool,
    /// Only this client id may get tokens (any when unset).
    pub client_id: Option<String>,
    /// The secret `client_credentials` requires (any non-empty when unset).
    pub client_secret: Option<String>,
}

/// Misbehaviour on demand. Rates are probabilities per eligible request, drawn from the seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every `/v1` request: mean and ± jitter, milliseconds.
    pub latency_ms: u64,
    pub latency_jitter_ms: u64,
    /// A `/v1/customers...` request fails with 500 (800003) or 503 (900192) before it is processed.
    pub transient_error_rate: f64,
    /// A create succeeds, but the connection is dropped before the response is written.
    pub drop_after_create_rate: f64,
    /// An agreement is attested, but the connection is dropped before the response is written.
    pub drop_after_attest_rate: f64,
    /// A password is reset, but the connection is dropped before the response is written.
    pub drop_after_reset_rate: f64,
    /// A create succeeds, but the response comes `slow_response_s` seconds later (past a client's
    /// timeout).
    pub slow_response_rate: f64,
    pub slow_response_s: f64,
    /// Error bodies (4xx/5xx) come as HTML instead of JSON at this rate.
    pub html_error_rate: f64,
    /// A new customer is invisible to `GET /v1/customers...` for this many seconds.
    pub read_after_create_delay_s: f64,
    /// The read delay also hides the domain from `HEAD /v1/domains/{domain}`.
    pub read_delay_hides_domain: bool,
    /// The status of "domain already taken": 400 (code 3000) or 500 (as some users report).
    pub domain_taken_status: u16,
    /// A repeated `MS-RequestId` on a create replays the first response instead of being processed.
    pub replay_request_ids: bool,
    /// `POST /v1/validations/address` fails with 500 at this rate (it is known to be flaky).
    pub address_validation_error_rate: f64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            seed: 1,
            partner_tenant: "3f7c6c1d-8d4e-4b5a-9f10-aa11bb22cc33".into(),
            rate_limit: 500,
            window_s: 60.0,
            throttle: true,
            tokens: TokenSettings::default(),
            faults: Faults::default(),
            resellers: None,
            taken_domains: vec!["contoso.onmicrosoft.com".into()],
            invalid_domains: Vec::new(),
            sellable_countries: Vec::new(),
            sandbox: false,
            sandbox_cap: 75,
            mca_template_id: "117a69b5-d1f3-4f4f-8c5c-2a5b0d5e1c01".into(),
            registration_patterns: Default::default(),
            postal_code_patterns: Default::default(),
            address_suggestions: true,
            registration_default_pattern: r"^[0-9A-Za-z][0-9A-Za-z./ -]{3,30}$".into(),
            forbid_creates: false,
            state_file: None,
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            access_token_lifetime_s: 3600,
            refresh_token: None,
            revoke_rotated_refresh_tokens: false,
            auto_approve_device_code: true,
            device_code_interval_s: 1,
            device_code_lifetime_s: 900,
            device_code_slow_down_polls: 0,
            app_only_tokens: false,
            without_mfa: false,
            client_id: None,
            client_secret: None,
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            latency_jitter_ms: 0,
            transient_error_rate: 0.0,
            drop_after_create_rate: 0.0,
            drop_after_attest_rate: 0.0,
            drop_after_reset_rate: 0.0,
            slow_response_rate: 0.0,
            slow_response_s: 300.0,
            html_error_rate: 0.0,
            read_after_create_delay_s: 0.0,
            read_delay_hides_domain: false,
            domain_taken_status: 400,
            replay_request_ids: false,
            address_validation_error_rate: 0.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read emulator settings `{path}`: {message}")]
    Read { path: String, message: String },
    #[error("emulator setting `{name}`: {message}")]
    Invalid { name: &'static str, message: String },
}

impl EmulatorConfig {
    pub fn load(path: &Path) -> Result<EmulatorConfig, ConfigError> {
        let read_error = |message: String| ConfigError::Read {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| read_error(e.to_string()))?;
        let config: EmulatorConfig =
            toml::from_str(&text).map_err(|e| read_error(e.message().to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Rejects settings that cannot work, naming the setting.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |name, message: &str| {
            Err(ConfigError::Invalid {
                name,
                message: message.into(),
            })
        };
        if self.rate_limit == 0 {
            return invalid("rate_limit", "must be at least 1");
        }
        if !self.window_s.is_finite() || self.window_s <= 0.0 {
            return invalid("window_s", "must be positive");
        }
        if ![400, 500].contains(&self.faults.domain_taken_status) {
            return invalid("faults.domain_taken_status", "must be 400 or 500");
        }
        let rates = [
            (
                "faults.transient_error_rate",
                self.faults.transient_error_rate,
            ),
            (
                "faults.drop_after_create_rate",
                self.faults.drop_after_create_rate,
            ),
            ("faults.slow_response_rate", self.faults.slow_response_rate),
            ("faults.html_error_rate", self.faults.html_error_rate),
            (
                "faults.address_validation_error_rate",
                self.faults.address_validation_error_rate,
            ),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return invalid(name, "must be between 0 and 1");
            }
        }
        for (country, pattern) in &self.postal_code_patterns {
            if regex::Regex::new(pattern).is_err() {
                return Err(ConfigError::Invalid {
                    name: "postal_code_patterns",
                    message: format!("`{country}`: `{pattern}` is not a valid regular expression"),
                });
            }
        }
        for (country, pattern) in &self.registration_patterns {
            if regex::Regex::new(pattern).is_err() {
                return Err(ConfigError::Invalid {
                    name: "registration_patterns",
                    message: format!("`{country}`: `{pattern}` is not a valid regular expression"),
                });
            }
        }
        Ok(())
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs_f64(self.window_s)
    }

    pub fn resellers(&self) -> Vec<Reseller> {
        self.resellers.clone().unwrap_or_else(builtin_resellers)
    }
}
