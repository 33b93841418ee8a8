//! Partner Center's throttle as the emulator enforces it: a strict sliding window — at most
//! `limit` accepted requests in any `window` — per partner tenant. A refused request does not
//! count, and its `Retry-After` is the whole number of seconds until the oldest accepted request
//! leaves the window (never 0).

use std::collections::VecDeque;
use std::time::Duration;

#[derive(Debug)]
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    accepted: VecDeque<Duration>,
}

impl SlidingWindow {
    pub fn new(limit: usize, window: Duration) -> SlidingWindow {
        SlidingWindow {
            limit,
            window,
            accepted: VecDeque::with_capacity(limit.min(1 << 16)),
        }
    }

    /// Admits a request at `now`, or says how many whole seconds to wait.
    pub fn admit(&mut self, now: Duration) -> Result<(), u64> {
        while let Some(&oldest) = self.accepted.front() {
            if oldest + self.window <= now {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        if self.accepted.len() < self.limit {
            self.accepted.push_back(now);
            return Ok(());
        }
        let frees_at = self.accepted.front().map_or(now, |&t| t + self.window);
        let wait = frees_at.saturating_sub(now);
        let whole_seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Err(whole_seconds.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn the_request_past_the_limit_waits_for_the_oldest_to_age_out() {
        let mut window = SlidingWindow::new(3, s(6.0));
        assert_eq!(window.admit(s(0.0)), Ok(()));
        assert_eq!(window.admit(s(1.0)), Ok(()));
        assert_eq!(window.admit(s(2.5)), Ok(()));
        // The oldest (t=0) leaves at t=6: at t=3.2 that is 2.8 s away → 3 whole seconds.
        assert_eq!(window.admit(s(3.2)), Err(3));
        // Refused requests do not count: at t=6 exactly, t=0 has left.
        assert_eq!(window.admit(s(6.0)), Ok(()));
        assert_eq!(window.admit(s(6.5)), Err(1));
        assert_eq!(window.admit(s(7.0)), Ok(()));
    }

    #[test]
    fn retry_after_is_never_zero() {
        let mut window = SlidingWindow::new(1, s(60.0));
        assert_eq!(window.admit(s(0.0)), Ok(()));
        assert_eq!(window.admit(s(59.999)), Err(1));
        assert_eq!(window.admit(s(0.0)), Err(60));
    }
}
