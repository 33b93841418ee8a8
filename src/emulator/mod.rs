//! A local Partner Center: the same contract as the real one (partner-center-api.md), on loopback,
//! with the limits and faults a bulk onboarding run must survive, switchable and seeded.
//!
//! It is an independent implementation: it never calls `mapping`, `validate`, `model` or
//! `partner_center`, and writes its own checks from the contract, so that a misreading of the
//! contract in the client cannot hide behind the same misreading here. It shares only data (the
//! cultures table) with the rest of the crate.
//!
//! Tests start it in-process ([`Emulator::start`]) on port 0 and inspect its state directly; the
//! same state is served at `/_emulator/log` and `/_emulator/customers` for out-of-process checks.
//! It runs on a runtime of its own, on its own thread, so sync tests and async callers use it alike.
//! State lives in memory; with `state_file` the customers are loaded at start and saved when the
//! emulator stops (a rehearsal can span restarts; a `kill -9` loses what was created since).

mod auth;
mod checks;
pub mod cli;
pub mod clock;
pub mod config;
mod customers;
mod locale;
mod reference;
mod server;
mod state;
mod window;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, EmulatorConfig, Faults, Reseller, TokenSettings, builtin_resellers};
pub use state::{CustomerRecord, LogEntry};

use state::Shared;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the emulator cannot listen on 127.0.0.1:{port}")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the emulator cannot start its runtime")]
    Runtime(#[source] std::io::Error),
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    url: String,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Emulator {
    /// Starts on a free loopback port with the system clock.
    pub fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        Emulator::start_with(config, 0, Arc::new(SystemClock::new()))
    }

    /// Starts on `port` (0 = any free one) with the given clock.
    pub fn start_with(
        config: EmulatorConfig,
        port: u16,
        clock: Arc<dyn Clock>,
    ) -> Result<Emulator, EmulatorError> {
        config.check()?;
        let listen_error = |source| EmulatorError::Listen { port, source };
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(listen_error)?;
        listener.set_nonblocking(true).map_err(listen_error)?;
        let address = listener.local_addr().map_err(listen_error)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("emulator")
            .enable_all()
            .build()
            .map_err(EmulatorError::Runtime)?;
        let shared = Arc::new(Shared::new(config, clock));
        shared.load_state().map_err(|message| {
            EmulatorError::Config(ConfigError::Invalid {
                name: "state_file",
                message,
            })
        })?;
        let router = server::router(shared.clone());
        let saver = shared.clone();
        let (shutdown, stop) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("emulator".into())
            .spawn(move || {
                runtime.block_on(async move {
                    if saver.config.state_file.is_some() {
                        tokio::spawn(keep_state_saved(saver));
                    }
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => server::serve(listener, router, stop).await,
                        Err(e) => tracing::error!("emulator: cannot use its socket: {e}"),
                    }
                });
                runtime.shutdown_background();
            })
            .map_err(EmulatorError::Runtime)?;
        Ok(Emulator {
            url: format!("http://127.0.0.1:{}", address.port()),
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: both the API base and the token authority.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The partner tenant its tokens are for.
    pub fn tenant(&self) -> &str {
        &self.shared.config.partner_tenant
    }

    /// The only client id it gives tokens to, if it is that strict.
    pub fn client_id(&self) -> Option<&str> {
        self.shared.config.tokens.client_id.as_deref()
    }

    /// A refresh token it accepts (the first one; every exchange issues a new one).
    pub fn refresh_token(&self) -> String {
        self.shared.initial_refresh_token()
    }

    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.lock().log.clone()
    }

    pub fn customers(&self) -> Vec<CustomerRecord> {
        self.shared.lock().customers.clone()
    }

    /// How many times a domain was created (1 at most, if the client is right).
    pub fn creation_count(&self, domain: &str) -> u64 {
        self.shared
            .lock()
            .creation_count
            .get(domain)
            .copied()
            .unwrap_or(0)
    }

    /// Successful creates so far.
    pub fn created(&self) -> usize {
        self.shared.lock().customers.len()
    }

    /// Waits (polling) until `done` holds for the log, or `timeout` passes; says which.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[LogEntry]) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if done(&self.shared.lock().log) {
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Approves a pending device-code login, as the user would in a browser.
    pub fn approve_device_code(&self, user_code: &str) -> bool {
        self.shared.approve_device_code(user_code)
    }

    /// Declines a pending device-code login, as the user would in a browser.
    pub fn deny_device_code(&self, user_code: &str) -> bool {
        self.shared.deny_device_code(user_code)
    }
}

/// With a state file, the customers are also saved twice a second while they change, so a
/// rehearsal whose process is killed (or quits at once) still finds them on `resume`.
async fn keep_state_saved(shared: Arc<Shared>) {
    let mut saved = shared.lock().customers.len();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = shared.lock().customers.len();
        if now != saved {
            if let Err(message) = shared.save_state() {
                tracing::error!("emulator: {message}");
            }
            saved = now;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Err(message) = self.shared.save_state() {
            tracing::error!("emulator: {message}");
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
