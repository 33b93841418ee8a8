//! How many requests may be out at once: enough for the pace, whatever Partner Center's latency.
//!
//! Little's law: to send `rate` requests per second when each takes `latency` seconds, about
//! `rate × latency` must be in flight. A fixed number cannot be right for every latency — 100 in
//! flight cap a 500/min pace at 79% when creates take 15 s — so the limit follows what is
//! observed: `rate × latency × 1.25 + 4`, bounded by a ceiling (`--concurrency`). The latency
//! estimate is the larger of a moving average of finished requests and the age of the oldest
//! request still out, so the limit grows before the first answer comes back (a slow start would
//! waste the budget of the whole first latency) and shrinks as answers get faster.
//!
//! With no rate limit the ceiling is the limit: nothing says how many the pace can use.
//!
//! Permits are handed out first come, first served (a tokio semaphore). The limit grows by adding
//! permits and shrinks by retiring permits as they come back, so nobody is cut off mid-request.
//! Time is passed in (`now`), so the arithmetic is tested without a clock.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Headroom over Little's law, for latency that varies from request to request...
const MARGIN: f64 = 1.25;
/// ...and a few more, for the requests between the pace and the wire.
const SPARE: usize = 4;
/// Weight of the newest latency in the moving average.
const SMOOTHING: f64 = 0.1;
/// The latency assumed before any request has been timed.
const FIRST_GUESS: Duration = Duration::from_secs(2);
/// How often the limit is brought up to date while requests are out.
pub const ADJUST_EVERY: Duration = Duration::from_millis(100);

pub struct InFlight {
    semaphore: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    /// Requests per second at full pace; `None` when there is no limit.
    rate: Option<f64>,
    ceiling: usize,
    /// Permits in circulation (held or free) once `retire` has caught up.
    limit: usize,
    /// Permits to retire as they come back, because the limit went down.
    retire: usize,
    /// Moving average of finished requests' latency, in seconds.
    average: Option<f64>,
    /// When each request still out was sent, with a number to tell equal instants apart.
    out: BTreeSet<(Instant, u64)>,
    next_id: u64,
}

/// The right to have one request out. Dropping it without [`Permit::finish`] frees the place
/// without a latency sample (the request never left).
pub struct Permit {
    owner: Arc<InFlight>,
    permit: Option<OwnedSemaphorePermit>,
    sent: Option<(Instant, u64)>,
}

