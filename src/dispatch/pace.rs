//! The pace of requests to the Customer resource: governor's GCRA with a burst of 1, paced a
//! fraction of a percent under the limit (and at least 300 ms per period). A burst of 1 is what keeps the strict sliding window of
//! Partner Center from ever seeing more than the limit in any period (a burst of N would let almost
//! 2N through in the first period); the margin absorbs network jitter.
//!
//! A 429 is about the whole run, not the one row: everyone pauses for `Retry-After`, then the pace
//! steps down (100% → 80% → 60% → 40% of the limit) and climbs back one step per quiet period.
//!
//! Time comes from a governor clock, so tests drive it with `FakeRelativeClock`.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::rate::RateSetting;

/// How far under the limit the pace runs: 0.5% of the period...
pub const MARGIN: f64 = 0.005;

/// ...but at least this much time per period, whatever the period: jitter between taking a slot
/// and the request's arrival is absolute, and 0.5% of a short test window (30 ms of 6 s) is less
/// than one busy machine's scheduling delay. For 500/min the two agree (0.3 s of 60 s).
pub const JITTER_ALLOWANCE: Duration = Duration::from_millis(300);

/// The pace levels after 429s, as fractions of the limit.
const LEVELS: [f64; 4] = [1.0, 0.8, 0.6, 0.4];

type Limiter<C> = RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

pub struct Pacer<C: Clock + Clone = DefaultClock> {
    clock: C,
    /// Waiters take turns, first come first served: only the head of the queue watches the clock.
    turn: tokio::sync::Mutex<()>,
    /// How early the head waiter wakes before its slot, to claim it on time (see [`Pacer::acquire`]).
    early: Duration,
    /// One limiter per level; `None` when the rate is off.
    limiters: Option<Vec<Limiter<C>>>,
    period: Duration,
    state: Mutex<PaceState<C::Instant>>,
}

struct PaceState<I> {
    paused_until: Option<I>,
    level: usize,
    /// When the level last changed (up or down).
    level_since: Option<I>,
}

impl Pacer<DefaultClock> {
    pub fn new(rate: RateSetting) -> Pacer<DefaultClock> {
        Pacer::with_clock(rate, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Pacer<C> {
    pub fn with_clock(rate: RateSetting, clock: C) -> Pacer<C> {
        let (limiters, period, early) = match rate {
            RateSetting::Off => (None, Duration::from_secs(60), Duration::ZERO),
            RateSetting::Limit(limit) => {
                let period = limit.period.as_secs_f64();
                let slack = (period * MARGIN).max(JITTER_ALLOWANCE.as_secs_f64());
                let base = (period + slack) / f64::from(limit.requests);
                let limiters = LEVELS
                    .iter()
                    .map(|level| {
                        let interval = Duration::from_secs_f64(base / level);
                        let quota = Quota::with_period(interval)
                            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                            .allow_burst(NonZeroU32::MIN);
                        RateLimiter::direct_with_clock(quota, clock.clone())
                    })
                    .collect();
                let early = Duration::from_secs_f64(base / 10.0).min(Duration::from_millis(2));
                (Some(limiters), limit.period, early)
            }
        };
        Pacer {
            clock,
            turn: tokio::sync::Mutex::new(()),
            early,
            limiters,
            period,
            state: Mutex::new(PaceState {
                paused_until: None,
                level: 0,
                level_since: None,
            }),
        }
    }

    /// Takes a slot now, or says how long to wait before asking again.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let now = self.clock.now();
        let level = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(until) = state.paused_until {
                if now < until {
                    return Err(until.duration_since(now).into());
                }
                state.paused_until = None;
            }
            self.recover(&mut state, now);
            state.level
        };
        let Some(limiters) = &self.limiters else {
            return Ok(());
        };
        match limiters[level].check() {
            Ok(()) => Ok(()),
            Err(not_until) => Err(not_until
                .wait_time_from(now)
                .max(Duration::from_micros(100))),
        }
    }

    /// Waits for a slot.
    ///
    /// The limiter is checked when a waiter wakes, and a timer wakes up late (tokio rounds up to the
    /// millisecond). Every late wake-up would push the next slot back: at 500/min that alone cost
    /// about 1% of the pace (measured: 98.6%). So the head waiter sleeps until just before its slot
    /// and yields until the slot opens; the others queue behind it and do not watch the clock.
    pub async fn acquire(&self) {
        let _turn = self.turn.lock().await;
        loop {
            match self.try_acquire() {
                Ok(()) => return,
                Err(wait) if wait > self.early => tokio::time::sleep(wait - self.early).await,
                Err(_) => tokio::task::yield_now().await,
            }
        }
    }

    /// A 429: pause everyone for `retry_after`, then go one pace level down.
    pub fn throttled(&self, retry_after: Duration) {
        let now = self.clock.now();
        let until = now + Nanos::from(retry_after);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.paused_until.is_none_or(|current| current < until) {
            state.paused_until = Some(until);
        }
        state.level = (state.level + 1).min(LEVELS.len() - 1);
        state.level_since = Some(until);
        tracing::warn!(
            retry_after_s = retry_after.as_secs(),
            pace_percent = (LEVELS[state.level] * 100.0) as u32,
            "Partner Center throttled the run (429); pausing and slowing down"
        );
    }

    /// The current pace as a fraction of the limit.
    pub fn level(&self) -> f64 {
        LEVELS[self.state.lock().unwrap_or_else(|e| e.into_inner()).level]
    }

    /// One level back up per quiet period.
    fn recover(&self, state: &mut PaceState<C::Instant>, now: C::Instant) {
        if state.level == 0 {
            return;
        }
        let since = state.level_since.unwrap_or(now);
        if Duration::from(now.duration_since(since)) >= self.period {
            state.level -= 1;
            state.level_since = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn pacer(rate: &str) -> (Pacer<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            Pacer::with_clock(rate.parse().unwrap(), clock.clone()),
            clock,
        )
    }

    /// Admits as many as the pacer allows over `span`, stepping the fake clock.
    fn admitted(
        pacer: &Pacer<FakeRelativeClock>,
        clock: &FakeRelativeClock,
        span: Duration,
    ) -> Vec<Duration> {
        let mut times = Vec::new();
        let mut elapsed = Duration::ZERO;
        while elapsed < span {
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
        let times = admitted(&pacer, &clock, Duration::from_secs(180));
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
        let times = admitted(&pacer, &clock, Duration::from_secs(60));
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
        let times = admitted(&pacer, &clock, Duration::from_secs(30));
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
}
