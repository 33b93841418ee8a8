//! `csp-onboard emulator`: run the emulator until Ctrl-C. Flags override the settings file.

use std::io::Write;
use std::path::PathBuf;

use crate::error::ExitCode;
use crate::rate::RateSetting;

use super::{Emulator, EmulatorConfig};

#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// The loopback port to listen on (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// The emulator's own settings file (TOML; see docs/emulator.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The throttling window: `500/min` (default), `50/6s`, or `off`.
    #[arg(long, value_name = "N/PERIOD")]
    pub rate_limit: Option<RateSetting>,

    /// Seed for every random decision (faults, latency, ids).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Latency added to every /v1 request, milliseconds.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,

    /// ± jitter on that latency, milliseconds.
    #[arg(long, value_name = "MS")]
    pub jitter_ms: Option<u64>,

    /// Share of customer requests answered 500/503 before processing.
    #[arg(long, value_name = "RATE")]
    pub transient_error_rate: Option<f64>,

    /// Share of creates whose connection is dropped after the customer was created.
    #[arg(long, value_name = "RATE")]
    pub drop_after_create_rate: Option<f64>,

    /// Seconds a new customer stays invisible to GETs.
    #[arg(long, value_name = "SECONDS")]
    pub read_delay: Option<f64>,

    /// A repeated MS-RequestId on a create replays the first response.
    #[arg(long)]
    pub replay_request_ids: bool,

    /// Act as an integration sandbox (75 customers at most).
    #[arg(long)]
    pub sandbox: bool,

    /// Access token lifetime, seconds.
    #[arg(long, value_name = "SECONDS")]
    pub token_lifetime: Option<u64>,

    /// Keep the customers in this file across restarts (saved when the emulator stops).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

impl EmulatorArgs {
    fn settings(&self) -> Result<EmulatorConfig, String> {
        let mut config = match &self.config {
            Some(path) => EmulatorConfig::load(path).map_err(|e| e.to_string())?,
            None => EmulatorConfig::default(),
        };
        match self.rate_limit {
            Some(RateSetting::Off) => config.throttle = false,
            Some(RateSetting::Limit(limit)) => {
                config.throttle = true;
                config.rate_limit = limit.requests as usize;
                config.window_s = limit.period.as_secs_f64();
            }
            None => {}
        }
        let faults = &mut config.faults;
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(ms) = self.latency_ms {
            faults.latency_ms = ms;
        }
        if let Some(ms) = self.jitter_ms {
            faults.latency_jitter_ms = ms;
        }
        if let Some(rate) = self.transient_error_rate {
            faults.transient_error_rate = rate;
        }
        if let Some(rate) = self.drop_after_create_rate {
            faults.drop_after_create_rate = rate;
        }
        if let Some(delay) = self.read_delay {
            faults.read_after_create_delay_s = delay;
        }
        faults.replay_request_ids |= self.replay_request_ids;
        config.sandbox |= self.sandbox;
        if let Some(lifetime) = self.token_lifetime {
            config.tokens.access_token_lifetime_s = lifetime;
        }
        if let Some(state) = &self.state {
            config.state_file = Some(state.clone());
        }
        config.check().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// The client id to suggest when the emulator accepts any.
const DEFAULT_CLIENT: &str = "csp-onboard-emulator";

pub fn run(args: EmulatorArgs) -> ExitCode {
    let config = match args.settings() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::Usage;
        }
    };
    let emulator = match Emulator::start_with(
        config,
        args.port,
        std::sync::Arc::new(super::SystemClock::new()),
    ) {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::Usage;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", emulator.url());
    let _ = writeln!(stdout, "partner tenant: {}", emulator.tenant());
    // The emulator's own throwaway token: printing it is the point (the user needs it).
    let _ = writeln!(stdout, "refresh token: {}", emulator.refresh_token());
    let client = emulator.client_id().unwrap_or(DEFAULT_CLIENT).to_string();
    let _ = writeln!(stdout, "client id: {client}");
    let _ = writeln!(stdout, "# to rehearse against it, in another shell:");
    let _ = writeln!(
        stdout,
        "export CSP_ONBOARD_API_URL={url} CSP_ONBOARD_AUTHORITY_URL={url}",
        url = emulator.url()
    );
    let _ = writeln!(
        stdout,
        "export CSP_ONBOARD_TENANT_ID={} CSP_ONBOARD_CLIENT_ID={client}",
        emulator.tenant()
    );
    let _ = writeln!(
        stdout,
        "csp-onboard login   # device codes are approved at once here, unless --config says otherwise"
    );
    let _ = stdout.flush();
    drop(stdout);
    eprintln!("Partner Center emulator running; Ctrl-C to stop");
    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(tokio::signal::ctrl_c()));
    if let Ok(Err(e)) | Err(e) = waited {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    drop(emulator);
    ExitCode::Success
}
