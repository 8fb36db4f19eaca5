//! When a link runs next: right away while it has more to do, after its interval when idle,
//! and with exponential backoff and full jitter while its peer fails — so a peer coming back
//! is not hit by every link at the same instant.

use concord_core::event::Timestamp;

use crate::Millis;

const BACKOFF_BASE_MS: Millis = 100;
const BACKOFF_MAX_MS: Millis = 30_000;

#[derive(Clone, Debug)]
pub struct Schedule {
    due: Timestamp,
    in_flight: bool,
    failures: u32,
    rng: fastrand::Rng,
}

impl Schedule {
    /// Due immediately; `seed` makes the jitter reproducible.
    pub fn new(now: Timestamp, seed: u64) -> Self {
        Schedule {
            due: now,
            in_flight: false,
            failures: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Whether a round may start now.
    pub fn is_due(&self, now: Timestamp) -> bool {
        !self.in_flight && now >= self.due
    }

    /// When the link wants to run next (`None` while a round is in flight).
    pub fn due_at(&self) -> Option<Timestamp> {
        (!self.in_flight).then_some(self.due)
    }

    pub fn begin(&mut self) {
        self.in_flight = true;
    }

    /// Whether a round has begun and not yet ended.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// A round succeeded; `more` says whether work is known to be waiting.
    pub fn succeeded(&mut self, now: Timestamp, more: bool, interval: Millis) {
        self.in_flight = false;
        self.failures = 0;
        self.due = if more { now } else { after(now, interval) };
    }

    /// A round failed: back off, longer each time, with full jitter.
    pub fn failed(&mut self, now: Timestamp) -> Millis {
        self.in_flight = false;
        self.failures = self.failures.saturating_add(1);
        let ceiling = BACKOFF_BASE_MS
            .saturating_mul(1 << self.failures.min(20))
            .min(BACKOFF_MAX_MS);
        let delay = self.rng.u64(BACKOFF_BASE_MS / 2..=ceiling);
        self.due = after(now, delay);
        delay
    }

    /// Something happened that the link should react to now (a local commit, a user's
    /// "synchronize now"); ignored while backing off from failures, so a dead peer is not
    /// hammered by every commit.
    pub fn wake(&mut self, now: Timestamp) {
        if self.failures == 0 && self.due > now {
            self.due = now;
        }
    }

    /// Run now whatever the backoff says (an explicit request to synchronise).
    pub fn force(&mut self, now: Timestamp) {
        if self.due > now {
            self.due = now;
        }
    }

    /// A stopped link runs no rounds until [`Schedule::reset`].
    pub fn stop(&mut self) {
        self.in_flight = false;
    }

    /// Starts afresh, due now: after an operator's reset.
    pub fn reset(&mut self, now: Timestamp) {
        self.in_flight = false;
        self.failures = 0;
        self.due = now;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

fn after(now: Timestamp, millis: Millis) -> Timestamp {
    Timestamp::from_unix_nanos(now.unix_nanos() + i128::from(millis) * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i128) -> Timestamp {
        Timestamp::from_unix_nanos(ms * 1_000_000)
    }

    #[test]
    fn backs_off_exponentially_within_bounds_and_recovers() {
        let mut s = Schedule::new(at(0), 9);
        assert!(s.is_due(at(0)));
        s.begin();
        assert!(!s.is_due(at(0)), "one round at a time");
        let mut ceilings = Vec::new();
        for _ in 0..12 {
            s.begin();
            ceilings.push(s.failed(at(0)));
        }
        assert!(
            ceilings.iter().all(|d| (50..=30_000).contains(d)),
            "{ceilings:?}"
        );
        assert!(
            ceilings[8..].iter().any(|d| *d > 1_000),
            "delays grow: {ceilings:?}"
        );
        s.wake(at(1));
        assert!(!s.is_due(at(1)), "commits do not cut a backoff short");
        s.force(at(1));
        assert!(s.is_due(at(1)), "an explicit sync does");
        s.begin();
        s.succeeded(at(2), false, 500);
        assert!(
            !s.is_due(at(501)) && s.is_due(at(502)),
            "idle links wait their interval"
        );
        s.wake(at(100));
        assert!(s.is_due(at(100)), "a commit wakes a healthy link");
    }
}
