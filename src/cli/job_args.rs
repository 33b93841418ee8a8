//! `run` and `resume`: their flags, and the settings they resolve to.
//!
//! Precedence: flags, then the environment (names in CONTRACTS.md), then `--config F`,
//! `./csp-onboard.toml`, and `$XDG_CONFIG_HOME/csp-onboard/config.toml`. `resume` reuses the last
//! run's options (rate, concurrency, attempts, timeouts, backoff) unless a flag overrides them;
//! where Partner Center is and who we are there always come from the configuration. Secrets (client secret, refresh token) come only from
//! the environment or a config file — never from argv, where any user of the machine can read them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::dispatch::DispatchSettings;
use crate::error::Error;
use crate::job::Connection;
use crate::partner_center::url_is_allowed;
use crate::rate::RateSetting;

/// The most requests in flight a run may be allowed.
const MAX_CONCURRENCY: usize = 100_000;

pub const GLOBAL_API: &str = "https://api.partnercenter.microsoft.com";
pub const GLOBAL_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Flags shared by `run` and `resume`.
#[derive(Debug, Args, Default)]
pub struct JobArgs {
    /// Requests per period, never exceeded: `500/min` (default), `50/6s`; `off` for benchmarks.
    #[arg(long, value_name = "N/PERIOD")]
    pub rate_limit: Option<RateSetting>,

    /// The most requests in flight at once (default 1000). Below it, the number follows the rate
    /// times the observed latency.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Create attempts per row in this run; a row still without a verdict is left for `resume`
    /// (default 10).
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,

    /// Seconds before a request is abandoned (its outcome is then unknown; default 120).
    #[arg(long, value_name = "SECONDS")]
    pub request_timeout: Option<f64>,

    /// Seconds to keep looking for a customer whose create had an unknown outcome (default 120).
    #[arg(long, value_name = "SECONDS")]
    pub reconcile_patience: Option<f64>,

    /// Seconds between those lookups (default 10).
    #[arg(long, value_name = "SECONDS")]
    pub reconcile_interval: Option<f64>,

    /// The first retry wait, seconds; it doubles per attempt (default 1; 0 for none).
    #[arg(long, value_name = "SECONDS")]
    pub backoff_base: Option<f64>,

    /// The longest retry wait, seconds (default 60).
    #[arg(long, value_name = "SECONDS")]
    pub backoff_cap: Option<f64>,

    /// Settings file (TOML); see the README.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,

    /// Rehearse against the built-in Partner Center emulator (a throwaway key and journal in
    /// `./csp-onboard-demo/`).
    #[arg(long)]
    pub emulator: bool,
}

/// `csp-onboard.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub api_url: Option<String>,
    pub authority_url: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub recipient: Option<String>,
    pub token_cache: Option<PathBuf>,
    pub rate_limit: Option<String>,
    pub concurrency: Option<usize>,
    pub max_attempts: Option<u32>,
    pub request_timeout_s: Option<f64>,
    pub reconcile_patience_s: Option<f64>,
    /// The file this was read from.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

