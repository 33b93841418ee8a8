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
use serde_json::{Value, json};

use super::config::{ConfigFile, Source, Sourced, layered};
use super::connection::{self, ConnectionArgs, Overrides, problems_error};
use crate::dispatch::DispatchSettings;
use crate::error::Error;
use crate::job::Connection;
use crate::partner_center::Cloud;
use crate::rate::RateSetting;

/// Partner Center's documented limit for the Customer resource, per partner tenant.
const DOCUMENTED_PER_MINUTE: f64 = 500.0;

/// The most requests in flight a run may be allowed.
const MAX_CONCURRENCY: usize = 100_000;

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

    /// Allow a `--rate-limit` above the documented 500 requests per minute (Partner Center may
    /// have granted more; a 429 still slows the run down).
    #[arg(long)]
    pub allow_above_documented_limit: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,

    /// Rehearse against the built-in Partner Center emulator (a throwaway key and journal in
    /// `./csp-onboard-demo/`).
    #[arg(long)]
    pub emulator: bool,
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
    max: f64,
    /// Whether zero is allowed.
    zero: bool,
}

const REQUEST_TIMEOUT: SecondsSetting = SecondsSetting {
    flag: "request-timeout",
    remembered: "request_timeout",
    max: 3600.0,
    zero: false,
};
const RECONCILE_PATIENCE: SecondsSetting = SecondsSetting {
    flag: "reconcile-patience",
    remembered: "reconcile_patience",
    max: 86_400.0,
    zero: true,
};
const RECONCILE_INTERVAL: SecondsSetting = SecondsSetting {
    flag: "reconcile-interval",
    remembered: "reconcile_interval",
    max: 3600.0,
    zero: true,
};
const BACKOFF_BASE: SecondsSetting = SecondsSetting {
    flag: "backoff-base",
    remembered: "backoff_base",
    max: 3600.0,
    zero: true,
};
const BACKOFF_CAP: SecondsSetting = SecondsSetting {
    flag: "backoff-cap",
    remembered: "backoff_cap",
    max: 86_400.0,
    zero: true,
};

