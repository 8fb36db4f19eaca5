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

/// How far ahead of the local clock an observed event time may pull the service's clock.
/// Beyond this a peer's clock is considered wrong and is not followed.
const MAX_FOLLOWED_SKEW_NANOS: i128 = 60 * 1_000_000_000;

/// The clock that stamps a service's own events: never behind the wall clock, strictly
/// increasing, and ahead of every event time the service has applied (within a bound).
///
/// Following applied times means a command always supersedes what its user saw: a re-grade
/// made right after a grade arrived from a peer with a slightly fast clock still wins.
#[derive(Clone, Debug, Default)]
pub struct HybridClock {
    observed: Option<Timestamp>,
    last_own: Option<Timestamp>,
}

impl HybridClock {
    /// Notes the time of an event the service applied.
    pub fn observe(&mut self, time: Timestamp) {
        if self.observed.is_none_or(|observed| time > observed) {
            self.observed = Some(time);
        }
    }

    /// The time for the next event this service raises, with microsecond precision.
    pub fn tick(&mut self, now: Timestamp) -> Timestamp {
        let mut next = floor_micros(now);
        if let Some(observed) = self.observed {
            let followed = observed.min(Timestamp::from_unix_nanos(
                now.unix_nanos() + MAX_FOLLOWED_SKEW_NANOS,
            ));
            next = next.max(floor_micros(followed).next_tick());
        }
        if let Some(last) = self.last_own {
            next = next.max(last.next_tick());
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

    #[test]
    fn follows_slightly_later_peers_but_not_wild_ones() {
        let mut clock = HybridClock::default();
        clock.observe(at(9_000_000_123));
        assert_eq!(clock.tick(at(1_000_000_000)), at(9_000_001_000));
        let mut wild = HybridClock::default();
        wild.observe(at(10_000 * 1_000_000_000_000));
        let t = wild.tick(at(1_000_000_000));
        assert!(
            t < at(100 * 1_000_000_000),
            "a clock years ahead is not followed: {t:?}"
        );
        assert!(
            wild.tick(at(1_000_000_000)) > t,
            "still strictly increasing"
        );
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