impl ConfigFile {
    /// The first config file that exists, in precedence order, read and parsed.
    pub fn discover(explicit: Option<&Path>) -> Result<ConfigFile, Error> {
        let candidates: Vec<PathBuf> = match explicit {
            Some(path) => vec![path.to_path_buf()],
            None => [
                Some(PathBuf::from("csp-onboard.toml")),
                dirs::config_dir().map(|d| d.join("csp-onboard").join("config.toml")),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        for path in candidates {
            if !path.exists() {
                if explicit.is_some() {
                    return Err(Error::usage(
                        format!("config file `{}` does not exist", path.display()),
                        None,
                    ));
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::usage(
                    format!("cannot read config file `{}`: {e}", path.display()),
                    None,
                )
            })?;
            let mut file: ConfigFile = toml::from_str(&text).map_err(|e| {
                Error::usage(
                    format!("config file `{}`: {}", path.display(), e.message()),
                    Some("see the README for the settings".into()),
                )
            })?;
            file.check_permissions(&path)?;
            file.path = Some(path);
            return Ok(file);
        }
        Ok(ConfigFile::default())
    }
}

impl ConfigFile {
    /// As ssh does with its own files: a configuration anyone else may change could send the
    /// customers' data (and the sign-in) elsewhere, and one holding a secret that anyone else may
    /// read has given it away.
    fn check_permissions(&self, path: &Path) -> Result<(), Error> {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| {
                Error::usage(
                    format!("cannot read config file `{}`: {e}", path.display()),
                    None,
                )
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o022 != 0 {
            return Err(Error::usage(
                format!(
                    "config file `{}` can be changed by other users (mode {mode:04o}): it is not used",
                    path.display()
                ),
                Some(format!("`chmod go-w {}`", path.display())),
            ));
        }
        let holds_secret = self.refresh_token.is_some() || self.client_secret.is_some();
        if holds_secret && mode & 0o044 != 0 {
            return Err(Error::usage(
                format!(
                    "config file `{}` holds a secret and can be read by other users (mode {mode:04o}): it is not used",
                    path.display()
                ),
                Some(format!(
                    "`chmod 600 {}`, and replace the secret: others may have read it",
                    path.display()
                )),
            ));
        }
        Ok(())
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn remembered_str(remembered: &Value, key: &str) -> Option<String> {
    remembered
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn remembered_f64(remembered: &Value, key: &str) -> Option<f64> {
    remembered.get(key).and_then(Value::as_f64)
}

/// A number as a person would write it: `1e30`, not thirty-one digits.
fn shown_number(v: f64) -> String {
    if v.is_finite() && v != 0.0 && !(1e-6..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A setting in seconds: its flag, the key `resume` remembers it under, the config file's key,
/// and the longest it may be.
struct SecondsSetting {
    flag: &'static str,
    remembered: &'static str,
    file_key: Option<&'static str>,
    max: f64,
    /// Whether zero is allowed.
    zero: bool,
}

const REQUEST_TIMEOUT: SecondsSetting = SecondsSetting {
    flag: "request-timeout",
    remembered: "request_timeout",
    file_key: Some("request_timeout_s"),
    max: 3600.0,
    zero: false,
};
const RECONCILE_PATIENCE: SecondsSetting = SecondsSetting {
    flag: "reconcile-patience",
    remembered: "reconcile_patience",
    file_key: Some("reconcile_patience_s"),
    max: 86_400.0,
    zero: true,
};
const RECONCILE_INTERVAL: SecondsSetting = SecondsSetting {
    flag: "reconcile-interval",
    remembered: "reconcile_interval",
    file_key: None,
    max: 3600.0,
    zero: true,
};
const BACKOFF_BASE: SecondsSetting = SecondsSetting {
    flag: "backoff-base",
    remembered: "backoff_base",
    file_key: None,
    max: 3600.0,
    zero: true,
};
const BACKOFF_CAP: SecondsSetting = SecondsSetting {
    flag: "backoff-cap",
    remembered: "backoff_cap",
    file_key: None,
    max: 86_400.0,
    zero: true,
};

impl SecondsSetting {
    /// The value from the flag, else the last run's (for `resume`), else the file; checked.
    fn resolve(
        &self,
        flag: Option<f64>,
        remembered: &Value,
        file: &ConfigFile,
        from_file: Option<f64>,
        default: Duration,
    ) -> Result<Duration, Error> {
        let (value, source) = if let Some(v) = flag {
            (v, format!("`--{} {}`", self.flag, shown_number(v)))
        } else if let Some(v) = remembered_f64(remembered, self.remembered) {
            (
                v,
                format!("the last run's {} of {}", self.flag, shown_number(v)),
            )
        } else if let (Some(v), Some(key)) = (from_file, self.file_key) {
            let path = file.path.as_deref().unwrap_or(Path::new("the config file"));
            (
                v,
                format!("`{key} = {}` in `{}`", shown_number(v), path.display()),
            )
        } else {
            return Ok(default);
        };
        let low = if self.zero { "0" } else { "more than 0" };
        let in_range =
            value.is_finite() && value <= self.max && (value > 0.0 || (self.zero && value == 0.0));
        let duration = in_range
            .then(|| Duration::try_from_secs_f64(value).ok())
            .flatten()
            .ok_or_else(|| {
                Error::usage(
                    format!("{source}: must be {low} to {} seconds", self.max),
                    None,
                )
            })?;
        Ok(duration)
    }
}

/// Everything a job needs but the sheet and the journal.
pub struct Resolved {
    pub connection: Connection,
    pub recipient: String,
    pub rate: RateSetting,
    pub dispatch: DispatchSettings,
    pub request_timeout: Duration,
    pub remembered: Value,
}

/// Resolves the settings of a job. `remembered` holds the last run's settings (for `resume`).
pub fn resolve(args: &JobArgs, remembered: &Value, demo: Option<&Demo>) -> Result<Resolved, Error> {
    let file = ConfigFile::discover(args.config.as_deref())?;
    // Where and who (URLs, tenant, client, recipient) is configuration: the environment, then the
    // files. Only run options are remembered by `resume` (a fixed URL must not come back stale).
    let configured =
        |env_name: &str, from_file: &Option<String>| env(env_name).or_else(|| from_file.clone());
    let connection = match demo {
        Some(demo) => demo.connection.clone(),
        None => {
            let api_url = configured("CSP_ONBOARD_API_URL", &file.api_url)
                .unwrap_or_else(|| GLOBAL_API.into());
            let authority_url = configured("CSP_ONBOARD_AUTHORITY_URL", &file.authority_url)
                .unwrap_or_else(|| GLOBAL_AUTHORITY.into());
            for (name, url) in [
                ("CSP_ONBOARD_API_URL", &api_url),
                ("CSP_ONBOARD_AUTHORITY_URL", &authority_url),
            ] {
                if !url_is_allowed(url) {
                    return Err(Error::usage(
                        format!("`{url}` ({name}) is not an https:// URL"),
                        Some(
                            "only https:// is accepted, except loopback addresses (the emulator)"
                                .into(),
                        ),
                    ));
                }
            }
            let required = |value: Option<String>, what: &str, env_name: &str, key: &str| {
                value.ok_or_else(|| {
                    Error::usage(
                        format!("no {what}: set `{env_name}` or `{key}` in csp-onboard.toml"),
                        Some("or rehearse with `--emulator`".into()),
                    )
                })
            };
            let tenant_id = required(
                configured("CSP_ONBOARD_TENANT_ID", &file.tenant_id),
                "partner tenant id",
                "CSP_ONBOARD_TENANT_ID",
                "tenant_id",
            )?;
            let client_id = required(
                configured("CSP_ONBOARD_CLIENT_ID", &file.client_id),
                "client (application) id",
                "CSP_ONBOARD_CLIENT_ID",
                "client_id",
            )?;
            Connection {
                api_url,
                authority_url,
                tenant_id,
                client_id,
                client_secret: env("CSP_ONBOARD_CLIENT_SECRET")
                    .or(file.client_secret.clone())
                    .map(SecretString::from),
                refresh_token: env("CSP_ONBOARD_REFRESH_TOKEN")
                    .or(file.refresh_token.clone())
                    .map(SecretString::from),
                token_cache: env("CSP_ONBOARD_TOKEN_CACHE")
                    .map(PathBuf::from)
                    .or(file.token_cache.clone())
                    .unwrap_or_else(crate::auth::default_cache_path),
            }
        }
    };
    let recipient = match demo {
        Some(demo) => demo.recipient.clone(),
        None => configured("CSP_ONBOARD_RECIPIENT", &file.recipient).ok_or_else(|| {
            Error::usage(
                "no recipient to seal the customers' admin passwords to: set `CSP_ONBOARD_RECIPIENT` (an `age1...` public key)",
                Some("create a key pair with `csp-onboard keygen --out key.txt`; keep key.txt safe, it opens the passwords".into()),
            )
        })?,
    };

    let rate = match &args.rate_limit {
        Some(rate) => *rate,
        None => match remembered_str(remembered, "rate_limit").or(file.rate_limit.clone()) {
            Some(text) => text.parse().map_err(|e: String| Error::usage(e, None))?,
            None => RateSetting::default(),
        },
    };
    let defaults = DispatchSettings::default();
    let number = |flag: Option<f64>, key: &str, from_file: Option<f64>| {
        flag.or_else(|| remembered_f64(remembered, key))
            .or(from_file)
    };
    let concurrency = number(
        args.concurrency.map(|c| c as f64),
        "concurrency",
        file.concurrency.map(|c| c as f64),
    )
    .map_or(defaults.concurrency, |c| c as usize);
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(Error::usage(
            format!("`--concurrency` must be 1 to {MAX_CONCURRENCY}"),
            None,
        ));
    }
    let max_attempts = number(
        args.max_attempts.map(f64::from),
        "max_attempts",
        file.max_attempts.map(f64::from),
    )
    .map_or(defaults.max_attempts, |n| n as u32)
    .max(1);
    let request_timeout = REQUEST_TIMEOUT.resolve(
        args.request_timeout,
        remembered,
        &file,
        file.request_timeout_s,
        Duration::from_secs(120),
    )?;
    let dispatch = DispatchSettings {
        concurrency,
        max_attempts,
        backoff_base: BACKOFF_BASE.resolve(
            args.backoff_base,
            remembered,
            &file,
            None,
            defaults.backoff_base,
        )?,
        backoff_cap: BACKOFF_CAP.resolve(
            args.backoff_cap,
            remembered,
            &file,
            None,
            defaults.backoff_cap,
        )?,
        reconcile_patience: RECONCILE_PATIENCE.resolve(
            args.reconcile_patience,
            remembered,
            &file,
            file.reconcile_patience_s,
            defaults.reconcile_patience,
        )?,
        reconcile_interval: RECONCILE_INTERVAL.resolve(
            args.reconcile_interval,
            remembered,
            &file,
            None,
            defaults.reconcile_interval,
        )?,
        permission_stop_after: defaults.permission_stop_after,
    };
    let remembered = json!({
        "api_url": connection.api_url,
        "authority_url": connection.authority_url,
        "tenant_id": connection.tenant_id,
        "client_id": connection.client_id,
        "recipient": recipient,
        "rate_limit": rate.to_string(),
        "concurrency": dispatch.concurrency,
        "max_attempts": dispatch.max_attempts,
        "request_timeout": request_timeout.as_secs_f64(),
        "reconcile_patience": dispatch.reconcile_patience.as_secs_f64(),
        "reconcile_interval": dispatch.reconcile_interval.as_secs_f64(),
        "backoff_base": dispatch.backoff_base.as_secs_f64(),
        "backoff_cap": dispatch.backoff_cap.as_secs_f64(),
        "emulator": demo.is_some(),
    });
    Ok(Resolved {
        connection,
        recipient,
        rate,
        dispatch,
        request_timeout,
        remembered,
    })
}

/// A rehearsal on the built-in emulator: the emulator itself, a throwaway key, a demo folder.
pub struct Demo {
    pub emulator: crate::emulator::Emulator,
    pub connection: Connection,
    pub recipient: String,
    pub folder: PathBuf,
    pub identity: PathBuf,
}

pub const DEMO_FOLDER: &str = "csp-onboard-demo";

impl Demo {
    /// The rehearsal of the job whose journal is `journal`: its emulator's customers are kept
    /// beside the journal (`<journal>.emulator.json`), so a `resume` meets the customers the run
    /// created, and a new journal starts with a new, empty Partner Center.
    pub fn start(journal: &Path) -> Result<Demo, Error> {
        let folder = PathBuf::from(DEMO_FOLDER);
        let write_error = |source| Error::Write {
            path: folder.clone(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(write_error)?;
        let identity = folder.join("identity.txt");
        if !identity.exists() {
            let (contents, _) = crate::credentials::generate_identity();
            crate::credentials::write_private_file(
                &identity,
                secrecy::ExposeSecret::expose_secret(&contents).as_bytes(),
            )
            .map_err(|e| Error::usage(e.to_string(), None))?;
        }
        let recipient = crate::credentials::recipient_of(&identity)
            .map_err(|e| Error::usage(e.to_string(), None))?;
        let mut state = journal.as_os_str().to_owned();
        state.push(".emulator.json");
        let config = crate::emulator::EmulatorConfig {
            state_file: Some(PathBuf::from(state)),
            ..crate::emulator::EmulatorConfig::default()
        };
        let emulator = crate::emulator::Emulator::start(config)
            .map_err(|e| Error::usage(e.to_string(), None))?;
        let connection = Connection {
            api_url: emulator.url().to_string(),
            authority_url: emulator.url().to_string(),
            tenant_id: emulator.tenant().to_string(),
            client_id: "csp-onboard-demo".into(),
            client_secret: None,
            refresh_token: Some(SecretString::from(emulator.refresh_token())),
            token_cache: folder.join("tokens.json"),
        };
        Ok(Demo {
            emulator,
            connection,
            recipient,
            folder,
            identity,
        })
    }
}
