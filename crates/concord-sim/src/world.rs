//! The simulation loop: nodes running the real cores and links, driven by a seeded RNG.

use concord_core::event::{CloudEvent, Limits, Timestamp};
use concord_core::runtime::{Disposition, External, Intake, PutReport, SeededEnv};
use concord_core::store::{EventReader, LinkUpdate, MemoryStore};
use concord_core::wire::Delivered;
use concord_sync::{
    DeliveryError, Direction, LinkSpec, PullLink, PushLink, PushStep, TransportError,
};
use serde_json::Value;

use crate::check;
use crate::network::{Message, Network, NetworkFaults, Payload};
use crate::service::{Opener, SimService};

/// How long a link waits for an answer before it counts the round as failed.
const ROUND_TIMEOUT_MS: u64 = 1_000;
/// The quiet period that, with an empty network, counts as quiescence.
const QUIET_WINDOW_MS: u64 = 3_000;
const MAX_QUIET_WINDOWS: usize = 400;
/// The smallest clock jump: beyond the contract's 5-minute skew, so that peers refuse what
/// the node raises meanwhile.
const JUMP_MIN_MS: u64 = 6 * 60 * 1000;
/// How likely the simulated operator resets one stopped link in a step.
const OPERATOR_RESET: f64 = 0.02;
/// How many times, at most, the operator looks at the settled system again.
const OPERATOR_PASSES: usize = 5;
/// Separates the byzantine relay's random draws from the main generator's.
const BYZANTINE_SALT: u64 = 0xb42a_711e_5eed_0001;

/// What can go wrong, and how often (probabilities per step unless said otherwise).
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub network: NetworkFaults,
    pub crash: f64,
    pub max_down_ms: u64,
    pub partition: f64,
    pub heal: f64,
    /// Each node's clock is off by up to this much, either way.
    pub max_clock_skew_ms: u64,
    /// A node's clock jumps far ahead (beyond the allowed skew), and back after a while.
    pub clock_jump: f64,
    pub max_jump_ms: u64,
    /// The store of a node whose state its peers can restore is wiped (an operator
    /// starting it afresh); links that notice stop until the simulated operator resets them.
    pub store_reset: f64,
    /// A relay (a recoverable node: its state comes from its peers) answers a pull with
    /// forged events besides the genuine ones: a copy of one it relays with its data altered,
    /// and an invented event under a new id. Only in scenarios whose services sign
    /// ([`Scenario::signed`]): receivers must refuse every forgery and still converge on the
    /// genuine events.
    pub byzantine_relay: f64,
}

impl Faults {
    pub fn none() -> Self {
        Faults {
            network: NetworkFaults {
                drop: 0.0,
                duplicate: 0.0,
                max_delay_ms: 5,
            },
            crash: 0.0,
            max_down_ms: 0,
            partition: 0.0,
            heal: 1.0,
            max_clock_skew_ms: 0,
            clock_jump: 0.0,
            max_jump_ms: 0,
            store_reset: 0.0,
            byzantine_relay: 0.0,
        }
    }

    /// Faults drawn from the seed, so that runs differ in how hostile they are.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        Faults {
            network: NetworkFaults {
                drop: rng.f64() * 0.3,
                duplicate: rng.f64() * 0.2,
                max_delay_ms: rng.u64(1..=400),
            },
            crash: rng.f64() * 0.02,
            max_down_ms: rng.u64(50..=3_000),
            partition: rng.f64() * 0.03,
            heal: rng.f64() * 0.05,
            max_clock_skew_ms: rng.u64(0..=200),
            clock_jump: rng.f64() * 0.004,
            max_jump_ms: rng.u64(JUMP_MIN_MS..=3 * 60 * 60 * 1000),
            store_reset: rng.f64() * 0.003,
            // Drawn from a generator of its own, so every other fault of a seed stays what
            // it was before this fault existed.
            byzantine_relay: fastrand::Rng::with_seed(rng.get_seed() ^ BYZANTINE_SALT).f64() * 0.2,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// Workload steps before healing.
    pub steps: usize,
    /// `None`: faults drawn from the seed.
    pub faults: Option<Faults>,
}

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            steps: 300,
            faults: None,
        }
    }
}

