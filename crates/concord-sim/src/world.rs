//! The simulation loop: nodes running the real cores and links, driven by a seeded RNG.

use std::collections::VecDeque;

use concord_core::event::{CloudEvent, Limits, Timestamp};
use concord_core::host::HostError;
use concord_core::runtime::{Disposition, External, Intake, PutReport, SeededEnv};
use concord_core::store::{EventReader, LinkUpdate, MemoryStore, StoreError};
use concord_core::wire::Delivered;
use concord_sync::{
    Batch, DeliveryError, Direction, LinkSpec, Page, PageRequest, PullLink, PullStep, PushLink,
    PushStep, SyncLink, TransportError,
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
/// Separates the draws of commits (their delays and failures) and page sizes likewise.
const COMMIT_SALT: u64 = 0xc0a1_7000_5eed_0002;
/// Links read pages of at most this many events in a simulation (at least one, drawn per
/// link), so that a page is often not the last and rounds overlap.
const MAX_SIM_PAGE: usize = 12;

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
    /// A commit (a pulled page applied, a push link's cursor saved) completes up to this long
    /// after it was handed to the node's writer, in order; a crash in between loses it.
    /// Meanwhile the link's next round is under way (a page fetched or delivered ahead).
    pub max_commit_ms: u64,
    /// The writer fails a link's commit (a full queue, a store error): nothing of it is
    /// stored, and the link is told so.
    pub commit_failure: f64,
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
            max_commit_ms: 2,
            commit_failure: 0.0,
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
            max_commit_ms: fastrand::Rng::with_seed(rng.get_seed() ^ COMMIT_SALT).u64(0..=300),
            commit_failure: fastrand::Rng::with_seed(rng.get_seed() ^ COMMIT_SALT ^ 1).f64() * 0.05,
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
    /// Every push link is the deliberately broken one of
    /// `PushLink::skipping_ahead_on_failed_save`: for the simulator's own test only.
    #[cfg(feature = "self-test")]
    pub broken_push: bool,
}

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            steps: 300,
            faults: None,
            #[cfg(feature = "self-test")]
            broken_push: false,
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
    /// Pull rounds whose page was fetched while the page before it committed.
    pub pages_fetched_ahead: u64,
    /// Pages a pull link asked for as soon as the page before them arrived ahead: two pages
    /// ahead of its commit.
    pub pages_asked_two_ahead: u64,
    /// Of those, pages that arrived while the page before them still waited for its round,
    /// and moved up when that round began.
    pub pages_taken_two_ahead: u64,
    /// Pages fetched ahead whose request timed out before their round began: that round
    /// fails with it and backs off.
    pub pages_ahead_timed_out: u64,
    /// Push pages whose delivery began while the page before it was being saved.
    pub pages_delivered_ahead: u64,
    /// Link commits the writer failed.
    pub commits_failed: u64,
    pub simulated_ms: u64,
}

enum Link {
    Pull(PullLink),
    Push(PushLink),
}

impl Link {
    /// What both kinds share: schedule, stop, reset.
    fn common(&self) -> &dyn SyncLink {
        match self {
            Link::Pull(pull) => pull,
            Link::Push(push) => push,
        }
    }

    fn common_mut(&mut self) -> &mut dyn SyncLink {
        match self {
            Link::Pull(pull) => pull,
            Link::Push(push) => push,
        }
    }
}

/// A page's answer: the page, or why it did not come.
type Fetched = Result<Page, TransportError>;

/// A link's request out on the network.
struct InFlight {
    round: u64,
    timeout_at: u64,
    /// A push link's batch, lent by the link until the answer comes.
    batch: Option<Batch>,
    /// A pull link's page fetched ahead, while the page before it commits: the request it
    /// answers (not yet a round of the link's).
    ahead: Option<PageRequest>,
}

/// What a link handed the node's writer.
enum Work {
    Apply(PullStep),
    Save(LinkUpdate),
}

