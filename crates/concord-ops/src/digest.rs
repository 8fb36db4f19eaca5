//! `digest`: a fingerprint of a store's set of events that does not depend on the order the
//! events were stored in, nor on their sequence numbers.
//!
//! Each event is hashed alone: SHA-256 of its canonical JSON — the envelope written by
//! [`CloudEvent::write_json`] (attributes in a fixed order, extensions sorted by name, no
//! `sequence`) with the data as the exact text stored. The store's digest is the **sum of
//! these hashes modulo 2^256** (read as big-endian integers), together with the number of
//! events. A sum is commutative, so the same set in any order gives the same digest, and it
//! is computed in one pass with constant memory, whatever the store's size. (Sorting the
//! per-event hashes and hashing the list would be just as order-independent but needs 32
//! bytes per event in memory.) It detects any change, loss or addition of an event; it is
//! a check between honest copies, not a defence against someone forging a collision.
//!
//! [`CloudEvent::write_json`]: concord_core::CloudEvent::write_json

use std::fmt;

use concord_core::store::{EventReader, StoreError};
use concord_core::CloudEvent;
use sha2::{Digest as _, Sha256};

/// The digest of a set of events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    pub events: u64,
    /// The sum of the events' SHA-256 hashes modulo 2^256, big-endian.
    pub sum: [u8; 32],
}

impl Digest {
    /// Adds one event to the set.
    pub fn add(&mut self, event: &CloudEvent) {
        let mut text = Vec::with_capacity(event.encoded_len());
        event.write_json(&mut text, None);
        let hash: [u8; 32] = Sha256::digest(&text).into();
        let mut carry = 0u16;
        for (total, byte) in self.sum.iter_mut().zip(hash).rev() {
            let added = u16::from(*total) + u16::from(byte) + carry;
            *total = added as u8;
            carry = added >> 8;
        }
        self.events += 1;
    }

    /// The sum as 64 hex digits.
    pub fn hex(&self) -> String {
        self.sum.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Digest {
    /// `sha256-sum:HEX events:N`: what `concord digest` prints, to compare as text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256-sum:{} events:{}", self.hex(), self.events)
    }
}

/// The digest of every event in `store`, calling `progress` with the number read so far
/// every few thousand events.
pub fn digest<S: EventReader + ?Sized>(
    store: &S,
    progress: &mut dyn FnMut(u64),
) -> Result<Digest, StoreError> {
    let mut digest = Digest::default();
    store.replay(0, &mut |stored| {
        digest.add(&stored.event);
        if digest.events.is_multiple_of(4096) {
            progress(digest.events);
        }
    })?;
    progress(digest.events);
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use concord_core::event::Timestamp;
    use concord_core::EventData;

    use super::*;

    fn event(id: &str, data: &str) -> CloudEvent {
        let time = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        CloudEvent::new(id, "a", "t", time, EventData::from_text(data).unwrap())
    }

    #[test]
    fn the_digest_ignores_order_and_sees_every_change() {
        let (a, b, c) = (
            event("1", r#"{"x":1}"#),
            event("2", r#"{"x":2}"#),
            event("3", r#"{"x":3}"#),
        );
        let of = |events: &[&CloudEvent]| {
            let mut digest = Digest::default();
            events.iter().for_each(|e| digest.add(e));
            digest
        };
        assert_eq!(of(&[&a, &b, &c]), of(&[&c, &a, &b]));
        assert_ne!(of(&[&a, &b, &c]), of(&[&a, &b]));
        assert_ne!(of(&[&a, &b]), of(&[&a, &event("2", r#"{"x":2.0}"#)]));
        assert_eq!(
            of(&[]).to_string(),
            format!("sha256-sum:{} events:0", "0".repeat(64))
        );
    }

    #[test]
    fn the_sum_carries_across_bytes() {
        let mut digest = Digest {
            events: 0,
            sum: [0xff; 32],
        };
        // Adding anything to 2^256 - 1 wraps around to that thing minus one.
        digest.add(&event("1", "{}"));
        let mut alone = Digest::default();
        alone.add(&event("1", "{}"));
        let mut expected = alone.sum;
        for byte in expected.iter_mut().rev() {
            let (less, borrow) = byte.overflowing_sub(1);
            *byte = less;
            if !borrow {
                break;
            }
        }
        assert_eq!(digest.sum, expected);
    }
}
