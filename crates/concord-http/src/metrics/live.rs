//! The metrics read at scrape time rather than counted here: the writer's queue depth, the
//! store's last sequence, the panics of the domain's code the writer caught, each link's
//! status and each peer's inbound activity. They are kept where they happen (or are states,
//! not events), so they are asked for when Prometheus asks, never stale.

use std::sync::{Arc, RwLock};

use concord_core::runtime::DomainPanics;
use concord_core::{EventStore, Timestamp};
use concord_sync::{Direction, LinkState, LinkStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::Labels;
use crate::inbound::Inbound;
use crate::sync::SyncControl;

/// The collector behind the live families.
pub struct Live {
    queued: Box<dyn Fn() -> usize + Send + Sync>,
    inbound: Arc<Inbound>,
    store: RwLock<Option<Arc<dyn EventStore>>>,
    sync: RwLock<Option<Arc<dyn SyncControl>>>,
    panics: RwLock<Option<Arc<DomainPanics>>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    pub(super) fn new(queued: Box<dyn Fn() -> usize + Send + Sync>, inbound: Arc<Inbound>) -> Self {
        Live {
            queued,
            inbound,
            store: RwLock::new(None),
            sync: RwLock::new(None),
            panics: RwLock::new(None),
        }
    }

    pub(super) fn attach_sync(&self, sync: Arc<dyn SyncControl>) {
        *self.sync.write().unwrap_or_else(|p| p.into_inner()) = Some(sync);
    }

    pub(super) fn attach_store(&self, store: Arc<dyn EventStore>) {
        *self.store.write().unwrap_or_else(|p| p.into_inner()) = Some(store);
    }

    pub(super) fn attach_panics(&self, panics: Arc<DomainPanics>) {
        *self.panics.write().unwrap_or_else(|p| p.into_inner()) = Some(panics);
    }

    fn last_sequence(&self) -> Option<u64> {
        let store = self
            .store
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        store.last_sequence().ok()
    }

    fn links(&self) -> Vec<LinkStatus> {
        let sync = self.sync.read().unwrap_or_else(|p| p.into_inner()).clone();
        sync.map(|sync| sync.status().links).unwrap_or_default()
    }
}

/// One family of the scrape, one sample per label set.
struct Rows<'e, 'd> {
    encoder: &'e mut DescriptorEncoder<'d>,
}

impl Rows<'_, '_> {
    fn gauge(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<&Unit>,
        rows: &[(Labels, f64)],
    ) -> Result<(), std::fmt::Error> {
        let mut metric = self
            .encoder
            .encode_descriptor(name, help, unit, MetricType::Gauge)?;
        for (labels, value) in rows {
            ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn counter(
        &mut self,
        name: &str,
        help: &str,
        rows: &[(Labels, u64)],
    ) -> Result<(), std::fmt::Error> {
        let mut metric = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in rows {
            ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
        }
        Ok(())
    }
}

fn seconds_of(rfc3339: Option<&str>) -> Option<f64> {
    let time = Timestamp::parse(rfc3339?).ok()?;
    Some(time.unix_nanos() as f64 / 1e9)
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut rows = Rows {
            encoder: &mut encoder,
        };
        rows.gauge(
            "writer_queue_depth",
            "Requests waiting for the service's writer.",
            None,
            &[(Vec::new(), (self.queued)() as f64)],
        )?;
        let panics = self
            .panics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(panics) = panics {
            let by_stage: Vec<(Labels, u64)> = panics
                .counts()
                .iter()
                .map(|(stage, count)| (vec![("stage", stage.as_str().to_owned())], *count))
                .collect();
            rows.counter(
                "domain_panics",
                "Panics of the domain's code the service caught, by stage: decide (a command was \
                 refused), apply (a command refused or an external event rejected; the model \
                 rebuilt), decode (an event refused as malformed, or the command raising it \
                 refused), rebuild (the model could not be made from the store; the next \
                 request tries again).",
                &by_stage,
            )?;
        }
        let last = self.last_sequence();
        if let Some(last) = last {
            rows.gauge(
                "store_last_sequence",
                "The highest sequence in this service's store.",
                None,
                &[(Vec::new(), last as f64)],
            )?;
        }

        let links = self.links();
        let label = |link: &LinkStatus| -> Labels {
            let direction = match link.direction {
                Direction::Pull => "pull",
                Direction::Push => "push",
            };
            vec![
                ("link", link.name.clone()),
                ("peer", link.peer.clone()),
                ("direction", direction.to_owned()),
            ]
        };
        let gauge_of = |value: fn(&LinkStatus) -> Option<f64>| -> Vec<(Labels, f64)> {
            links
                .iter()
                .filter_map(|link| Some((label(link), value(link)?)))
                .collect()
        };
        rows.gauge(
            "link_cursor",
            "A link's cursor: the position in the peer's log (pull) or in its own (push) carried up to.",
            None,
            &gauge_of(|l| Some(l.cursor as f64)),
        )?;
        rows.gauge(
            "link_pending_events",
            "A link's lag: log positions after its cursor not yet examined (an upper bound on the events still to carry).",
            None,
            &gauge_of(|l| l.pending.map(|p| p as f64)),
        )?;
        let carried: Vec<(Labels, u64)> = links
            .iter()
            .map(|link| (label(link), link.carried))
            .collect();
        rows.counter(
            "link_carried_events",
            "Events a link has carried (applied or delivered) since the service started.",
            &carried,
        )?;
        rows.gauge(
            "link_consecutive_failures",
            "A link's failed rounds in a row (0 when healthy).",
            None,
            &gauge_of(|l| Some(f64::from(l.failures))),
        )?;
        rows.gauge(
            "link_rejected_events",
            "Events a link holds as rejected (dead letters).",
            None,
            &gauge_of(|l| Some(l.rejected as f64)),
        )?;
        let up: Vec<(Labels, f64)> = links
            .iter()
            .map(|link| {
                (
                    label(link),
                    if link.state == LinkState::Ok {
                        1.0
                    } else {
                        0.0
                    },
                )
            })
            .collect();
        rows.gauge(
            "link_up",
            "1 while a link's last round succeeded, 0 while it fails or is stopped.",
            None,
            &up,
        )?;
        let success: Vec<(Labels, f64)> = links
            .iter()
            .filter_map(|link| Some((label(link), seconds_of(link.last_success.as_deref())?)))
            .collect();
        rows.gauge(
            "link_last_success_timestamp_seconds",
            "When a link's last round succeeded (Unix time).",
            None,
            &success,
        )?;

        let peers = self.inbound.snapshot();
        let peer = |name: &str| -> Labels { vec![("peer", name.to_owned())] };
        let pulled: Vec<(Labels, f64)> = peers
            .iter()
            .filter_map(|a| Some((peer(&a.peer), a.pulled_up_to? as f64)))
            .collect();
        rows.gauge(
            "inbound_pulled_position",
            "The position in this service's log a peer's last getEvents read up to.",
            None,
            &pulled,
        )?;
        if let Some(last) = last {
            let lag: Vec<(Labels, f64)> = peers
                .iter()
                .filter_map(|a| Some((peer(&a.peer), a.lag(last)? as f64)))
                .collect();
            rows.gauge(
                "inbound_lag_events",
                "How far a peer's last read lags behind this service's log.",
                None,
                &lag,
            )?;
        }
        let last_pull: Vec<(Labels, f64)> = peers
            .iter()
            .filter_map(|a| Some((peer(&a.peer), a.last_pull_seconds()?)))
            .collect();
        rows.gauge(
            "inbound_last_pull_timestamp_seconds",
            "When a peer last read this service's log (Unix time).",
            None,
            &last_pull,
        )?;
        let last_push: Vec<(Labels, f64)> = peers
            .iter()
            .filter_map(|a| Some((peer(&a.peer), a.last_push_seconds()?)))
            .collect();
        rows.gauge(
            "inbound_last_push_timestamp_seconds",
            "When a peer last delivered events here (Unix time).",
            None,
            &last_push,
        )?;
        let pushed: Vec<(Labels, u64)> = peers
            .iter()
            .filter(|a| a.last_push.is_some())
            .map(|a| (peer(&a.peer), a.pushed_events))
            .collect();
        rows.counter(
            "inbound_pushed_events",
            "Events a peer has delivered here since the service started.",
            &pushed,
        )
    }
}
