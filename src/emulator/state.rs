//! Everything the emulator remembers, behind one lock: customers, the request log, tokens, device
//! codes, throttling windows, replayable replies and the seeded random source.
//!
//! Passwords issued to customers are kept (tests compare them with what the client sealed) but
//! never logged: [`LogEntry`] has no field that could hold one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use regex::Regex;
use serde::Serialize;
use serde_json::{Value, json};

use super::clock::Clock;
use super::config::{EmulatorConfig, Reseller};
use super::window::SlidingWindow;

const CULTURES_TSV: &str = include_str!("../data/supported-cultures.tsv");

/// One request as the emulator saw it (`GET /_emulator/log`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogEntry {
    /// Seconds since the emulator started, at arrival.
    pub t: f64,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub request_id: Option<String>,
    pub domain: Option<String>,
    /// The connection was dropped instead of answering (the create itself happened).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
}

/// A customer the emulator created.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CustomerRecord {
    pub id: String,
    pub commerce_id: String,
    pub domain: String,
    pub company_name: String,
    pub associated_partner_id: Option<String>,
    pub partner_tenant: String,
    /// Seconds since start.
    pub created_at: f64,
    pub request_id: Option<String>,
    pub user_id: String,
    pub user_name: String,
    pub password: String,
    pub billing_profile: Value,
    pub agreements: Vec<Value>,
    /// Passwords reset through the API (`resetpassword`), and whether the admin must change the
    /// last one at the next sign-in.
    #[serde(default)]
    pub password_resets: u32,
    #[serde(default)]
    pub must_change_password: bool,
    /// Loaded from the state file: created before this start (its `created_at` counts from the
    /// previous one), so visible at once.
    #[serde(default, skip_serializing)]
    pub restored: bool,
}

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub tenant: String,
    pub client_id: String,
    /// Issued by `client_credentials`: no user, no MFA.
    pub app_only: bool,
    pub expires_at: Duration,
}

#[derive(Debug, Clone)]
struct RefreshInfo {
    tenant: String,
    client_id: String,
    revoked: bool,
}

#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub user_code: String,
    pub tenant: String,
    pub client_id: String,
    pub approved: bool,
    /// The user said no.
    pub denied: bool,
    /// Polls so far (the first few may be told to slow down).
    pub polls: u32,
    pub expires_at: Duration,
}

pub struct Shared {
    pub config: EmulatorConfig,
    pub clock: Arc<dyn Clock>,
    pub resellers: Vec<Reseller>,
    pub cultures: HashMap<String, Vec<String>>,
    registration_patterns: HashMap<String, Regex>,
    postal_patterns: HashMap<String, Regex>,
    registration_default: Regex,
    /// The refresh token printed at start-up (the one tests and users begin with).
    initial_refresh_token: String,
    inner: Mutex<Inner>,
}

pub struct Inner {
    pub rng: SmallRng,
    pub customers: Vec<CustomerRecord>,
    by_id: HashMap<String, usize>,
    by_domain: HashMap<String, usize>,
    pub creation_count: BTreeMap<String, u64>,
    pub log: Vec<LogEntry>,
    access_tokens: HashMap<String, TokenInfo>,
    refresh_tokens: HashMap<String, RefreshInfo>,
    pub device_codes: HashMap<String, DeviceCode>,
    windows: HashMap<String, SlidingWindow>,
    /// Replies to creates by `MS-RequestId`, for `replay_request_ids`.
    pub replies: HashMap<String, (u16, Value)>,
}

