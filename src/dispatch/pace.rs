//! The pace of requests to the Customer resource, and the budget of a partner tenant that every
//! run on the machine shares.
//!
//! **The pace** is GCRA with a burst of 1: a request may go once the previous slot's interval has
//! passed, and takes the next one — paced a fraction of a percent under the limit (and at least
//! 300 ms per period). A burst of 1 is what keeps the strict sliding window of Partner Center from
//! ever seeing more than the limit in any period (a burst of N would let almost 2N through in the
//! first period); the margin absorbs network jitter.
//!
//! **A 429 is about the whole tenant**, not the one row: everyone pauses for `Retry-After`, then the
//! pace steps down (100% → 80% → 60% → 40% of the limit) and climbs back one step per quiet period.
//!
//! **One budget per partner tenant.** Partner Center counts a tenant's requests, not a process's:
//! the nightly job and an operator's `resume` on the same tenant must share one budget, or each
//! takes the whole of it and they collide in 429s. So the pace's state — when the next slot
//! opens, the pause, the level — lives in a small file per authority and tenant under the user's
//! state folder, read and written under an `flock` for each slot (microseconds; a few per second
//! at 500/min). A holder that crashes releases its lock with its life, and leaves at most one slot
//! it never used. The state is kept in wall-clock nanoseconds, the one clock processes share; a
//! next slot further ahead than one interval (a clock set back) is taken as now. Without a budget
//! file (tests, one-off use) the same state lives in memory.
//!
//! This replaced governor: its GCRA state is relative to each limiter's own start instant, so no
//! two processes could share it. The arithmetic is small, and tested here with a fake clock.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::rate::RateSetting;

/// How far under the limit the pace runs: 0.5% of the period...
pub const MARGIN: f64 = 0.005;

/// ...but at least this much time per period, whatever the period: jitter between taking a slot
/// and the request's arrival is absolute, and 0.5% of a short test window (30 ms of 6 s) is less
/// than one busy machine's scheduling delay. For 500/min the two agree (0.3 s of 60 s).
pub const JITTER_ALLOWANCE: Duration = Duration::from_millis(300);

/// How far the clock may step back before a reserved slot is taken as a clock set back.
const CLOCK_TOLERANCE: u64 = 1_000_000_000;

/// The pace levels after 429s, as fractions of the limit.
const LEVELS: [f64; 4] = [1.0, 0.8, 0.6, 0.4];

/// Time as the pace counts it: since the Unix epoch, the clock every process shares.
pub trait Clock: Send + Sync {
    fn now(&self) -> Duration;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// The pace's state, shared by every run on one tenant. Times in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PaceState {
    /// When the next slot opens.
    next: u64,
    /// No slot before this (a 429's `Retry-After`).
    paused_until: u64,
    /// Index into [`LEVELS`].
    level: usize,
    /// When the level last changed.
    level_since: u64,
}

/// Where the state lives.
enum Store {
    Memory(Mutex<PaceState>),
    /// The tenant's budget file, opened once; if it ever fails, this run goes on with the state
    /// in memory (still paced; a 429 from sharing the tenant unknowingly is handled as any 429).
    File {
        path: PathBuf,
        file: Mutex<Result<File, PaceState>>,
    },
}

impl Store {
    /// Runs `f` on the state, with every other run on the tenant kept out.
    fn update<T>(&self, f: impl FnOnce(&mut PaceState) -> T) -> T {
        let (path, file) = match self {
            Store::Memory(state) => return f(&mut state.lock().unwrap_or_else(|e| e.into_inner())),
            Store::File { path, file } => (path, file),
        };
        let mut held = file.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(handle) = &mut *held {
            let failed = match lock_and_read(handle) {
                Ok(mut state) => {
                    let done = f(&mut state);
                    if let Err(error) = write_and_unlock(handle, &state) {
                        *held = Err(state);
                        budget_failed(path, &error);
                    }
                    return done;
                }
                Err(error) => error,
            };
            budget_failed(path, &failed);
            *held = Err(PaceState::default());
        }
        let Err(state) = &mut *held else {
            unreachable!("the file was just given up")
        };
        f(state)
    }
}

