//! An HTTP topology's flows, over a NATS stream.
//!
//! Over HTTP a pull link reads the peer's log and a push link writes into the peer's. Over
//! NATS the stream sits in the middle: whoever *produces* events of a type publishes them (a
//! push link, peer irrelevant), and whoever *takes* them consumes them from the stream (a pull
//! link with a durable consumer). [`over_nats`] rewrites a whole system's links that way:
//!
//! - `A pulls T from B` → A consumes T (from any source, as its pull did; its data filters
//!   kept), and B publishes its own T;
//! - `A pushes T to B` → A publishes its own T, and B consumes T from source A (with the push
//!   link's data filters).
//!
//! Every service publishes each type at most once (`nats-publish-<types>`). Links get new
//! names (`nats-…`), because their cursors are positions in the stream, not in a peer's log.

use concord_sync::{Direction, LinkSpec};

/// The same flows as `topology` (each service's name with its links), over the NATS server
/// at `url`.
pub fn over_nats(topology: &[(String, Vec<LinkSpec>)], url: &str) -> Vec<(String, Vec<LinkSpec>)> {
    let mut result: Vec<(String, Vec<LinkSpec>)> = topology
        .iter()
        .map(|(service, _)| (service.clone(), Vec::new()))
        .collect();
    let mut add = |service: &str, link: LinkSpec| {
        let at = match result.iter().position(|(s, _)| s == service) {
            Some(at) => at,
            None => {
                result.push((service.to_owned(), Vec::new()));
                result.len() - 1
            }
        };
        let links = &mut result[at].1;
        if !links.iter().any(|l| l.name == link.name) {
            links.push(link);
        }
    };
    for (service, links) in topology {
        for link in links {
            let types: Vec<&str> = link.types.iter().map(String::as_str).collect();
            match link.direction {
                Direction::Pull => {
                    add(service, consume(link, url, link.sources.clone()));
                    add(&link.peer, publish(&link.peer, &types, link, url));
                }
                Direction::Push => {
                    add(service, publish(service, &types, link, url));
                    let mut consumer = consume(link, url, vec![service.clone()]);
                    consumer.peer = service.clone();
                    consumer.name = format!("nats-pull-{}-from-{service}", link.types.join("-"));
                    add(&link.peer, consumer);
                }
            }
        }
    }
    result
}

/// A pull link over NATS taking `link`'s types and filters from `sources`.
fn consume(link: &LinkSpec, url: &str, sources: Vec<String>) -> LinkSpec {
    let mut consumer = link.clone().over_nats(url);
    consumer.direction = Direction::Pull;
    consumer.name = format!("nats-{}", link.name);
    consumer.sources = sources;
    consumer
}

/// A push link over NATS publishing `producer`'s own events of `types` (all of them: the
/// consumers filter).
fn publish(producer: &str, types: &[&str], like: &LinkSpec, url: &str) -> LinkSpec {
    let mut publisher = LinkSpec::push(producer, "nats", url, types)
        .over_nats(url)
        .with_interval(like.interval_ms);
    publisher.name = format!("nats-publish-{}", types.join("-"));
    publisher.page_size = like.page_size;
    publisher
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_sync::TransportKind;

    fn summary(links: &[LinkSpec]) -> Vec<String> {
        links
            .iter()
            .map(|l| {
                format!(
                    "{} {:?} {} sources={:?} filter={:?}",
                    l.name,
                    l.direction,
                    l.types.join(","),
                    l.sources,
                    l.filter.iter().map(ToString::to_string).collect::<Vec<_>>()
                )
            })
            .collect()
    }

    #[test]
    fn the_paper_s_topology_over_nats() {
        let http = |peer: &str| format!("http://{peer}");
        let group = |me: &str| {
            vec![
                LinkSpec::pull("office", &http("office"), &["enrolled"]).with_filter("group", me),
                LinkSpec::pull("ta-pool", &http("ta-pool"), &["hired"]),
                LinkSpec::push(me, "office", &http("office"), &["graded"]),
                LinkSpec::push(me, "ta-pool", &http("ta-pool"), &["hired"]),
            ]
        };
        let topology = vec![
            ("office".to_owned(), Vec::new()),
            ("se".to_owned(), group("se")),
            ("theory".to_owned(), group("theory")),
            ("ta-pool".to_owned(), Vec::new()),
        ];
        let nats = over_nats(&topology, "nats://127.0.0.1:4222");
        assert!(nats
            .iter()
            .flat_map(|(_, links)| links)
            .all(|l| l.transport == TransportKind::Nats
                && l.url == "nats://127.0.0.1:4222"
                && l.validate().is_ok()));
        let of = |service: &str| summary(&nats.iter().find(|(s, _)| s == service).unwrap().1);
        assert_eq!(
            of("office"),
            [
                "nats-publish-enrolled Push enrolled sources=[\"office\"] filter=[]",
                "nats-pull-graded-from-se Pull graded sources=[\"se\"] filter=[]",
                "nats-pull-graded-from-theory Pull graded sources=[\"theory\"] filter=[]",
            ]
        );
        assert_eq!(
            of("se"),
            [
                "nats-pull-enrolled-from-office Pull enrolled sources=[] filter=[\"data.group=se\"]",
                "nats-pull-hired-from-ta-pool Pull hired sources=[] filter=[]",
                "nats-publish-graded Push graded sources=[\"se\"] filter=[]",
                "nats-publish-hired Push hired sources=[\"se\"] filter=[]",
            ]
        );
        // The ta-pool publishes its own hires (it has none, harmlessly) and takes both groups'.
        assert_eq!(
            of("ta-pool"),
            [
                "nats-publish-hired Push hired sources=[\"ta-pool\"] filter=[]",
                "nats-pull-hired-from-se Pull hired sources=[\"se\"] filter=[]",
                "nats-pull-hired-from-theory Pull hired sources=[\"theory\"] filter=[]",
            ]
        );
    }
}
