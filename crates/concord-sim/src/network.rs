//! The simulated network: messages in flight, ordered by delivery time, and the faults that
//! befall them — delay (and so reordering), loss, duplication and partitions.

use std::collections::{BTreeMap, BTreeSet};

use concord_core::event::CloudEvent;
use concord_core::store::ReadQuery;
use concord_sync::{DeliveryError, Page};

/// What travels between services. `link` is the index of the link at the node that started
/// the round; `round` tells a late answer from a current one.
#[derive(Clone, Debug)]
pub enum Payload {
    Fetch {
        link: usize,
        round: u64,
        query: ReadQuery,
    },
    Page {
        link: usize,
        round: u64,
        page: Page,
    },
    Deliver {
        link: usize,
        round: u64,
        events: Vec<CloudEvent>,
    },
    Ack {
        link: usize,
        round: u64,
        result: Result<concord_core::wire::Delivered, DeliveryError>,
    },
}

#[derive(Clone, Debug)]
pub struct Message {
    pub from: usize,
    pub to: usize,
    pub payload: Payload,
}

/// How unreliable the network is.
#[derive(Clone, Copy, Debug)]
pub struct NetworkFaults {
    pub drop: f64,
    pub duplicate: f64,
    pub max_delay_ms: u64,
}

#[derive(Default)]
pub struct Network {
    /// By (delivery time, send order): deterministic whatever the delays.
    in_flight: BTreeMap<(u64, u64), Message>,
    sent: u64,
    partitions: BTreeSet<(usize, usize)>,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

impl Network {
    pub fn send(
        &mut self,
        rng: &mut fastrand::Rng,
        faults: NetworkFaults,
        now: u64,
        message: Message,
    ) {
        if self.is_partitioned(message.from, message.to) || rng.f64() < faults.drop {
            self.dropped += 1;
            return;
        }
        let copies = if rng.f64() < faults.duplicate { 2 } else { 1 };
        self.duplicated += copies - 1;
        for _ in 0..copies {
            let at = now + rng.u64(0..=faults.max_delay_ms);
            self.sent += 1;
            self.in_flight.insert((at, self.sent), message.clone());
        }
    }

    /// The next message due at or before `now`; a message whose endpoints were partitioned
    /// while it travelled is lost.
    pub fn pop_due(&mut self, now: u64) -> Option<Message> {
        loop {
            let (&key, _) = self.in_flight.first_key_value()?;
            if key.0 > now {
                return None;
            }
            let message = self.in_flight.remove(&key)?;
            if self.is_partitioned(message.from, message.to) {
                self.dropped += 1;
                continue;
            }
            self.delivered += 1;
            return Some(message);
        }
    }

    pub fn next_due(&self) -> Option<u64> {
        self.in_flight.keys().next().map(|(at, _)| *at)
    }

    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    pub fn partition(&mut self, a: usize, b: usize) {
        self.partitions.insert((a.min(b), a.max(b)));
    }

    pub fn heal(&mut self) {
        self.partitions.clear();
    }

    pub fn is_partitioned(&self, a: usize, b: usize) -> bool {
        self.partitions.contains(&(a.min(b), a.max(b)))
    }

    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }
}
