//! Invariants every simulated run must keep, whatever its scenario.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use concord_core::event::CloudEvent;
use concord_core::model::Stamp;
use concord_core::runtime::refused_letter_id;
use concord_core::sign::DSSEMATERIAL;
use concord_core::store::{DeadLetter, EventAppender, EventReader, MemoryStore};
use concord_sync::{Direction, LinkSpec};

use crate::service::{Opener, SimService};

fn all_events(store: &MemoryStore) -> Vec<CloudEvent> {
    let mut events = Vec::new();
    store
        .replay(0, &mut |stored| events.push(stored.event.clone()))
        .expect("the memory store does not fail");
    events
}

/// R6: every id a node acknowledged (a command's events, accepted external events) is in its
/// store — crashes lose memory, never acknowledged events.
pub fn nothing_acknowledged_was_lost(
    name: &str,
    store: &MemoryStore,
    acknowledged: &[String],
) -> Result<(), String> {
    let ids: Vec<&str> = acknowledged.iter().map(String::as_str).collect();
    let present = store.contains(&ids).expect("memory store");
    match ids.iter().zip(present).find(|(_, present)| !present) {
        Some((id, _)) => Err(format!(
            "{name}: acknowledged event {id} is not in its store"
        )),
        None => Ok(()),
    }
}

/// R3: no id is stored twice.
pub fn each_id_stored_once(name: &str, store: &MemoryStore) -> Result<(), String> {
    let mut seen = HashSet::new();
    for event in all_events(store) {
        if !seen.insert(event.id.clone()) {
            return Err(format!("{name}: event {} is stored twice", event.id));
        }
    }
    Ok(())
}

/// R1 and R5: the live model equals the model replayed from the store (arrival order), and
/// the model built from the same events applied in `(time, id)` order. A model whose state
/// depends on arrival order fails the second comparison as soon as a service received two
/// writes of one attribute out of time order.
pub fn live_equals_replays(
    name: &str,
    live: &dyn SimService,
    store: &MemoryStore,
    open: &Opener,
) -> Result<(), String> {
    let replayed = open(store);
    if !live.same_state(&*replayed) {
        return Err(format!(
            "{name}: the live model differs from the model replayed from its store\nlive: {}\nreplayed: {}",
            live.describe(),
            replayed.describe()
        ));
    }
    let mut events = all_events(store);
    events.sort_by_key(CloudEvent::stamp);
    let time_ordered = MemoryStore::new();
    time_ordered.append(&events, &[]).expect("memory store");
    let reference = open(&time_ordered);
    if !live.same_state(&*reference) {
        return Err(format!(
            "{name}: the model depends on arrival order: applying its events in (time, id) order gives another state\nlive: {}\ntime-ordered: {}",
            live.describe(),
            reference.describe()
        ));
    }
    Ok(())
}

/// Every link has carried everything: a pull link's cursor has reached its peer's last
/// sequence, a push link's cursor its own.
pub fn links_drained(
    nodes: &[(&str, &[LinkSpec])],
    stores: &[&MemoryStore],
    peers: &[Vec<usize>],
) -> Result<(), String> {
    for (node, (name, specs)) in nodes.iter().enumerate() {
        for (link, spec) in specs.iter().enumerate() {
            let cursor = stores[node].cursor(&spec.name).expect("memory store");
            let end = match spec.direction {
                Direction::Pull => stores[peers[node][link]].last_sequence(),
                Direction::Push => stores[node].last_sequence(),
            }
            .expect("memory store");
            if cursor != end {
                return Err(format!(
                    "{name}: link {} stopped at {cursor}, but its log ends at {end}",
                    spec.name
                ));
            }
        }
    }
    Ok(())
}

/// Nothing a link was to carry was skipped: every event of its source's log that the link
/// reads and its receiver accepts is in the receiver's store. A drained cursor does not show
/// it: a link that jumps past a page it never delivered ends drained too, and what it skipped
/// is often overwritten later, so even the active events agree.
pub fn links_skipped_nothing(
    nodes: &[(&str, &[LinkSpec])],
    services: &[&dyn SimService],
    stores: &[&MemoryStore],
    peers: &[Vec<usize>],
) -> Result<(), String> {
    for (node, (name, specs)) in nodes.iter().enumerate() {
        for (link, spec) in specs.iter().enumerate() {
            let peer = peers[node][link];
            let (from, to) = match spec.direction {
                Direction::Pull => (peer, node),
                Direction::Push => (node, peer),
            };
            let query = spec.query(0);
            let events: Vec<CloudEvent> = all_events(stores[from])
                .into_iter()
                .filter(|e| query.matches(e) && services[to].policy().check(e).is_none())
                .collect();
            let ids: Vec<&str> = events.iter().map(|e| &*e.id).collect();
            let present = stores[to].contains(&ids).expect("memory store");
            if let Some((id, _)) = ids.iter().zip(present).find(|(_, present)| !present) {
                return Err(format!(
                    "{name}: link {} skipped event {id} of {}: {} never stored it",
                    spec.name,
                    services[from].name(),
                    services[to].name()
                ));
            }
        }
    }
    Ok(())
}