impl Shared {
    pub fn new(config: EmulatorConfig, clock: Arc<dyn Clock>) -> Shared {
        let cultures = CULTURES_TSV
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once('\t'))
            .map(|(c, list)| {
                (
                    c.trim().to_string(),
                    list.trim().split(',').map(str::to_string).collect(),
                )
            })
            .collect();
        // `check()` has vetted the patterns; one that still fails to compile matches nothing.
        let compile = |p: &str| Regex::new(p).unwrap_or_else(|_| Regex::new("$^").expect("valid"));
        let registration_patterns = config
            .registration_patterns
            .iter()
            .map(|(c, p)| (c.to_uppercase(), compile(p)))
            .collect();
        let registration_default = compile(&config.registration_default_pattern);
        let postal_patterns = config
            .postal_code_patterns
            .iter()
            .map(|(c, p)| (c.to_uppercase(), compile(p)))
            .collect();
        let mut inner = Inner {
            rng: SmallRng::seed_from_u64(config.seed),
            customers: Vec::new(),
            by_id: HashMap::new(),
            by_domain: HashMap::new(),
            creation_count: BTreeMap::new(),
            log: Vec::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            device_codes: HashMap::new(),
            windows: HashMap::new(),
            replies: HashMap::new(),
        };
        let first = config
            .tokens
            .refresh_token
            .clone()
            .unwrap_or_else(|| random_token(&mut inner.rng, 48));
        inner.refresh_tokens.insert(
            first.clone(),
            RefreshInfo {
                tenant: config.partner_tenant.clone(),
                client_id: config.tokens.client_id.clone().unwrap_or_default(),
                revoked: false,
            },
        );
        Shared {
            resellers: config.resellers(),
            config,
            clock,
            cultures,
            registration_patterns,
            postal_patterns,
            registration_default,
            initial_refresh_token: first,
            inner: Mutex::new(inner),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is one statement
        // group); keep serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The refresh token printed at start-up.
    pub fn initial_refresh_token(&self) -> String {
        self.initial_refresh_token.clone()
    }

    /// The configured postal code pattern of `country`, if any.
    pub fn postal_pattern(&self, country: &str) -> Option<&Regex> {
        self.postal_patterns.get(country)
    }

    pub fn registration_pattern(&self, country: &str) -> &Regex {
        self.registration_patterns
            .get(country)
            .unwrap_or(&self.registration_default)
    }

    pub fn reseller(&self, id: &str) -> Option<&Reseller> {
        self.resellers
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// Marks a pending device-code login approved ("the user signed in"); false if unknown.
    pub fn approve_device_code(&self, user_code: &str) -> bool {
        self.decide_device_code(user_code, true)
    }

    /// The user declines the sign-in.
    pub fn deny_device_code(&self, user_code: &str) -> bool {
        self.decide_device_code(user_code, false)
    }

    fn decide_device_code(&self, user_code: &str, approve: bool) -> bool {
        let mut inner = self.lock();
        match inner
            .device_codes
            .values_mut()
            .find(|d| d.user_code == user_code)
        {
            Some(device) => {
                device.approved = approve;
                device.denied = !approve;
                true
            }
            None => false,
        }
    }

    /// Loads the customers of `state_file`, if it exists.
    pub fn load_state(&self) -> Result<usize, String> {
        let Some(path) = &self.config.state_file else {
            return Ok(0);
        };
        if !path.exists() {
            return Ok(0);
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let customers: Vec<CustomerRecord> = serde_json::from_slice(&bytes)
            .map_err(|e| format!("`{}` is not an emulator state file: {e}", path.display()))?;
        let count = customers.len();
        let mut inner = self.lock();
        for mut customer in customers {
            customer.restored = true;
            inner.add_customer(customer);
        }
        Ok(count)
    }

    /// Writes the customers to `state_file` (0600: it holds the passwords issued).
    pub fn save_state(&self) -> Result<(), String> {
        let Some(path) = &self.config.state_file else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&self.lock().customers).map_err(|e| e.to_string())?;
        let temp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, path)
        };
        write().map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    }

    /// Whether `f` of a random draw says the fault happens.
    pub fn chance(&self, rate: f64) -> bool {
        rate > 0.0 && self.lock().rng.random::<f64>() < rate
    }
}