/// One service of a scenario and its links (peers named by service name).
pub struct NodeSpec {
    pub name: String,
    pub open: Opener,
    pub links: Vec<LinkSpec>,
    /// Its whole state comes from its peers (it raises nothing of its own), so a wipe of its
    /// store is recoverable: the simulator may wipe it, and expects convergence anyway.
    pub recoverable: bool,
}

/// A domain's part of a simulation: which services, what users do, what must hold.
pub trait Scenario {
    fn nodes(&self) -> Vec<NodeSpec>;

    /// The next user command: (service name, path, JSON body); `None` to skip this step.
    fn command(&mut self, rng: &mut fastrand::Rng) -> Option<(String, String, Value)>;

    /// Whether its services sign what they raise and verify what they take in, so that a
    /// byzantine relay's forgeries are refused (the fault is only injected then).
    fn signed(&self) -> bool {
        false
    }

    /// Domain checks on the quiescent services (in `nodes()` order): shared data agree.
    fn check(&self, services: &[&dyn SimService]) -> Result<(), String>;
}

/// What a successful run did, for the summary line.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub seed: u64,
    pub commands_acked: u64,
    pub commands_refused: u64,
    pub events_stored: Vec<(String, u64)>,
    pub crashes: u64,
    pub partitions: u64,
    pub messages_delivered: u64,
    pub messages_dropped: u64,
    pub messages_duplicated: u64,
    pub clock_jumps: u64,
    pub store_resets: u64,
    /// Links the simulated operator reset after they stopped on a peer's new store.
    pub link_resets: u64,
    /// Dead letters the simulated operator re-delivered at the end.
    pub dead_letters_retried: u64,
    /// Forged events a byzantine relay served (each refused, or the run fails).
    pub forgeries: u64,
    pub simulated_ms: u64,
}

enum Link {
    Pull(PullLink),
    Push(PushLink),
}

struct Node {
    name: String,
    store: MemoryStore,
    /// How many times its store was wiped (names each new store).
    generation: u64,
    recoverable: bool,
    open: Opener,
    specs: Vec<LinkSpec>,
    service: Option<Box<dyn SimService>>,
    links: Vec<Link>,
    /// Per link: the round in flight and when it times out.
    rounds: Vec<Option<(u64, u64)>>,
    env: SeededEnv,
    skew_ms: i64,
    /// A clock jump in progress: how far ahead, and until when (simulated time).
    jump: Option<(i64, u64)>,
    down_until: Option<u64>,
    /// Ids this node acknowledged (command 2xx, putEvents accepted): must never be lost.
    acknowledged: Vec<String>,
}

struct World {
    rng: fastrand::Rng,
    faults: Faults,
    now: u64,
    nodes: Vec<Node>,
    peers: Vec<Vec<usize>>,
    network: Network,
    next_round: u64,
    outcome: Outcome,
    /// Probability that a relay's page carries forgeries (0 unless the scenario signs).
    byzantine: f64,
    /// The byzantine relay's own generator (see [`Faults::byzantine_relay`]).
    byzantine_rng: fastrand::Rng,
    /// Ids of forged events: altered copies (a genuine id) and inventions (a new id).
    forged: std::collections::BTreeSet<String>,
}

fn epoch() -> Timestamp {
    Timestamp::parse("2026-11-26T00:00:00Z").expect("a valid constant")
}

/// Runs one seeded simulation of `scenario`; `Err` carries a report naming the seed.
pub fn simulate(config: SimConfig, scenario: &mut dyn Scenario) -> Result<Outcome, String> {
    let mut world = World::new(config, scenario)?;
    for _ in 0..config.steps {
        world.step(scenario);
    }
    world.heal();
    world.quiesce()?;
    // The operator's part: clocks that jumped ahead are past (time moves on beyond what
    // they stamped), stopped links are reset, dead letters re-delivered; then it settles. A
    // link may only notice a wiped peer while settling, so the operator looks again.
    world.wait_out_clock_jumps();
    for _ in 0..OPERATOR_PASSES {
        world.operator_resets_every_stopped_link();
        world.operator_retries_dead_letters();
        world.quiesce()?;
        if !world.needs_operator() {
            break;
        }
    }
    world
        .check(scenario)
        .map_err(|e| format!("seed {}: {e}", config.seed))?;
    world.outcome.simulated_ms = world.now;
    world.outcome.messages_delivered = world.network.delivered;
    world.outcome.messages_dropped = world.network.dropped;
    world.outcome.messages_duplicated = world.network.duplicated;
    world.outcome.events_stored = world
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.store.count().unwrap_or(0)))
        .collect();
    Ok(world.outcome)
}

