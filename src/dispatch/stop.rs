//! Stopping a dispatch: one signal that every waiter watches.
//!
//! A stop (Ctrl-C, SIGTERM, an authentication failure, a journal error) must end the run within
//! the time of the requests really in flight, so nothing that waits — for a request slot, a pace
//! slot, a backoff, a reconciliation interval — waits past it: each of those waits is raced
//! against [`StopSignal::stopped`], and a stop wakes them all at once. The first reason given is
//! the one the run ends with.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Why a dispatch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every row it could reach is terminal (some may remain in doubt; the journal says).
    Complete,
    /// Stopped on request (Ctrl-C, SIGTERM).
    Interrupted,
    /// Authentication or permission failed: the rest was left for a later `resume`. What went
    /// wrong, and what to do about it when there is more to say than "fix it and resume".
    AuthStopped(String, Option<String>),
}

/// Tells every task to stop taking new work.
#[derive(Clone)]
pub struct StopSignal {
    sender: Arc<watch::Sender<Option<Ending>>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal {
            sender: Arc::new(watch::channel(None).0),
        }
    }
}

impl StopSignal {
    /// Stops the run for `why`, unless it was stopped already (the first reason stays).
    pub fn stop(&self, why: Ending) {
        self.sender.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(why);
                true
            } else {
                false
            }
        });
    }

    pub fn reason(&self) -> Option<Ending> {
        self.sender.borrow().clone()
    }

    pub fn is_set(&self) -> bool {
        self.sender.borrow().is_some()
    }

    /// Resolves once the run is stopped (at once if it is already).
    pub async fn stopped(&self) {
        let mut receiver = self.sender.subscribe();
        // `wait_for` looks at the current value first, so a stop that came before is seen.
        let _ = receiver.wait_for(Option::is_some).await;
    }

    /// Runs `work` unless the run stops first: `None` when it stopped (the work is dropped, so it
    /// must not have done anything irreversible before its last await).
    pub async fn unless_stopped<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            () = self.stopped() => None,
            done = work => Some(done),
        }
    }

    /// Sleeps `duration`, unless a stop comes first; returns whether it slept the whole time.
    pub async fn sleep(&self, duration: Duration) -> bool {
        self.unless_stopped(tokio::time::sleep(duration))
            .await
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stop_wakes_every_waiter_at_once_and_keeps_its_first_reason() {
        let stop = StopSignal::default();
        let sleepers: Vec<_> = (0..100)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move { stop.sleep(Duration::from_secs(3600)).await })
            })
            .collect();
        let waiter = {
            let stop = stop.clone();
            tokio::spawn(async move {
                stop.unless_stopped(std::future::pending::<()>())
                    .await
                    .is_none()
            })
        };
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        stop.stop(Ending::Interrupted);
        stop.stop(Ending::AuthStopped("later".into(), None));
        for sleeper in sleepers {
            assert!(!sleeper.await.unwrap(), "woken before its hour was up");
        }
        assert!(waiter.await.unwrap());
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(stop.reason(), Some(Ending::Interrupted));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_that_came_first_is_seen_at_once() {
        let stop = StopSignal::default();
        stop.stop(Ending::Interrupted);
        assert!(!stop.sleep(Duration::from_secs(1)).await);
        assert_eq!(stop.unless_stopped(async { 1 }).await, None);
    }
}