impl Inner {
    /// A JWT-shaped token (the signature is random: nothing verifies it). `exp` is Unix time.
    pub fn issue_access_token(
        &mut self,
        info: TokenInfo,
        audience: &str,
        exp: u64,
        mfa: bool,
    ) -> String {
        let claims = if info.app_only {
            json!({"aud": audience, "tid": info.tenant, "appid": info.client_id,
                   "idtyp": "app", "roles": [], "exp": exp})
        } else {
            let amr = if mfa {
                json!(["pwd", "mfa"])
            } else {
                json!(["pwd"])
            };
            json!({"aud": audience, "tid": info.tenant, "appid": info.client_id,
                   "amr": amr, "scp": "user_impersonation",
                   "upn": "admin@partner.onmicrosoft.com", "exp": exp})
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"emulator"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signature = random_token(&mut self.rng, 43);
        let token = format!("{header}.{body}.{signature}");
        self.access_tokens.insert(token.clone(), info);
        token
    }

    pub fn access_token(&self, token: &str) -> Option<&TokenInfo> {
        self.access_tokens.get(token)
    }

    /// Exchanges a refresh token: `Some((tenant, client))` when it is known and usable.
    pub fn redeem_refresh_token(&mut self, token: &str, revoke: bool) -> Option<(String, String)> {
        let info = self.refresh_tokens.get_mut(token)?;
        if info.revoked {
            return None;
        }
        if revoke {
            info.revoked = true;
        }
        Some((info.tenant.clone(), info.client_id.clone()))
    }

    pub fn issue_refresh_token(&mut self, tenant: &str, client_id: &str) -> String {
        let token = random_token(&mut self.rng, 48);
        self.refresh_tokens.insert(
            token.clone(),
            RefreshInfo {
                tenant: tenant.into(),
                client_id: client_id.into(),
                revoked: false,
            },
        );
        token
    }

    pub fn admit(
        &mut self,
        tenant: &str,
        now: Duration,
        limit: usize,
        window: Duration,
    ) -> Result<(), u64> {
        self.windows
            .entry(tenant.to_string())
            .or_insert_with(|| SlidingWindow::new(limit, window))
            .admit(now)
    }

    pub fn customer_by_domain(&self, domain: &str) -> Option<&CustomerRecord> {
        self.by_domain.get(domain).map(|&i| &self.customers[i])
    }

    pub fn customer_by_id(&self, id: &str) -> Option<&CustomerRecord> {
        self.by_id.get(id).map(|&i| &self.customers[i])
    }

    pub fn customer_by_id_mut(&mut self, id: &str) -> Option<&mut CustomerRecord> {
        let i = *self.by_id.get(id)?;
        Some(&mut self.customers[i])
    }

    pub fn add_customer(&mut self, record: CustomerRecord) {
        let index = self.customers.len();
        self.by_id.insert(record.id.clone(), index);
        self.by_domain.insert(record.domain.clone(), index);
        *self
            .creation_count
            .entry(record.domain.clone())
            .or_default() += 1;
        self.customers.push(record);
    }

    pub fn new_guid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string()
    }
}

fn random_token(rng: &mut SmallRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A password like Partner Center's: 16 characters with upper, lower, digit and symbol. Drawn from
/// the operating system's generator, not the seeded one: seeds are for faults, not secrets.
pub fn new_password() -> String {
    const CLASSES: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!@#$%^&*-+=?",
    ];
    let mut rng = rand::rng();
    let mut chars: Vec<u8> = CLASSES
        .iter()
        .map(|class| class[rng.random_range(0..class.len())])
        .collect();
    while chars.len() < 16 {
        let class = CLASSES[rng.random_range(0..CLASSES.len())];
        chars.push(class[rng.random_range(0..class.len())]);
    }
    for i in (1..chars.len()).rev() {
        chars.swap(i, rng.random_range(0..=i));
    }
    String::from_utf8(chars).unwrap_or_default()
}
