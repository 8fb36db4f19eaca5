//! Time and randomness, handed in from outside so that the core stays deterministic.
//!
//! The real server uses [`SystemEnv`]; tests and the simulator use [`SeededEnv`], whose clock
//! only moves when told to and whose randomness is a seeded generator.

use crate::event::Timestamp;

/// Where the runtime gets the current time and random bits.
pub trait Env: Send {
    fn now(&mut self) -> Timestamp;
    fn random_u64(&mut self) -> u64;
}

/// The wall clock and an OS-seeded generator.
pub struct SystemEnv {
    rng: fastrand::Rng,
}

impl Default for SystemEnv {
    fn default() -> Self {
        SystemEnv {
            rng: fastrand::Rng::new(),
        }
    }
}

impl Env for SystemEnv {
    fn now(&mut self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_unix_nanos(since_epoch.as_nanos() as i128)
    }

    fn random_u64(&mut self) -> u64 {
        self.rng.u64(..)
    }
}

/// A deterministic environment: a settable clock and a seeded generator.
pub struct SeededEnv {
    pub now: Timestamp,
    rng: fastrand::Rng,
}

impl SeededEnv {
    pub fn new(seed: u64, now: Timestamp) -> Self {
        SeededEnv {
            now,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn advance_millis(&mut self, millis: i128) {
        self.now = Timestamp::from_unix_nanos(self.now.unix_nanos() + millis * 1_000_000);
    }
}

impl Env for SeededEnv {
    fn now(&mut self) -> Timestamp {
        self.now
    }

    fn random_u64(&mut self) -> u64 {
        self.rng.u64(..)
    }
}

/// How far ahead of the wall clock the service's own clock may run, by default: the
/// contract's allowed skew (5 minutes). See [`HybridClock`].
const DEFAULT_MAX_SKEW_NANOS: i128 = 5 * 60 * 1_000_000_000;

/// The clock that stamps a service's own events: never behind the wall clock, strictly
/// increasing, and ahead of every event time the service has applied — but never more than
/// the allowed skew ahead of the wall clock.
///
/// Following applied times means a command always supersedes what its user saw: a re-grade
/// made right after a grade arrived from a peer with a slightly fast clock still wins. The
/// bound is CockroachDB's max-offset rule: a time further ahead is a clock fault, not a fact
/// to follow. Events that far ahead are refused at intake; the bound here also covers old
/// stored ones and the service's own past: after its wall clock jumped ahead and back, it
/// stamps from the wall clock again instead of carrying the fault forward forever.
#[derive(Clone, Debug)]
pub struct HybridClock {
    observed: Option<Timestamp>,
    last_own: Option<Timestamp>,
    max_skew_nanos: i128,
}

impl Default for HybridClock {
    fn default() -> Self {
        HybridClock::new(DEFAULT_MAX_SKEW_NANOS)
    }
}

impl HybridClock {
    /// A clock that never runs more than `max_skew_nanos` ahead of the wall clock.
    pub fn new(max_skew_nanos: i128) -> Self {
        HybridClock {
            observed: None,
            last_own: None,
            max_skew_nanos,
        }
    }

    pub fn set_max_skew(&mut self, max_skew_nanos: i128) {
        self.max_skew_nanos = max_skew_nanos;
    }

    /// Notes the time of an event the service applied.
    pub fn observe(&mut self, time: Timestamp) {
        if self.observed.is_none_or(|observed| time > observed) {
            self.observed = Some(time);
        }
    }

    /// The time for the next event this service raises, with microsecond precision.
    pub fn tick(&mut self, now: Timestamp) -> Timestamp {
        let bound = Timestamp::from_unix_nanos(now.unix_nanos() + self.max_skew_nanos);
        let mut next = floor_micros(now);
        for earlier in [self.observed, self.last_own].into_iter().flatten() {
            if earlier < bound {
                next = next.max(floor_micros(earlier).next_tick());
            }
        }
        self.last_own = Some(next);
        next
    }
}

fn floor_micros(t: Timestamp) -> Timestamp {
    Timestamp::from_unix_nanos(t.unix_nanos().div_euclid(1000) * 1000)
}

/// A UUID version 7 (time-ordered) in its text form, from the environment's clock and bits.
pub fn new_event_id(env: &mut dyn Env, at: Timestamp) -> String {
    let millis = (at.unix_nanos().max(0) / 1_000_000) as u64;
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&env.random_u64().to_le_bytes());
    random[8..].copy_from_slice(&env.random_u64().to_le_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(nanos: i128) -> Timestamp {
        Timestamp::from_unix_nanos(nanos)
    }

    #[test]
    fn own_times_strictly_increase_when_the_wall_clock_stands_still() {
        let mut clock = HybridClock::default();
        let first = clock.tick(at(5_000_000));
        let second = clock.tick(at(5_000_000));
        assert_eq!(first, at(5_000_000));
        assert_eq!(second, at(5_001_000));
    }

    const SECOND: i128 = 1_000_000_000;

    #[test]
    fn follows_slightly_later_peers_but_not_wild_ones() {
        let mut clock = HybridClock::default();
        clock.observe(at(9 * SECOND + 123));
        assert_eq!(clock.tick(at(SECOND)), at(9 * SECOND + 1000));
        let mut wild = HybridClock::default();
        wild.observe(at(10_000_000 * SECOND));
        let t = wild.tick(at(SECOND));
        assert_eq!(t, at(SECOND), "a clock months ahead is not followed");
        assert!(wild.tick(at(SECOND)) > t, "still strictly increasing");
    }

    #[test]
    fn never_runs_further_ahead_than_the_skew() {
        let mut clock = HybridClock::new(300 * SECOND);
        clock.observe(at(1000 * SECOND + 299 * SECOND));
        let followed = clock.tick(at(1000 * SECOND));
        assert!(
            followed > at(1299 * SECOND),
            "within the skew, a peer's time is followed"
        );
        let mut beyond = HybridClock::new(300 * SECOND);
        beyond.observe(at(1000 * SECOND + 301 * SECOND));
        assert_eq!(beyond.tick(at(1000 * SECOND)), at(1000 * SECOND));
    }

    #[test]
    fn recovers_from_its_own_clock_jumping_ahead_and_back() {
        let mut clock = HybridClock::new(300 * SECOND);
        let during_fault = clock.tick(at(1_000_000 * SECOND));
        clock.observe(during_fault);
        let after = clock.tick(at(1000 * SECOND));
        assert_eq!(
            after,
            at(1000 * SECOND),
            "once the wall clock is back, own events are stamped from it again"
        );
        assert!(clock.tick(at(1000 * SECOND)) > after);
    }

    #[test]
    fn event_ids_are_uuid_v7_and_seeded_runs_repeat() {
        let mut a = SeededEnv::new(7, at(0));
        let mut b = SeededEnv::new(7, at(0));
        let now = Timestamp::parse("2026-11-26T09:30:00Z").unwrap();
        let id = new_event_id(&mut a, now);
        assert_eq!(id, new_event_id(&mut b, now));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "7");
    }
}