impl InFlight {
    /// `rate`: requests per second at full pace (`None`: no limit). `ceiling`: never more than this.
    pub fn new(rate: Option<f64>, ceiling: usize) -> Arc<InFlight> {
        let ceiling = ceiling.max(1);
        let mut state = State {
            rate,
            ceiling,
            limit: 0,
            retire: 0,
            average: None,
            out: BTreeSet::new(),
            next_id: 0,
        };
        state.limit = state.target(Instant::now());
        Arc::new(InFlight {
            semaphore: Arc::new(Semaphore::new(state.limit)),
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place (first come, first served). Race it against the stop.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        Permit {
            owner: self.clone(),
            permit: Some(permit),
            sent: None,
        }
    }

    /// The limit as it stands.
    pub fn limit(&self) -> usize {
        self.state().limit
    }

    /// Requests out right now.
    pub fn out(&self) -> usize {
        self.state().out.len()
    }

    /// Brings the limit up to date with what has been observed; called every [`ADJUST_EVERY`] and
    /// whenever a request finishes. `pace` is the pacer's current level (1.0 = full rate).
    pub fn adjust(&self, now: Instant, pace: f64) {
        let mut state = self.state();
        let target = state.target_at(now, pace);
        if target > state.limit {
            let grow = target - state.limit;
            // Permits waiting to be retired are simply kept.
            let kept = grow.min(state.retire);
            state.retire -= kept;
            self.semaphore.add_permits(grow - kept);
            state.limit = target;
        } else if target < state.limit {
            let shrink = state.limit - target;
            // Free permits go at once; the others when they come back.
            let forgotten = self.semaphore.forget_permits(shrink);
            state.retire += shrink - forgotten;
            state.limit = target;
        }
    }

    fn sent(&self, now: Instant) -> (Instant, u64) {
        let mut state = self.state();
        let key = (now, state.next_id);
        state.next_id += 1;
        state.out.insert(key);
        key
    }

    /// Takes a request off the books; a finished one feeds the average.
    fn done(&self, key: Option<(Instant, u64)>, latency: Option<Duration>) -> bool {
        let mut state = self.state();
        if let Some(key) = key {
            state.out.remove(&key);
        }
        if let Some(latency) = latency {
            let seconds = latency.as_secs_f64();
            state.average = Some(match state.average {
                Some(average) => average + SMOOTHING * (seconds - average),
                None => seconds,
            });
        }
        if state.retire > 0 {
            state.retire -= 1;
            return false; // the caller forgets its permit
        }
        true
    }
}

impl State {
    fn target(&self, now: Instant) -> usize {
        self.target_at(now, 1.0)
    }

    /// `rate × latency × MARGIN + SPARE`, within `1..=ceiling`.
    fn target_at(&self, now: Instant, pace: f64) -> usize {
        let Some(rate) = self.rate else {
            return self.ceiling;
        };
        let oldest = self.out.first().map_or(0.0, |(sent, _)| {
            now.saturating_duration_since(*sent).as_secs_f64()
        });
        let latency = self
            .average
            .unwrap_or(FIRST_GUESS.as_secs_f64())
            .max(oldest);
        let wanted = (rate * pace * latency * MARGIN).ceil();
        let wanted = if wanted.is_finite() && wanted >= 0.0 {
            wanted.min(self.ceiling as f64) as usize
        } else {
            self.ceiling
        };
        (wanted + SPARE).clamp(1, self.ceiling)
    }
}

impl Permit {
    /// The request leaves now.
    pub fn sent(&mut self, now: Instant) {
        self.sent = Some(self.owner.sent(now));
    }

    /// Its answer is in: the place is free again and the latency is counted.
    pub fn finish(mut self, now: Instant) {
        let latency = self.sent.map(|(at, _)| now.saturating_duration_since(at));
        self.release(latency);
    }

    fn release(&mut self, latency: Option<Duration>) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        if self.owner.done(self.sent.take(), latency) {
            drop(permit);
        } else {
            permit.forget();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.release(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PER_MINUTE_500: f64 = 500.0 / 60.0;

    fn free(in_flight: &InFlight) -> usize {
        in_flight.semaphore.available_permits()
    }

    #[test]
    fn the_limit_follows_rate_times_latency_within_the_ceiling() {
        let t0 = Instant::now();
        for (latency_s, want) in [(0.2, 7), (2.0, 25), (15.0, 161), (30.0, 317), (600.0, 1000)] {
            let state = State {
                rate: Some(PER_MINUTE_500),
                ceiling: 1000,
                limit: 0,
                retire: 0,
                average: Some(latency_s),
                out: BTreeSet::new(),
                next_id: 0,
            };
            assert_eq!(state.target(t0), want, "at {latency_s} s");
        }
        let off = State {
            rate: None,
            ceiling: 300,
            limit: 0,
            retire: 0,
            average: Some(0.01),
            out: BTreeSet::new(),
            next_id: 0,
        };
        assert_eq!(off.target(t0), 300, "no rate limit: the ceiling");
    }

    #[tokio::test]
    async fn before_any_answer_the_limit_grows_with_the_oldest_request() {
        let in_flight = InFlight::new(Some(PER_MINUTE_500), 1000);
        let t0 = Instant::now();
        assert_eq!(in_flight.limit(), 25, "a first guess of 2 s");
        let mut permits = Vec::new();
        // The pace sends 8.33/s and nothing comes back for 15 s: the limit must stay ahead.
        for i in 0..125u32 {
            let at = t0 + Duration::from_secs_f64(f64::from(i) / PER_MINUTE_500);
            in_flight.adjust(at, 1.0);
            assert!(free(&in_flight) > 0, "request {i} would wait at {at:?}");
            let mut permit = in_flight.acquire().await;
            permit.sent(at);
            permits.push(permit);
        }
        assert!(in_flight.limit() > 125, "{}", in_flight.limit());
        assert_eq!(in_flight.out(), 125);
    }

    #[tokio::test]
    async fn faster_answers_shrink_the_limit_without_cutting_anyone_off() {
        let in_flight = InFlight::new(Some(PER_MINUTE_500), 1000);
        let t0 = Instant::now();
        let mut permits = Vec::new();
        for _ in 0..25 {
            let mut permit = in_flight.acquire().await;
            permit.sent(t0);
            permits.push(permit);
        }
        // Thirty seconds later all are still out: room for ~317.
        let t30 = t0 + Duration::from_secs(30);
        in_flight.adjust(t30, 1.0);
        assert_eq!(in_flight.limit(), 317);
        // Then every answer comes in after 30 s, and later ones come fast.
        for permit in permits.drain(..) {
            permit.finish(t30);
        }
        let mut now = t30;
        for _ in 0..200 {
            let mut permit = in_flight.acquire().await;
            permit.sent(now);
            now += Duration::from_millis(200);
            permit.finish(now);
            in_flight.adjust(now, 1.0);
        }
        let limit = in_flight.limit();
        assert!(limit < 20, "the limit came down: {limit}");
        assert_eq!(free(&in_flight), limit, "every retired permit is gone");
    }

    #[tokio::test]
    async fn a_shrink_retires_held_permits_as_they_come_back() {
        let in_flight = InFlight::new(Some(10.0), 1000);
        let t0 = Instant::now();
        in_flight.adjust(t0, 1.0);
        let held: Vec<_> = (0..in_flight.limit())
            .map(|_| in_flight.semaphore.clone().try_acquire_owned().unwrap())
            .map(|p| Permit {
                owner: in_flight.clone(),
                permit: Some(p),
                sent: None,
            })
            .collect();
        let before = held.len();
        // The pace drops to 40% after 429s: fewer are wanted.
        in_flight.adjust(t0, 0.4);
        let after = in_flight.limit();
        assert!(after < before, "{after} < {before}");
        drop(held);
        assert_eq!(free(&in_flight), after);
    }
}