/// Whether a dead letter is a byzantine relay's forgery refused for its signature: the one
/// kind that must stay refused however often the operator re-delivers it.
pub fn is_refused_forgery(letter: &DeadLetter, forged: &BTreeSet<String>) -> bool {
    letter.reason.starts_with(DSSEMATERIAL)
        && letter
            .id
            .strip_suffix(&refused_letter_id(""))
            .is_some_and(|id| forged.contains(id))
}

/// Nothing is left undelivered: after the operator re-delivered them, no link holds a dead
/// letter (an honest run refuses events only while a clock runs far ahead) but a relay's
/// forgeries, refused for their signatures.
pub fn no_dead_letters(
    nodes: &[(&str, &[LinkSpec])],
    stores: &[&MemoryStore],
    forged: &BTreeSet<String>,
) -> Result<(), String> {
    for (node, (name, specs)) in nodes.iter().enumerate() {
        for spec in specs.iter() {
            let (_, letters) = stores[node]
                .dead_letters(&spec.name, usize::MAX)
                .expect("memory store");
            let letters: Vec<_> = letters
                .into_iter()
                .filter(|l| !is_refused_forgery(l, forged))
                .collect();
            let count = letters.len();
            if count > 0 {
                return Err(format!(
                    "{name}: link {} still holds {count} dead letters after re-delivery: {letters:?}",
                    spec.name
                ));
            }
        }
    }
    Ok(())
}

/// No forgery was stored anywhere: no invented id, and every copy of an id whose altered
/// copy was served has the same content everywhere (the genuine one).
pub fn no_forgery_stored(stores: &[&MemoryStore], forged: &BTreeSet<String>) -> Result<(), String> {
    let mut seen: BTreeMap<String, CloudEvent> = BTreeMap::new();
    for store in stores {
        for event in all_events(store) {
            if !forged.contains(&*event.id) {
                continue;
            }
            if event.id.starts_with("forged-") {
                return Err(format!("the invented event {} was stored", event.id));
            }
            match seen.get(&*event.id) {
                Some(other) if !other.same_content(&event) => {
                    return Err(format!(
                        "event {} is stored with two contents: an altered copy got in",
                        event.id
                    ))
                }
                Some(_) => {}
                None => {
                    seen.insert(event.id.to_string(), event);
                }
            }
        }
    }
    Ok(())
}

/// Partial synchronisation (Copei & Zündorf): for every pair of services, the active events
/// of what they share are equal. What A shares with B are the events in A's store that B
/// would accept or that B raised; active are those not overwritten by a later event with the
/// same overwrite key.
pub fn partially_synchronized(
    services: &[&dyn SimService],
    stores: &[&MemoryStore],
) -> Result<(), String> {
    let events: Vec<Vec<CloudEvent>> = stores.iter().map(|s| all_events(s)).collect();
    for a in 0..services.len() {
        for b in a + 1..services.len() {
            let a_shares = active(services[a], &events[a], services[b]);
            let b_shares = active(services[b], &events[b], services[a]);
            if a_shares != b_shares {
                let only_a: Vec<_> = a_shares.difference(&b_shares).collect();
                let only_b: Vec<_> = b_shares.difference(&a_shares).collect();
                return Err(format!(
                    "{} and {} are not partially synchronized: active shared events only at {}: {only_a:?}; only at {}: {only_b:?}",
                    services[a].name(),
                    services[b].name(),
                    services[a].name(),
                    services[b].name()
                ));
            }
        }
    }
    Ok(())
}

/// The active events (as `key → id`) among `events` held by `holder` that `other` shares.
fn active(
    holder: &dyn SimService,
    events: &[CloudEvent],
    other: &dyn SimService,
) -> BTreeSet<(String, String)> {
    let mut latest: BTreeMap<String, (Stamp, String)> = BTreeMap::new();
    for event in events {
        let shared = event.source == other.name() || other.policy().check(event).is_none();
        if !shared {
            continue;
        }
        let Some(key) = holder.overwrite_key(event) else {
            continue;
        };
        let stamp = event.stamp();
        match latest.get(&key) {
            Some((current, _)) if *current >= stamp => {}
            _ => {
                latest.insert(key, (stamp, event.id.to_string()));
            }
        }
    }
    latest.into_iter().map(|(key, (_, id))| (key, id)).collect()
}