impl World {
    fn new(config: SimConfig, scenario: &dyn Scenario) -> Result<Self, String> {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let faults = config.faults.unwrap_or_else(|| Faults::random(&mut rng));
        let specs = scenario.nodes();
        let names: Vec<String> = specs.iter().map(|n| n.name.clone()).collect();
        let peers = specs
            .iter()
            .map(|n| {
                n.links
                    .iter()
                    .map(|l| {
                        names
                            .iter()
                            .position(|name| *name == l.peer)
                            .ok_or_else(|| format!("link {} names unknown peer {}", l.name, l.peer))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let nodes = specs
            .into_iter()
            .map(|spec| {
                let skew = faults.max_clock_skew_ms as i64;
                let skew_ms = if skew == 0 { 0 } else { rng.i64(-skew..=skew) };
                Node {
                    store: MemoryStore::with_id(format!("{}/0", spec.name)),
                    name: spec.name,
                    generation: 0,
                    recoverable: spec.recoverable,
                    open: spec.open,
                    rounds: vec![None; spec.links.len()],
                    specs: spec.links,
                    service: None,
                    links: Vec::new(),
                    env: SeededEnv::new(rng.u64(..), epoch()),
                    skew_ms,
                    jump: None,
                    down_until: Some(0),
                    acknowledged: Vec::new(),
                }
            })
            .collect();
        let mut world = World {
            rng,
            faults,
            now: 0,
            nodes,
            peers,
            network: Network::default(),
            next_round: 0,
            outcome: Outcome {
                seed: config.seed,
                ..Outcome::default()
            },
            byzantine: if scenario.signed() {
                faults.byzantine_relay
            } else {
                0.0
            },
            byzantine_rng: fastrand::Rng::with_seed(config.seed ^ BYZANTINE_SALT),
            forged: std::collections::BTreeSet::new(),
        };
        for node in 0..world.nodes.len() {
            world.restart(node);
        }
        Ok(world)
    }

    fn time(&self, node: usize) -> Timestamp {
        let n = &self.nodes[node];
        let jump = n.jump.map_or(0, |(ahead, _)| ahead);
        let ms = self.now as i128 + i128::from(n.skew_ms) + i128::from(jump);
        Timestamp::from_unix_nanos(epoch().unix_nanos() + ms * 1_000_000)
    }

    fn step(&mut self, scenario: &mut dyn Scenario) {
        self.now += self.rng.u64(1..=20);
        self.inject_faults();
        if let Some((service, path, body)) = scenario.command(&mut self.rng) {
            self.run_command(&service, &path, body);
        }
        self.run_until(self.now);
    }

    fn inject_faults(&mut self) {
        let count = self.nodes.len();
        for node in 0..count {
            if self.nodes[node].down_until.is_some_and(|t| t <= self.now) {
                self.restart(node);
            }
            if self.nodes[node]
                .jump
                .is_some_and(|(_, until)| until <= self.now)
            {
                self.nodes[node].jump = None; // the clock is set right again
            }
        }
        if self.rng.f64() < self.faults.clock_jump {
            let node = self.rng.usize(..count);
            if self.nodes[node].jump.is_none() {
                let ahead = self
                    .rng
                    .u64(JUMP_MIN_MS..=self.faults.max_jump_ms.max(JUMP_MIN_MS));
                let lasts = self.rng.u64(50..=3_000);
                self.nodes[node].jump = Some((ahead as i64, self.now + lasts));
                self.outcome.clock_jumps += 1;
            }
        }
        if self.rng.f64() < self.faults.store_reset {
            let node = self.rng.usize(..count);
            if self.nodes[node].recoverable {
                self.wipe(node);
            }
        }
        self.operator_resets_stopped_links(OPERATOR_RESET);
        if self.rng.f64() < self.faults.crash {
            let node = self.rng.usize(..count);
            if self.nodes[node].service.is_some() {
                let down = self.rng.u64(0..=self.faults.max_down_ms);
                self.crash(node, down);
            }
        }
        if self.rng.f64() < self.faults.partition {
            let (a, b) = (self.rng.usize(..count), self.rng.usize(..count));
            if a != b {
                self.network.partition(a, b);
                self.outcome.partitions += 1;
            }
        }
        if self.network.partitions() > 0 && self.rng.f64() < self.faults.heal {
            self.network.heal();
        }
    }

    /// The node's store is replaced by an empty one with a new identity, and it restarts on
    /// it: what it acknowledged is gone by the operator's hand, not the system's.
    fn wipe(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        n.generation += 1;
        n.store = MemoryStore::with_id(format!("{}/{}", n.name, n.generation));
        n.acknowledged.clear();
        self.outcome.store_resets += 1;
        self.crash(node, 10);
    }

    fn crash(&mut self, node: usize, down_ms: u64) {
        let n = &mut self.nodes[node];
        n.service = None;
        n.links.clear();
        n.rounds.iter_mut().for_each(|r| *r = None);
        n.down_until = Some(self.now + down_ms);
        self.outcome.crashes += 1;
    }

    /// Starts a node from its store, as a process restart would: replay, links from cursors.
    fn restart(&mut self, node: usize) {
        let now = self.time(node);
        let seed = self.rng.u64(..);
        let n = &mut self.nodes[node];
        n.service = Some((n.open)(&n.store));
        n.links = n
            .specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let cursor = n.store.link_cursor(&spec.name).expect("memory store");
                let seed = seed.wrapping_add(i as u64);
                match spec.direction {
                    Direction::Pull => Link::Pull(PullLink::new(spec.clone(), cursor, now, seed)),
                    Direction::Push => Link::Push(PushLink::new(spec.clone(), cursor, now, seed)),
                }
            })
            .collect();
        n.rounds.iter_mut().for_each(|r| *r = None);
        n.down_until = None;
    }

    fn run_command(&mut self, service: &str, path: &str, body: Value) {
        let Some(node) = self.nodes.iter().position(|n| n.name == service) else {
            return;
        };
        let now = self.time(node);
        let n = &mut self.nodes[node];
        let Some(svc) = n.service.as_mut() else {
            self.outcome.commands_refused += 1; // the service is down: the user sees an error
            return;
        };
        n.env.now = now;
        match svc.command(&n.store, &mut n.env, path, body) {
            Ok(events) => {
                self.outcome.commands_acked += 1;
                n.acknowledged
                    .extend(events.iter().map(|e| e.event.id.to_string()));
            }
            Err(_) => self.outcome.commands_refused += 1,
        }
        self.wake_push_links(node);
    }

    fn wake_push_links(&mut self, node: usize) {
        let now = self.time(node);
        for link in &mut self.nodes[node].links {
            if let Link::Push(push) = link {
                push.schedule().wake(now);
            }
        }
    }

    /// Delivers every message and runs every link round due up to `until`.
    fn run_until(&mut self, until: u64) {
        loop {
            while let Some(message) = self.network.pop_due(self.now) {
                self.deliver(message);
            }
            self.run_links();
            match self.network.next_due().filter(|at| *at <= until) {
                Some(at) => self.now = self.now.max(at),
                None if self.now < until => self.now = until,
                None => break,
            }
        }
    }

    fn run_links(&mut self) {
        for node in 0..self.nodes.len() {
            if self.nodes[node].service.is_none() {
                continue;
            }
            for link in 0..self.nodes[node].links.len() {
                self.expire_round(node, link);
                self.start_round(node, link);
            }
        }
    }

    fn expire_round(&mut self, node: usize, link: usize) {
        let now = self.time(node);
        let n = &mut self.nodes[node];
        let Some((_, timeout_at)) = n.rounds[link] else {
            return;
        };
        if self.now < timeout_at {
            return;
        }
        n.rounds[link] = None;
        let timed_out = TransportError::Unreachable("timed out".into());
        match &mut n.links[link] {
            Link::Pull(pull) => {
                pull.fetched(now, Err(timed_out));
            }
            Link::Push(push) => {
                push.delivered(now, Err(DeliveryError::Transport(timed_out)));
            }
        }
    }

    fn start_round(&mut self, node: usize, link: usize) {
        if self.nodes[node].rounds[link].is_some() {
            return;
        }
        let now = self.time(node);
        let n = &mut self.nodes[node];
        match &mut n.links[link] {
            Link::Pull(pull) => {
                if let Some(query) = pull.start(now) {
                    self.send_round(node, link, |round| Payload::Fetch { link, round, query });
                }
            }
            Link::Push(push) => {
                if let Ok(step) = push.start(now, &n.store) {
                    self.push_step(node, link, step);
                }
            }
        }
    }

    /// Sends the request of a new round of `link` and remembers the round.
    fn send_round(&mut self, node: usize, link: usize, payload: impl FnOnce(u64) -> Payload) {
        let round = self.next_round;
        self.next_round += 1;
        self.nodes[node].rounds[link] = Some((round, self.now + ROUND_TIMEOUT_MS));
        let faults = self.faults.network;
        let to = self.peers[node][link];
        self.network.send(
            &mut self.rng,
            faults,
            self.now,
            Message {
                from: node,
                to,
                payload: payload(round),
            },
        );
    }

    /// Carries out what a push link asks for next.
    fn push_step(&mut self, node: usize, link: usize, step: PushStep) {
        match step {
            PushStep::Idle => {}
            PushStep::Deliver(events) => self.send_round(node, link, |round| Payload::Deliver {
                link,
                round,
                events,
            }),
            PushStep::Save(update) => {
                let now = self.time(node);
                let n = &mut self.nodes[node];
                take_link(n, now, External::from_link(Vec::new(), update));
                if let Link::Push(push) = &mut n.links[link] {
                    push.saved(now, Ok(()));
                }
            }
        }
    }

    fn deliver(&mut self, message: Message) {
        let Message { from, to, payload } = message;
        let now = self.time(to);
        let faults = self.faults.network;
        match payload {
            Payload::Fetch { link, round, query } => {
                let n = &self.nodes[to];
                if n.service.is_none() {
                    return; // a request to a crashed service is lost
                }
                let page = n.store.read(&query).expect("memory store");
                let mut events: Vec<CloudEvent> =
                    page.events.into_iter().map(|e| e.event).collect();
                if n.recoverable {
                    self.forge(&mut events);
                }
                let n = &self.nodes[to];
                let page = concord_sync::Page {
                    events,
                    unreadable: Vec::new(),
                    next_after: page.next_after,
                    has_more: page.has_more,
                    last_sequence: n.store.last_sequence().ok(),
                    store_id: Some(n.store.store_id().to_owned()),
                };
                let reply = Message {
                    from: to,
                    to: from,
                    payload: Payload::Page { link, round, page },
                };
                self.network.send(&mut self.rng, faults, self.now, reply);
            }
            Payload::Deliver {
                link,
                round,
                events,
            } => {
                let n = &mut self.nodes[to];
                if n.service.is_none() {
                    return;
                }
                let result = match take(n, now, External::put(events)) {
                    Ok(report) => Ok(Delivered {
                        refused: report
                            .results
                            .iter()
                            .filter_map(|(id, d)| match d {
                                Disposition::Rejected(reason) | Disposition::Conflict(reason) => {
                                    Some((id.clone(), reason.clone()))
                                }
                                _ => None,
                            })
                            .collect(),
                        store_id: Some(n.store.store_id().to_owned()),
                    }),
                    Err(refusal) => Err(DeliveryError::Refused {
                        index: refusal.index,
                        reason: refusal.error.to_string(),
                    }),
                };
                let reply = Message {
                    from: to,
                    to: from,
                    payload: Payload::Ack {
                        link,
                        round,
                        result,
                    },
                };
                self.network.send(&mut self.rng, faults, self.now, reply);
                self.wake_push_links(to);
            }
            Payload::Page { link, round, page } => {
                if !self.is_current(to, link, round) {
                    return;
                }
                let n = &mut self.nodes[to];
                n.rounds[link] = None;
                let Link::Pull(pull) = &mut n.links[link] else {
                    return;
                };
                let Some(step) = pull.fetched(now, Ok(page)) else {
                    return;
                };
                let report = take_link(n, now, External::from_link(step.events, step.link));
                if let Link::Pull(pull) = &mut n.links[link] {
                    pull.applied(now, Ok(&report));
                }
                if report.accepted() > 0 {
                    self.wake_push_links(to);
                }
            }
            Payload::Ack {
                link,
                round,
                result,
            } => {
                if !self.is_current(to, link, round) {
                    return;
                }
                let n = &mut self.nodes[to];
                n.rounds[link] = None;
                let Link::Push(push) = &mut n.links[link] else {
                    return;
                };
                let step = push.delivered(now, result);
                self.push_step(to, link, step);
            }
        }
    }

    /// A byzantine relay's answer: besides the genuine events, an altered copy of one of
    /// them (same id and signature, other data) and an invention (a new id, the copied
    /// signature, or none at all).
    fn forge(&mut self, events: &mut Vec<CloudEvent>) {
        if events.is_empty() || self.byzantine_rng.f64() >= self.byzantine {
            return;
        }
        let at = self.byzantine_rng.usize(..events.len());
        let genuine = &events[at];
        let mut altered = genuine.clone();
        let mut data: serde_json::Map<String, Value> =
            serde_json::from_str(genuine.data.as_str()).expect("stored data is an object");
        data.insert("forged".into(), Value::Bool(true));
        altered.data = data.into();
        let mut invented = genuine.clone();
        self.outcome.forgeries += 2;
        invented.id = format!("forged-{}", self.outcome.forgeries).into();
        if self.byzantine_rng.bool() {
            invented.extensions.remove(concord_core::sign::DSSEMATERIAL);
        }
        self.forged.insert(altered.id.to_string());
        self.forged.insert(invented.id.to_string());
        events.insert(at + 1, invented);
        events.insert(at + 1, altered);
    }

    fn is_current(&self, node: usize, link: usize, round: u64) -> bool {
        let n = &self.nodes[node];
        n.service.is_some()
            && n.rounds
                .get(link)
                .copied()
                .flatten()
                .is_some_and(|(r, _)| r == round)
    }

    /// Ends every fault: nodes restart, partitions heal, the network turns reliable.
    fn heal(&mut self) {
        self.faults.network.drop = 0.0;
        self.faults.network.duplicate = 0.0;
        self.faults.crash = 0.0;
        self.faults.partition = 0.0;
        self.network.heal();
        for node in 0..self.nodes.len() {
            if self.nodes[node].service.is_none() {
                self.restart(node);
            }
        }
    }

    /// Runs until two windows pass in which nothing changes although every link was made to
    /// run at the start of each (links keep polling, so the network itself is never silent).
    fn quiesce(&mut self) -> Result<(), String> {
        let mut last = None;
        let mut quiet = 0;
        for _ in 0..MAX_QUIET_WINDOWS {
            for node in 0..self.nodes.len() {
                let now = self.time(node);
                for link in &mut self.nodes[node].links {
                    match link {
                        Link::Pull(pull) => pull.schedule().force(now),
                        Link::Push(push) => push.schedule().force(now),
                    }
                }
            }
            let end = self.now + QUIET_WINDOW_MS;
            while self.now < end {
                let next = (self.now + 10).min(end);
                self.run_until(next);
            }
            let fingerprint = self.fingerprint();
            quiet = if last.as_ref() == Some(&fingerprint) {
                quiet + 1
            } else {
                0
            };
            if quiet == 2 {
                return Ok(());
            }
            last = Some(fingerprint);
        }
        Err(format!(
            "seed {}: the links did not quiesce within {} s of simulated time",
            self.outcome.seed,
            MAX_QUIET_WINDOWS as u64 * QUIET_WINDOW_MS / 1000
        ))
    }

    /// Resets each stopped link of a running node with probability `chance`: an operator
    /// who notices a stopped link (its status says why) and resets its cursor.
    fn operator_resets_stopped_links(&mut self, chance: f64) {
        for node in 0..self.nodes.len() {
            if self.nodes[node].service.is_none() {
                continue;
            }
            for link in 0..self.nodes[node].links.len() {
                let stopped = match &self.nodes[node].links[link] {
                    Link::Pull(pull) => pull.is_stopped(),
                    Link::Push(push) => push.is_stopped(),
                };
                if !stopped || self.rng.f64() >= chance {
                    continue;
                }
                let now = self.time(node);
                let n = &mut self.nodes[node];
                let update = match &mut n.links[link] {
                    Link::Pull(pull) => pull.reset(now),
                    Link::Push(push) => push.reset(now),
                };
                n.rounds[link] = None;
                take_link(n, now, External::from_link(Vec::new(), update));
                self.outcome.link_resets += 1;
            }
        }
    }

    /// Whether a link is stopped or a dead letter is held anywhere.
    fn needs_operator(&self) -> bool {
        self.nodes.iter().any(|n| {
            n.links.iter().any(|link| match link {
                Link::Pull(pull) => pull.is_stopped(),
                Link::Push(push) => push.is_stopped(),
            }) || n.specs.iter().any(|spec| {
                n.store
                    .dead_letters(&spec.name, usize::MAX)
                    .is_ok_and(|(_, letters)| {
                        letters
                            .iter()
                            .any(|l| !check::is_refused_forgery(l, &self.forged))
                    })
            })
        })
    }

    fn operator_resets_every_stopped_link(&mut self) {
        self.operator_resets_stopped_links(1.0);
    }

    /// Lets simulated time pass beyond every time a jumped clock stamped, so that what peers
    /// refused as too far ahead is now acceptable.
    fn wait_out_clock_jumps(&mut self) {
        if self.outcome.clock_jumps > 0 {
            self.now += self.faults.max_jump_ms + 1_000;
        }
    }

    /// Re-delivers every dead letter, as an operator would after a fix: a pull link's through
    /// the one path again, a push link's to its peer.
    fn operator_retries_dead_letters(&mut self) {
        for node in 0..self.nodes.len() {
            for link in 0..self.nodes[node].links.len() {
                let now = self.time(node);
                let n = &mut self.nodes[node];
                let name = n.specs[link].name.clone();
                let (_, letters) = n
                    .store
                    .dead_letters(&name, usize::MAX)
                    .expect("memory store");
                let events: Vec<CloudEvent> = letters
                    .iter()
                    .filter_map(|letter| letter.event.as_deref())
                    .filter_map(|text| CloudEvent::parse(text, &Limits::default()).ok())
                    .collect();
                if events.is_empty() {
                    continue;
                }
                self.outcome.dead_letters_retried += events.len() as u64;
                match &mut n.links[link] {
                    Link::Pull(_) => {
                        let retry = External {
                            events,
                            intake: Intake::EachEvent,
                            link: Some(LinkUpdate {
                                link: name,
                                ..LinkUpdate::default()
                            }),
                            retrying: true,
                            by_operator: false,
                        };
                        take_link(n, now, retry);
                    }
                    Link::Push(push) => {
                        n.rounds[link] = None;
                        let step = push.retry(now, events);
                        self.push_step(node, link, step);
                        // Let the re-delivery finish before the next link's.
                        self.run_until(self.now + ROUND_TIMEOUT_MS);
                    }
                }
            }
        }
    }

    fn fingerprint(&self) -> Vec<u64> {
        let mut print = Vec::new();
        for n in &self.nodes {
            print.push(n.store.last_sequence().unwrap_or(0));
            for spec in &n.specs {
                print.push(n.store.cursor(&spec.name).unwrap_or(0));
            }
        }
        print
    }

    fn check(&self, scenario: &dyn Scenario) -> Result<(), String> {
        let services: Vec<&dyn SimService> = self
            .nodes
            .iter()
            .map(|n| n.service.as_deref().expect("every node runs after healing"))
            .collect();
        let stores: Vec<&MemoryStore> = self.nodes.iter().map(|n| &n.store).collect();
        for n in &self.nodes {
            check::nothing_acknowledged_was_lost(&n.name, &n.store, &n.acknowledged)?;
            check::each_id_stored_once(&n.name, &n.store)?;
            let live = n.service.as_deref().expect("running");
            check::live_equals_replays(&n.name, live, &n.store, &n.open)?;
        }
        let links: Vec<(&str, &[LinkSpec])> = self
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.specs.as_slice()))
            .collect();
        check::links_drained(&links, &stores, &self.peers)?;
        check::no_dead_letters(&links, &stores, &self.forged)?;
        check::no_forgery_stored(&stores, &self.forged)?;
        check::partially_synchronized(&services, &stores)?;
        scenario.check(&services)
    }
}

/// Hands a running node external events through the one path, recording what it accepted
/// as acknowledged.
fn take(
    n: &mut Node,
    now: Timestamp,
    external: External,
) -> Result<PutReport, concord_core::runtime::Refusal> {
    let svc = n.service.as_mut().expect("only running nodes take events");
    n.env.now = now;
    let report = svc.take(&n.store, &mut n.env, external)?;
    for (id, disposition) in &report.results {
        if *disposition == Disposition::Accepted {
            n.acknowledged.push(id.clone());
        }
    }
    Ok(report)
}

/// [`take`] for what a link hands in: taken event by event, so never refused whole.
fn take_link(n: &mut Node, now: Timestamp, external: External) -> PutReport {
    take(n, now, external).expect("a link's events are taken event by event")
}