fn budget_failed(path: &Path, error: &io::Error) {
    tracing::error!(
        "the rate budget `{}` cannot be used ({error}); this run keeps its pace alone",
        path.display()
    );
}

/// Takes the file's lock and reads the state. An empty or unreadable file (first use, a crash
/// mid-write) is a fresh budget: at worst one slot early, once — the pace's margin covers it.
fn lock_and_read(file: &mut File) -> io::Result<PaceState> {
    file.lock()?;
    let read = (|| {
        let mut text = String::new();
        file.rewind()?;
        file.read_to_string(&mut text)?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    })();
    if read.is_err() {
        let _ = file.unlock();
    }
    read
}

fn write_and_unlock(file: &mut File, state: &PaceState) -> io::Result<()> {
    let written = (|| {
        let bytes = serde_json::to_vec(state).map_err(io::Error::other)?;
        file.rewind()?;
        file.set_len(0)?;
        file.write_all(&bytes)
    })();
    let unlocked = file.unlock();
    written.and(unlocked)
}

pub struct Pacer<C: Clock = WallClock> {
    clock: C,
    /// Waiters take turns, first come first served: only the head of the queue watches the clock.
    turn: tokio::sync::Mutex<()>,
    /// How early the head waiter wakes before its slot, to claim it on time (see [`Pacer::acquire`]).
    early: Duration,
    /// The interval between slots at each level, in nanoseconds; `None` when the rate is off.
    intervals: Option<[u64; 4]>,
    period: Duration,
    store: Store,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Pacer<WallClock> {
    /// A pace for `rate`; with `budget`, the state is the tenant's, in that file (created 0600).
    pub fn new(rate: RateSetting, budget: Option<&Path>) -> io::Result<Pacer<WallClock>> {
        Pacer::with_clock(rate, budget, WallClock)
    }
}

impl<C: Clock> Pacer<C> {
    pub fn with_clock(rate: RateSetting, budget: Option<&Path>, clock: C) -> io::Result<Pacer<C>> {
        let (intervals, period, early) = match rate {
            RateSetting::Off => (None, Duration::from_secs(60), Duration::ZERO),
            RateSetting::Limit(limit) => {
                let period = limit.period.as_secs_f64();
                let slack = (period * MARGIN).max(JITTER_ALLOWANCE.as_secs_f64());
                let base = (period + slack) / f64::from(limit.requests);
                let intervals = LEVELS.map(|level| nanos(Duration::from_secs_f64(base / level)));
                let early = Duration::from_secs_f64(base / 10.0).min(Duration::from_millis(2));
                (Some(intervals), limit.period, early)
            }
        };
        // With no limit there is nothing to share: a run with `--rate-limit off` (benchmarks) keeps
        // its pace in memory rather than locking the tenant's file for every request.
        let budget = budget.filter(|_| intervals.is_some());
        let store = match budget {
            None => Store::Memory(Mutex::new(PaceState::default())),
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(path)?;
                Store::File {
                    path: path.to_path_buf(),
                    file: Mutex::new(Ok(file)),
                }
            }
        };
        Ok(Pacer {
            clock,
            turn: tokio::sync::Mutex::new(()),
            early,
            intervals,
            period,
            store,
        })
    }

