//! The inbound view: who reads from and delivers to this service, as the service sees it.
//!
//! A service that only receives (the office, the ta-pool) runs no links of its own, yet its
//! operator wants to know who pulled from it, how far behind they are, and when a group last
//! pushed. getEvents and putEvents record it here per authenticated peer (the operator's own
//! calls are not a peer's): the last pull's time and the position it read up to (its
//! `next_after`: everything up to it has been examined, so `last_sequence − position` is
//! the peer's lag behind this log), and the last push's time, its events and the total
//! pushed. Kept in memory since the service started: a restart forgets it until each peer
//! calls again, which a running link does within its interval.

use std::collections::BTreeMap;
use std::sync::Mutex;

use concord_core::Timestamp;
use serde::Serialize;

/// What one peer did here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerActivity {
    pub peer: String,
    /// When it last read a page (RFC 3339).
    pub last_pull: Option<String>,
    /// The position its last page read up to (that page's `next_after`).
    pub pulled_up_to: Option<u64>,
    /// When it last delivered events (RFC 3339).
    pub last_push: Option<String>,
    /// How many events its last delivery held.
    pub last_push_events: u64,
    /// How many events it has delivered since this service started.
    pub pushed_events: u64,
    #[serde(skip)]
    pub(crate) last_pull_nanos: Option<i128>,
    #[serde(skip)]
    pub(crate) last_push_nanos: Option<i128>,
}

impl PeerActivity {
    /// How far its last pull lags behind this log's last sequence `last`.
    pub fn lag(&self, last: u64) -> Option<u64> {
        self.pulled_up_to
            .map(|position| last.saturating_sub(position))
    }

    /// Unix seconds of its last pull and push, for metrics.
    pub fn last_pull_seconds(&self) -> Option<f64> {
        self.last_pull_nanos.map(|n| n as f64 / 1e9)
    }

    pub fn last_push_seconds(&self) -> Option<f64> {
        self.last_push_nanos.map(|n| n as f64 / 1e9)
    }
}

/// Every peer's activity, by name. Bounded by the configured peers: only authenticated
/// peers are recorded.
#[derive(Debug, Default)]
pub struct Inbound {
    peers: Mutex<BTreeMap<String, PeerActivity>>,
}

impl Inbound {
    fn with_peer(&self, peer: &str, change: impl FnOnce(&mut PeerActivity)) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let activity = peers
            .entry(peer.to_owned())
            .or_insert_with(|| PeerActivity {
                peer: peer.to_owned(),
                ..PeerActivity::default()
            });
        change(activity);
    }

    /// `peer` read a page up to `position` at `now`.
    pub fn pulled(&self, peer: &str, position: u64, now: Timestamp) {
        self.with_peer(peer, |activity| {
            activity.last_pull = Some(now.to_rfc3339());
            activity.last_pull_nanos = Some(now.unix_nanos());
            activity.pulled_up_to = Some(position);
        });
    }

    /// `peer` delivered `events` events at `now`.
    pub fn pushed(&self, peer: &str, events: u64, now: Timestamp) {
        self.with_peer(peer, |activity| {
            activity.last_push = Some(now.to_rfc3339());
            activity.last_push_nanos = Some(now.unix_nanos());
            activity.last_push_events = events;
            activity.pushed_events += events;
        });
    }

    /// Every peer seen so far, by name.
    pub fn snapshot(&self) -> Vec<PeerActivity> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.values().cloned().collect()
    }

    /// The view as `GET /api/sync` shows it, with each peer's lag behind `last_sequence`.
    pub fn view(&self, last_sequence: u64) -> InboundView {
        let peers = self
            .snapshot()
            .into_iter()
            .map(|activity| InboundPeer {
                lag: activity.lag(last_sequence),
                activity,
            })
            .collect();
        InboundView {
            last_sequence,
            peers,
        }
    }
}

/// The inbound view of `GET /api/sync`: `{"lastSequence", "peers": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundView {
    pub last_sequence: u64,
    pub peers: Vec<InboundPeer>,
}

/// One peer of the inbound view: its activity and its lag behind this service's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InboundPeer {
    #[serde(flatten)]
    pub activity: PeerActivity,
    pub lag: Option<u64>,
}

/// The wall clock, read where a request is recorded.
pub(crate) fn now() -> Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_unix_nanos(since_epoch.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_pulls_and_pushes_per_peer() {
        let inbound = Inbound::default();
        let t = |s: i128| Timestamp::from_unix_nanos(s * 1_000_000_000);
        inbound.pulled("se-group", 40, t(100));
        inbound.pushed("se-group", 3, t(101));
        inbound.pushed("se-group", 2, t(102));
        inbound.pulled("theory-group", 10, t(103));
        let json = serde_json::to_value(inbound.view(50)).unwrap();
        let peers = json["peers"].as_array().unwrap();
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[0]["peer"], "se-group");
        assert_eq!(peers[0]["lag"], 10);
        assert_eq!(peers[0]["pulledUpTo"], 40);
        assert_eq!(peers[0]["lastPushEvents"], 2);
        assert_eq!(peers[0]["pushedEvents"], 5);
        assert_eq!(peers[1]["lag"], 40);
        assert_eq!(peers[1]["lastPush"], serde_json::Value::Null);
        assert_eq!(inbound.snapshot()[0].last_push_seconds(), Some(102.0));
    }
}