impl SecondsSetting {
    /// The value from the flag, else the last run's (for `resume`), else the file; checked.
    fn resolve(
        &self,
        flag: Option<f64>,
        remembered: &Value,
        from_file: Option<Sourced<f64>>,
        default: Duration,
    ) -> Result<Duration, Error> {
        let (value, source) = if let Some(v) = flag {
            (v, format!("`--{} {}`", self.flag, shown_number(v)))
        } else if let Some(v) = remembered_f64(remembered, self.remembered) {
            (
                v,
                format!("the last run's {} of {}", self.flag, shown_number(v)),
            )
        } else if let Some(found) = from_file {
            let shown = match &found.from {
                Source::File {
                    path,
                    profile: None,
                    key,
                } => format!(
                    "`{key} = {}` in `{}`",
                    shown_number(found.value),
                    path.display()
                ),
                other => format!("{} of {}", other, shown_number(found.value)),
            };
            (found.value, shown)
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
    // `resume` keeps to the profile of the job's last run unless told otherwise.
    let mut connection_args = args.connection.clone();
    if connection_args.profile.is_none() {
        connection_args.profile = remembered_str(remembered, "profile").filter(|p| p != "default");
    }
    let file = ConfigFile::discover(
        connection_args.config.as_deref(),
        connection_args.profile.as_deref(),
    )?;
    // Where and who (URLs, tenant, client, recipient) is configuration: the environment, then the
    // files. Only run options are remembered by `resume` (a fixed URL must not come back stale).
    let connection = match demo {
        Some(demo) => demo.connection.clone(),
        None => {
            connection::resolve(&connection_args, &Overrides::default(), &file)
                .map_err(problems_error)?
                .connection
        }
    };
    let recipient = match demo {
        Some(demo) => demo.recipient.clone(),
        None => layered(None, "CSP_ONBOARD_RECIPIENT", &file, "recipient", |s| &s.recipient)
            .map(|found| found.value)
            .ok_or_else(|| {
                Error::usage(
                    "no recipient to seal the customers' admin passwords to: set `CSP_ONBOARD_RECIPIENT` (an `age1...` public key)",
                    Some("create a key pair with `csp-onboard keygen --out key.txt`; keep key.txt safe, it opens the passwords".into()),
                )
            })?,
    };

    let rate = match &args.rate_limit {
        Some(rate) => *rate,
        None => match remembered_str(remembered, "rate_limit")
            .or_else(|| file.get("rate_limit", |s| &s.rate_limit).map(|f| f.value))
        {
            Some(text) => text.parse().map_err(|e: String| Error::usage(e, None))?,
            None => RateSetting::default(),
        },
    };
    let allow_above = args.allow_above_documented_limit
        || remembered
            .get("allow_above_documented_limit")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if let RateSetting::Limit(limit) = rate {
        let per_minute = f64::from(limit.requests) * 60.0 / limit.period.as_secs_f64();
        if per_minute > DOCUMENTED_PER_MINUTE + 1e-9 && !allow_above {
            return Err(Error::usage(
                format!(
                    "`--rate-limit {rate}` is {per_minute:.0} requests per minute, above the 500 Partner Center documents per partner tenant"
                ),
                Some(
                    "add `--allow-above-documented-limit` if Partner Center granted you more"
                        .into(),
                ),
            ));
        }
    }
    let defaults = DispatchSettings::default();
    let number = |flag: Option<f64>, key: &str, from_file: Option<f64>| {
        flag.or_else(|| remembered_f64(remembered, key))
            .or(from_file)
    };
    let concurrency = number(
        args.concurrency.map(|c| c as f64),
        "concurrency",
        file.get("concurrency", |s| &s.concurrency)
            .map(|f| f.value as f64),
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
        file.get("max_attempts", |s| &s.max_attempts)
            .map(|f| f64::from(f.value)),
    )
    .map_or(defaults.max_attempts, |n| n as u32)
    .max(1);
    let request_timeout = REQUEST_TIMEOUT.resolve(
        args.request_timeout,
        remembered,
        file.get("request_timeout_s", |s| &s.request_timeout_s),
        Duration::from_secs(120),
    )?;
    let dispatch = DispatchSettings {
        concurrency,
        max_attempts,
        backoff_base: BACKOFF_BASE.resolve(
            args.backoff_base,
            remembered,
            None,
            defaults.backoff_base,
        )?,
        backoff_cap: BACKOFF_CAP.resolve(
            args.backoff_cap,
            remembered,
            None,
            defaults.backoff_cap,
        )?,
        reconcile_patience: RECONCILE_PATIENCE.resolve(
            args.reconcile_patience,
            remembered,
            file.get("reconcile_patience_s", |s| &s.reconcile_patience_s),
            defaults.reconcile_patience,
        )?,
        reconcile_interval: RECONCILE_INTERVAL.resolve(
            args.reconcile_interval,
            remembered,
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
        "profile": connection.profile,
        "allow_above_documented_limit": allow_above,
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

/// The journal a rehearsal of `sheet` uses (`run --emulator`), in the demo folder.
pub fn demo_journal(sheet: &Path) -> PathBuf {
    let stem = sheet
        .file_stem()
        .map_or_else(|| "sheet".into(), |s| s.to_string_lossy().into_owned());
    Path::new(DEMO_FOLDER).join(format!("{stem}.journal.sqlite"))
}

impl Demo {
    /// The rehearsal of the job whose journal is `journal`: its emulator's customers are kept
    /// beside the journal (`<journal>.emulator.json`), so a `resume` meets the customers the run
    /// created, and a new journal starts with a new, empty Partner Center.
    pub fn start(journal: &Path, locale: Option<&str>) -> Result<Demo, Error> {
        let locale = super::connection::locale_or_environment(locale)?;
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
            cloud: Cloud::Global,
            profile: "default".into(),
            token_key: None,
            api_url: emulator.url().to_string(),
            authority_url: emulator.url().to_string(),
            tenant_id: emulator.tenant().to_string(),
            client_id: "csp-onboard-demo".into(),
            client_secret: None,
            refresh_token: Some(SecretString::from(emulator.refresh_token())),
            token_cache: folder.join("tokens.json"),
            locale,
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