    /// Takes a slot now, or says how long to wait before asking again.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let period = nanos(self.period);
        let intervals = self.intervals;
        self.store.update(|state| {
            // Read under the lock: every run's reading of the clock is then in the order of its
            // turn, so no run sees a slot reserved "after" its own now.
            let now = nanos(self.clock.now());
            if state.paused_until > now {
                return Err(Duration::from_nanos(state.paused_until - now));
            }
            recover(state, now, period);
            let Some(intervals) = intervals else {
                return Ok(());
            };
            // Nothing is ever reserved more than the slowest interval ahead: a slot further out
            // means the clock was set back, and the slot is taken as now.
            if state.next > now.saturating_add(intervals[LEVELS.len() - 1] + CLOCK_TOLERANCE) {
                state.next = now;
            }
            if state.next > now {
                let wait = Duration::from_nanos(state.next - now);
                return Err(wait.max(Duration::from_micros(100)));
            }
            state.next = now + intervals[state.level];
            Ok(())
        })
    }

    /// Waits for a slot.
    ///
    /// A timer wakes up late (tokio rounds up to the millisecond). Every late wake-up would push
    /// the next slot back: at 500/min that alone cost about 1% of the pace (measured: 98.6%). So the
    /// head waiter sleeps until just before its slot and yields until the slot opens; the others
    /// queue behind it and do not watch the clock. Race it against the stop.
    pub async fn acquire(&self) {
        if self.intervals.is_none() {
            // No limit: no turn to take, only a 429's pause to respect.
            while let Err(wait) = self.try_acquire() {
                tokio::time::sleep(wait).await;
            }
            return;
        }
        let _turn = self.turn.lock().await;
        loop {
            match self.try_acquire() {
                Ok(()) => return,
                Err(wait) if wait > self.early => tokio::time::sleep(wait - self.early).await,
                Err(_) => tokio::task::yield_now().await,
            }
        }
    }

    /// A 429: pause everyone on the tenant for `retry_after`, then go one pace level down.
    pub fn throttled(&self, retry_after: Duration) {
        let now = nanos(self.clock.now());
        let until = now.saturating_add(nanos(retry_after));
        let level = self.store.update(|state| {
            state.paused_until = state.paused_until.max(until);
            state.level = (state.level + 1).min(LEVELS.len() - 1);
            state.level_since = until;
            state.level
        });
        tracing::warn!(
            retry_after_s = retry_after.as_secs(),
            pace_percent = (LEVELS[level] * 100.0) as u32,
            "Partner Center throttled the run (429); pausing and slowing down"
        );
    }

    /// The current pace as a fraction of the limit.
    pub fn level(&self) -> f64 {
        LEVELS[self.store.update(|state| state.level)]
    }
}