/// A commit in the node's writer: completes at `at` (simulated time).
struct Commit {
    at: u64,
    link: usize,
    work: Work,
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
    /// Per link: the request in flight.
    rounds: Vec<Option<InFlight>>,
    /// Per link: a pull link's page fetched ahead that arrived before its round began, or
    /// the failure of fetching it (the node's driver keeps that too: it is the round's).
    prefetched: Vec<Option<(PageRequest, Fetched)>>,
    /// Per link: the page after that one, asked for when it arrived (the node's
    /// `Requested`), kept until a round takes the page before it.
    two_ahead: Vec<Option<(PageRequest, Fetched)>>,
    /// What the writer has yet to commit, in order.
    commits: VecDeque<Commit>,
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
    /// Draws the commits' delays and failures.
    commit_rng: fastrand::Rng,
    #[cfg(feature = "self-test")]
    broken_push: bool,
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
        let mut pages = fastrand::Rng::with_seed(config.seed ^ COMMIT_SALT ^ 2);
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
                    rounds: spec.links.iter().map(|_| None).collect(),
                    prefetched: spec.links.iter().map(|_| None).collect(),
                    two_ahead: spec.links.iter().map(|_| None).collect(),
                    commits: VecDeque::new(),
                    specs: spec
                        .links
                        .into_iter()
                        .map(|mut link| {
                            let small = pages.usize(1..=MAX_SIM_PAGE);
                            link.page_size = link.page_size.min(small);
                            link
                        })
                        .collect(),
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
            commit_rng: fastrand::Rng::with_seed(config.seed ^ COMMIT_SALT),
            #[cfg(feature = "self-test")]
            broken_push: config.broken_push,
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
        n.prefetched.iter_mut().for_each(|p| *p = None);
        n.two_ahead.iter_mut().for_each(|p| *p = None);
        n.commits.clear(); // what the writer had not committed is lost
        n.down_until = Some(self.now + down_ms);
        self.outcome.crashes += 1;
    }

    /// Starts a node from its store, as a process restart would: replay, links from cursors.
    fn restart(&mut self, node: usize) {
        let now = self.time(node);
        let seed = self.rng.u64(..);
        #[cfg(feature = "self-test")]
        let broken_push = self.broken_push;
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
                    Direction::Push => {
                        let push = PushLink::new(spec.clone(), cursor, now, seed);
                        #[cfg(feature = "self-test")]
                        let push = if broken_push {
                            push.skipping_ahead_on_failed_save()
                        } else {
                            push
                        };
                        Link::Push(push)
                    }
                }
            })
            .collect();
        n.rounds.iter_mut().for_each(|r| *r = None);
        n.prefetched.iter_mut().for_each(|p| *p = None);
        n.two_ahead.iter_mut().for_each(|p| *p = None);
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
            self.run_commits();
            self.run_links();
            let next = match (self.network.next_due(), self.next_commit()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match next.filter(|at| *at <= until) {
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
        if n.rounds[link]
            .as_ref()
            .is_none_or(|flight| self.now < flight.timeout_at)
        {
            return;
        }
        let Some(flight) = n.rounds[link].take() else {
            return;
        };
        let timed_out = TransportError::Unreachable("timed out".into());
        let step = match &mut n.links[link] {
            // A page fetched ahead is not a round yet: its failure is kept for the round
            // that asks for it, which fails with it and backs off, as in the node.
            Link::Pull(_) if flight.ahead.is_some() => {
                let query = flight.ahead.expect("a page fetched ahead");
                let slot = if n.prefetched[link].is_none() {
                    &mut n.prefetched[link]
                } else {
                    &mut n.two_ahead[link]
                };
                *slot = Some((query, Err(timed_out)));
                self.outcome.pages_ahead_timed_out += 1;
                PushStep::Idle
            }
            Link::Pull(pull) => {
                pull.fetched(now, Err(timed_out));
                PushStep::Idle
            }
            Link::Push(push) => match flight.batch {
                Some(batch) => push.delivered(now, batch, Err(DeliveryError::Transport(timed_out))),
                None => PushStep::Idle,
            },
        };
        self.push_step(node, link, step);
    }

    fn start_round(&mut self, node: usize, link: usize) {
        if self.has_commit(node, link) {
            return; // the link's round is committing (what runs meanwhile is started there)
        }
        let now = self.time(node);
        let n = &mut self.nodes[node];
        let fetching_ahead = n.rounds[link].as_ref().and_then(|f| f.ahead.clone());
        if n.rounds[link].is_some() && fetching_ahead.is_none() {
            return;
        }
        match &mut n.links[link] {
            Link::Pull(pull) => {
                let Some(query) = pull.start(now) else {
                    return;
                };
                // The page fetched ahead is this round's only if it answers this request.
                let ready = n.prefetched[link]
                    .take()
                    .filter(|(asked, _)| *asked == query);
                if let Some((_, page)) = ready {
                    self.outcome.pages_fetched_ahead += u64::from(page.is_ok());
                    self.fetched(node, link, page);
                } else if fetching_ahead.as_ref() == Some(&query) {
                    if let Some(flight) = n.rounds[link].as_mut() {
                        flight.ahead = None; // its answer is this round's
                    }
                    self.outcome.pages_fetched_ahead += 1;
                } else {
                    self.send_round(node, link, None, |round| Payload::Fetch {
                        link,
                        round,
                        query,
                    });
                }
            }
            Link::Push(push) => {
                if let Ok(step) = push.start(now, &n.store) {
                    self.push_step(node, link, step);
                }
            }
        }
    }

    /// Sends the request of a round of `link` and remembers it; a push link's keeps the
    /// batch it lent out until the answer comes.
    fn send_round(
        &mut self,
        node: usize,
        link: usize,
        lent: Option<Batch>,
        payload: impl FnOnce(u64) -> Payload,
    ) {
        self.send_request(node, link, lent, None, payload);
    }

    /// [`World::send_round`], or with `ahead` the request of a page fetched ahead (not a
    /// round of the link's until it asks for that page).
    fn send_request(
        &mut self,
        node: usize,
        link: usize,
        batch: Option<Batch>,
        ahead: Option<PageRequest>,
        payload: impl FnOnce(u64) -> Payload,
    ) {
        let round = self.next_round;
        self.next_round += 1;
        self.nodes[node].rounds[link] = Some(InFlight {
            round,
            timeout_at: self.now + ROUND_TIMEOUT_MS,
            batch,
            ahead,
        });
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

    /// A pull link's page arrived for its round: the step goes to the writer, and while it
    /// commits the next page is fetched ahead (unless it was asked for already).
    fn fetched(&mut self, node: usize, link: usize, page: Result<Page, TransportError>) {
        let now = self.time(node);
        let n = &mut self.nodes[node];
        let Link::Pull(pull) = &mut n.links[link] else {
            return;
        };
        let Some(step) = pull.fetched(now, page) else {
            return;
        };
        let next = pull.prefetch();
        // Asked for already, when the page before it arrived ahead: still on its way, or
        // arrived two ahead of the commit before.
        let asked = n.rounds[link]
            .as_ref()
            .is_some_and(|flight| flight.ahead.is_some() && flight.ahead == next);
        let arrived = n.two_ahead[link]
            .take()
            .filter(|(query, _)| Some(query) == next.as_ref());
        self.commit(node, link, Work::Apply(step));
        if let Some((query, page)) = arrived {
            self.outcome.pages_taken_two_ahead += u64::from(page.is_ok());
            self.kept_ahead(node, link, query, page);
        } else if let Some(query) = next.filter(|_| !asked) {
            let ahead = Some(query.clone());
            self.send_request(node, link, None, ahead, |round| Payload::Fetch {
                link,
                round,
                query,
            });
        }
    }

    /// A pull link's page one ahead of its commit: kept for the round that asks for it, and
    /// the page after it asked for at once, as the node's driver does.
    fn kept_ahead(&mut self, node: usize, link: usize, query: PageRequest, page: Fetched) {
        let n = &mut self.nodes[node];
        let after = match (&n.links[link], &page) {
            (Link::Pull(pull), Ok(page)) => pull.after(page),
            _ => None,
        };
        n.prefetched[link] = Some((query, page));
        if let Some(after) = after {
            self.outcome.pages_asked_two_ahead += 1;
            let query = after.clone();
            self.send_request(node, link, None, Some(after), |round| Payload::Fetch {
                link,
                round,
                query,
            });
        }
    }

    /// Carries out what a push link asks for next; while its save commits, it delivers the
    /// next page ahead.
    fn push_step(&mut self, node: usize, link: usize, step: PushStep) {
        match step {
            PushStep::Idle => {}
            PushStep::Deliver(batch) => {
                // What travels is a copy, as on a wire; the link's batch waits for the answer.
                let events = batch.events().to_vec();
                self.send_round(node, link, Some(batch), |round| Payload::Deliver {
                    link,
                    round,
                    events,
                });
            }
            PushStep::Save(update) => {
                self.commit(node, link, Work::Save(update));
                let now = self.time(node);
                let n = &mut self.nodes[node];
                let step = match &mut n.links[link] {
                    Link::Push(push) => push.ahead(now, &n.store).unwrap_or(PushStep::Idle),
                    Link::Pull(_) => PushStep::Idle,
                };
                if matches!(step, PushStep::Deliver(_)) {
                    self.outcome.pages_delivered_ahead += 1;
                }
                self.push_step(node, link, step);
            }
        }
    }

    /// Hands `work` to the node's writer, which commits in order, after a delay.
    fn commit(&mut self, node: usize, link: usize, work: Work) {
        let delay = self.commit_rng.u64(0..=self.faults.max_commit_ms);
        let n = &mut self.nodes[node];
        let at = n
            .commits
            .back()
            .map_or(self.now + delay, |last| last.at.max(self.now + delay));
        n.commits.push_back(Commit { at, link, work });
    }

    fn has_commit(&self, node: usize, link: usize) -> bool {
        self.nodes[node].commits.iter().any(|c| c.link == link)
    }

    fn next_commit(&self) -> Option<u64> {
        self.nodes
            .iter()
            .filter_map(|n| n.commits.front().map(|c| c.at))
            .min()
    }

    /// Completes every commit due: stored (or failed), and the link told.
    fn run_commits(&mut self) {
        for node in 0..self.nodes.len() {
            while self.nodes[node]
                .commits
                .front()
                .is_some_and(|c| c.at <= self.now)
            {
                let Some(Commit { link, work, .. }) = self.nodes[node].commits.pop_front() else {
                    break;
                };
                let failed = self.commit_rng.f64() < self.faults.commit_failure;
                self.outcome.commits_failed += u64::from(failed);
                self.complete(node, link, work, failed);
            }
        }
    }

    fn complete(&mut self, node: usize, link: usize, work: Work, failed: bool) {
        let now = self.time(node);
        let failure = HostError::Store(StoreError::Backend("the simulated commit failed".into()));
        let n = &mut self.nodes[node];
        match work {
            Work::Apply(step) => {
                let report = (!failed)
                    .then(|| take_link(n, now, External::from_link(step.events, step.link)));
                if let Link::Pull(pull) = &mut n.links[link] {
                    pull.applied(now, report.as_ref().ok_or(&failure));
                }
                if failed {
                    // As the node's driver does: what was fetched ahead of a failed commit is
                    // forgotten (the next round starts again from the durable cursor).
                    n.prefetched[link] = None;
                    n.two_ahead[link] = None;
                    if n.rounds[link].as_ref().is_some_and(|f| f.ahead.is_some()) {
                        n.rounds[link] = None;
                    }
                }
                if report.is_some_and(|report| report.accepted() > 0) {
                    self.wake_push_links(node);
                }
            }
            Work::Save(update) => {
                if !failed {
                    take_link(n, now, External::from_link(Vec::new(), update));
                }
                let step = match &mut n.links[link] {
                    Link::Push(push) => {
                        push.saved(now, if failed { Err(&failure) } else { Ok(()) })
                    }
                    Link::Pull(_) => PushStep::Idle,
                };
                self.push_step(node, link, step);
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
                                    Some((id.to_string(), reason.clone()))
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
                let Some(flight) = n.rounds[link].take() else {
                    return;
                };
                match flight.ahead {
                    // Fetched ahead: kept for the round that asks for it (and the page after
                    // it asked for); a page asked for two ahead waits behind it.
                    Some(query) if n.prefetched[link].is_none() => {
                        self.kept_ahead(to, link, query, Ok(page));
                    }
                    Some(query) => n.two_ahead[link] = Some((query, Ok(page))),
                    None => self.fetched(to, link, Ok(page)),
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
                let Some(batch) = n.rounds[link].take().and_then(|flight| flight.batch) else {
                    return;
                };
                let Link::Push(push) = &mut n.links[link] else {
                    return;
                };
                let step = push.delivered(now, batch, result);
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
                .and_then(Option::as_ref)
                .is_some_and(|flight| flight.round == round)
    }

    /// Ends every fault: nodes restart, partitions heal, the network turns reliable.
    fn heal(&mut self) {
        self.faults.network.drop = 0.0;
        self.faults.network.duplicate = 0.0;
        self.faults.crash = 0.0;
        self.faults.partition = 0.0;
        // Commits still take time, but no longer fail: else two quiet windows could be two
        // failed saves in a row rather than links with nothing left to carry.
        self.faults.commit_failure = 0.0;
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
                    link.common_mut().schedule().force(now);
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
                let stopped = self.nodes[node].links[link].common().is_stopped();
                // The operator's reset queues behind what the writer has yet to commit, so it
                // waits for the link's own commit (a node resets under the link's round lock).
                if !stopped || self.rng.f64() >= chance || self.has_commit(node, link) {
                    continue;
                }
                let now = self.time(node);
                let n = &mut self.nodes[node];
                let update = n.links[link].common_mut().reset(now);
                n.rounds[link] = None;
                n.prefetched[link] = None;
                n.two_ahead[link] = None;
                take_link(n, now, External::from_link(Vec::new(), update));
                self.outcome.link_resets += 1;
            }
        }
    }

    /// Whether a link is stopped or a dead letter is held anywhere.
    fn needs_operator(&self) -> bool {
        self.nodes.iter().any(|n| {
            n.links.iter().any(|link| link.common().is_stopped())
                || n.specs.iter().any(|spec| {
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
                    Link::Push(_) => {
                        // A re-delivery runs between the link's rounds (a node holds the
                        // link's round lock), so not while its save is being committed.
                        for _ in 0..1_000 {
                            if !self.has_commit(node, link) {
                                break;
                            }
                            self.run_until(self.now + 10);
                        }
                        let now = self.time(node);
                        let n = &mut self.nodes[node];
                        let Link::Push(push) = &mut n.links[link] else {
                            continue;
                        };
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
        scenario.check(&services)?;
        check::links_skipped_nothing(&links, &services, &stores, &self.peers)
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
            n.acknowledged.push(id.to_string());
        }
    }
    Ok(report)
}

/// [`take`] for what a link hands in: taken event by event, so never refused whole.
fn take_link(n: &mut Node, now: Timestamp, external: External) -> PutReport {
    take(n, now, external).expect("a link's events are taken event by event")
}