/// One level back up per quiet period.
fn recover(state: &mut PaceState, now: u64, period: u64) {
    if state.level == 0 {
        return;
    }
    if now.saturating_sub(state.level_since) >= period {
        state.level -= 1;
        state.level_since = now;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A clock the test moves; clones share it.
    #[derive(Clone, Default)]
    struct FakeClock(Arc<AtomicU64>);

    impl FakeClock {
        fn advance(&self, by: Duration) {
            self.0.fetch_add(nanos(by), Ordering::SeqCst);
        }
        fn set_back(&self, by: Duration) {
            self.0.fetch_sub(nanos(by), Ordering::SeqCst);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            Duration::from_nanos(self.0.load(Ordering::SeqCst))
        }
    }

    fn pacer(rate: &str) -> (Pacer<FakeClock>, FakeClock) {
        let clock = FakeClock::default();
        clock.advance(Duration::from_secs(1_700_000_000));
        let pacer = Pacer::with_clock(rate.parse().unwrap(), None, clock.clone()).unwrap();
        (pacer, clock)
    }

    /// Admits as many as `pacers` allow (taking turns) over `span`, stepping the fake clock; the
    /// times of the admissions.
    fn admitted(pacers: &[&Pacer<FakeClock>], clock: &FakeClock, span: Duration) -> Vec<Duration> {
        let mut times = Vec::new();
        let mut elapsed = Duration::ZERO;
        let mut turn = 0;
        while elapsed < span {
            let pacer = pacers[turn % pacers.len()];
            turn += 1;
            match pacer.try_acquire() {
                Ok(()) => times.push(elapsed),
                Err(wait) => {
                    clock.advance(wait);
                    elapsed += wait;
                }
            }
        }
        times
    }

    /// The most admissions any `window` holds.
    fn busiest(times: &[Duration], window: Duration) -> usize {
        times
            .iter()
            .enumerate()
            .map(|(i, start)| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < *start + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn no_window_of_the_period_holds_more_than_the_limit_and_the_pace_is_near_it() {
        let (pacer, clock) = pacer("500/min");
        let times = admitted(&[&pacer], &clock, Duration::from_secs(180));
        let most_in_a_minute = busiest(&times, Duration::from_secs(60));
        assert!(most_in_a_minute <= 500, "{most_in_a_minute} in one minute");
        assert!(
            most_in_a_minute >= 495,
            "{most_in_a_minute} in one minute: too slow"
        );
    }

    #[test]
    fn short_windows_keep_an_absolute_allowance_for_jitter() {
        let (pacer, clock) = pacer("50/6s");
        let times = admitted(&[&pacer], &clock, Duration::from_secs(60));
        let most = busiest(&times, Duration::from_secs(6));
        // 6.3 s of pace for every 6 s: 48 in a window, two requests (a quarter-second) to spare.
        assert_eq!(most, 48);
    }

    #[test]
    fn a_429_pauses_everyone_then_slows_down_and_recovers() {
        let (pacer, clock) = pacer("60/min");
        assert!(pacer.try_acquire().is_ok());
        pacer.throttled(Duration::from_secs(10));
        assert_eq!(pacer.try_acquire(), Err(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(10));
        assert_eq!(pacer.level(), 0.8);
        // Slower: at 80% of 60/min, a slot every ~1.26 s.
        let times = admitted(&[&pacer], &clock, Duration::from_secs(30));
        assert!((22..=25).contains(&times.len()), "{} in 30 s", times.len());
        clock.advance(Duration::from_secs(61));
        assert!(pacer.try_acquire().is_ok());
        assert_eq!(
            pacer.level(),
            1.0,
            "one quiet period later, back to full pace"
        );
    }

    #[test]
    fn off_means_no_pace_but_429s_still_pause() {
        let (pacer, _clock) = pacer("off");
        for _ in 0..10_000 {
            assert!(pacer.try_acquire().is_ok());
        }
        pacer.throttled(Duration::from_secs(3));
        assert!(pacer.try_acquire().is_err());
    }

    #[test]
    fn an_unlimited_run_shares_no_budget_file() {
        // `--rate-limit off` has nothing to share: no file locked and written per request.
        let dir = tempfile::tempdir().unwrap();
        let budget = dir.path().join("budgets").join("tenant.json");
        let pacer =
            Pacer::with_clock(RateSetting::Off, Some(&budget), FakeClock::default()).unwrap();
        assert!(pacer.try_acquire().is_ok());
        assert!(!budget.exists());
    }

    #[test]
    fn runs_sharing_a_budget_file_together_stay_under_one_limit() {
        let dir = tempfile::tempdir().unwrap();
        let budget = dir.path().join("budgets").join("tenant.json");
        let clock = FakeClock::default();
        clock.advance(Duration::from_secs(1_700_000_000));
        let rate: RateSetting = "500/min".parse().unwrap();
        let nightly = Pacer::with_clock(rate, Some(&budget), clock.clone()).unwrap();
        let resume = Pacer::with_clock(rate, Some(&budget), clock.clone()).unwrap();
        let times = admitted(&[&nightly, &resume], &clock, Duration::from_secs(180));
        let most = busiest(&times, Duration::from_secs(60));
        assert!(
            (495..=500).contains(&most),
            "{most} in one minute, together"
        );
        // A 429 one of them met pauses the other too.
        nightly.throttled(Duration::from_secs(5));
        assert!(resume.try_acquire().is_err());
        assert_eq!(resume.level(), 0.8);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&budget).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_clock_set_back_does_not_stall_the_pace() {
        let (pacer, clock) = pacer("60/min");
        assert!(pacer.try_acquire().is_ok());
        clock.set_back(Duration::from_secs(3600));
        assert!(
            pacer.try_acquire().is_ok(),
            "a slot an hour ahead of the clock is taken as now"
        );
        assert!(
            pacer.try_acquire().is_err(),
            "and the pace goes on from there"
        );
    }
}
