//! The topology as an SVG picture, drawn on the server from the link configuration: a box
//! per service, an arrow per link pointing the way its events flow, labelled with the link's
//! direction, event types and filter.
//!
//! Services sit on an ellipse. With few services (≤ 7) every order around it is tried and the
//! one with the fewest crossing arrows wins (the first such, so every service's page draws
//! the same picture); the paper's four services come out as a diamond with no crossing.
//! Labels sit outside the ellipse, beside the middle of their arrows, and the picture's
//! `viewBox` is fitted around boxes and labels so nothing is cut off at any width.

use concord_sync::{Direction, LinkSpec, LinkStatus};
use maud::{html, Markup};

use crate::sync::SyncStatus;

/// One link, as drawn.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Edge {
    /// The service that runs the link.
    pub runner: String,
    pub peer: String,
    pub pull: bool,
    pub name: String,
    pub types: Vec<String>,
    /// `group=se-group`, …
    pub filter: Vec<String>,
}

impl Edge {
    fn from_spec(runner: &str, spec: &LinkSpec) -> Edge {
        Edge {
            runner: runner.to_owned(),
            peer: spec.peer.clone(),
            pull: spec.direction == Direction::Pull,
            name: spec.name.clone(),
            types: spec.types.clone(),
            filter: spec
                .filter
                .iter()
                .map(|f| f.to_string().trim_start_matches("data.").to_owned())
                .collect(),
        }
    }

    /// From a live link of this service.
    fn from_status(runner: &str, link: &LinkStatus) -> Edge {
        Edge {
            runner: runner.to_owned(),
            peer: link.peer.clone(),
            pull: link.direction == Direction::Pull,
            name: link.name.clone(),
            types: link.types.clone(),
            filter: link
                .filter
                .iter()
                .map(|f| f.trim_start_matches("data.").to_owned())
                .collect(),
        }
    }

    /// (from, to) in the direction events flow.
    fn flow(&self) -> (&str, &str) {
        if self.pull {
            (&self.peer, &self.runner)
        } else {
            (&self.runner, &self.peer)
        }
    }

    fn label(&self) -> String {
        let mut label = format!("{} ", if self.pull { "pull" } else { "push" });
        if self.types.is_empty() {
            label.push_str("all events");
        } else {
            label.push_str(&self.types.join(", "));
        }
        if !self.filter.is_empty() {
            label.push_str(&format!(" ({})", self.filter.join(", ")));
        }
        label
    }
}

/// The services and links to draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Topology {
    pub services: Vec<String>,
    pub edges: Vec<Edge>,
}

impl Topology {
    /// The configured `topology`; this service's own links come from its live `status` when
    /// the configuration does not list them.
    pub fn new(
        name: &str,
        topology: &[(String, Vec<LinkSpec>)],
        status: Option<&SyncStatus>,
    ) -> Self {
        let mut services: Vec<String> = Vec::new();
        let mut edges = Vec::new();
        for (service, links) in topology {
            services.push(service.clone());
            edges.extend(links.iter().map(|spec| Edge::from_spec(service, spec)));
        }
        if !topology.iter().any(|(service, _)| service == name) {
            services.insert(0, name.to_owned());
            let live = status
                .into_iter()
                .flat_map(|s| &s.links)
                .map(|link| Edge::from_status(name, link));
            edges.extend(live);
        }
        for edge in &edges {
            for service in [&edge.runner, &edge.peer] {
                if !services.contains(service) {
                    services.push(service.clone());
                }
            }
        }
        Topology { services, edges }
    }

    /// Every event type some link carries, for the event log's filter.
    pub fn types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.edges.iter().flat_map(|e| e.types.clone()).collect();
        types.sort();
        types.dedup();
        types
    }
}

const BOX_HEIGHT: f64 = 40.0;
const LINK_GAP: f64 = 12.0;
const LABEL_LINE: f64 = 15.0;
const LABEL_CHAR: f64 = 6.4;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

impl Point {
    fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
    fn add(self, other: Point, scale: f64) -> Point {
        Point::new(self.x + other.x * scale, self.y + other.y * scale)
    }
    fn length(self) -> f64 {
        self.x.hypot(self.y)
    }
    fn unit(self) -> Point {
        let length = self.length().max(1e-9);
        Point::new(self.x / length, self.y / length)
    }
}

fn box_width(name: &str) -> f64 {
    (name.chars().count() as f64 * 8.4 + 28.0).max(110.0)
}

/// Whether chords (a, b) and (c, d) between positions on a circle cross.
fn chords_cross((a, b): (usize, usize), (c, d): (usize, usize)) -> bool {
    if a == c || a == d || b == c || b == d {
        return false;
    }
    let (lo, hi) = (a.min(b), a.max(b));
    let inside = |x: usize| lo < x && x < hi;
    inside(c) != inside(d)
}

/// The order around the ellipse: slot → service index, with the fewest crossings.
fn arrange(n: usize, pairs: &[(usize, usize)]) -> Vec<usize> {
    let identity: Vec<usize> = (0..n).collect();
    if n <= 3 || n > 7 {
        return identity;
    }
    let crossings = |order: &[usize]| {
        let mut slot = vec![0; n];
        for (s, &service) in order.iter().enumerate() {
            slot[service] = s;
        }
        let chords: Vec<(usize, usize)> = pairs.iter().map(|&(a, b)| (slot[a], slot[b])).collect();
        let mut count = 0;
        for (i, &x) in chords.iter().enumerate() {
            count += chords[i + 1..]
                .iter()
                .filter(|&&y| chords_cross(x, y))
                .count();
        }
        count
    };
    let mut best = (crossings(&identity), identity.clone());
    let mut rest: Vec<usize> = (1..n).collect();
    // Lexicographic permutations of all but the first service, which stays on top.
    while next_permutation(&mut rest) {
        let mut order = vec![0];
        order.extend(&rest);
        let count = crossings(&order);
        if count < best.0 {
            best = (count, order);
        }
    }
    best.1
}

fn next_permutation(items: &mut [usize]) -> bool {
    let Some(i) = (1..items.len()).rev().find(|&i| items[i - 1] < items[i]) else {
        return false;
    };
    let j = (i..items.len())
        .rev()
        .find(|&j| items[j] > items[i - 1])
        .unwrap_or(i);
    items.swap(i - 1, j);
    items[i..].reverse();
    true
}

/// Centre of each service's box.
fn positions(n: usize, pairs: &[(usize, usize)]) -> Vec<Point> {
    match n {
        0 => vec![],
        1 => vec![Point::new(0.0, 0.0)],
        2 => vec![Point::new(-200.0, 0.0), Point::new(200.0, 0.0)],
        _ => {
            let (rx, ry) = ((70 * n).max(240) as f64, (40 * n).max(150) as f64);
            let mut centres = vec![Point::new(0.0, 0.0); n];
            for (slot, service) in arrange(n, pairs).into_iter().enumerate() {
                // Counter-clockwise from the top, so the second service sits on the left.
                let angle =
                    -std::f64::consts::FRAC_PI_2 - std::f64::consts::TAU * slot as f64 / n as f64;
                centres[service] = Point::new(rx * angle.cos(), ry * angle.sin());
            }
            centres
        }
    }
}

/// How far from a box's centre its border lies in `direction` (a unit vector).
fn to_border(width: f64, direction: Point) -> f64 {
    let (hw, hh) = (width / 2.0, BOX_HEIGHT / 2.0);
    let tx = if direction.x.abs() < 1e-9 {
        f64::MAX
    } else {
        hw / direction.x.abs()
    };
    let ty = if direction.y.abs() < 1e-9 {
        f64::MAX
    } else {
        hh / direction.y.abs()
    };
    tx.min(ty)
}

struct Label {
    at: Point,
    anchor: &'static str,
    text: String,
    pull: bool,
}

/// The picture. `siblings` makes boxes links to the services' pages.
pub(crate) fn svg(name: &str, topology: &Topology, siblings: &[(String, String)]) -> Markup {
    let services = &topology.services;
    let index = |s: &str| services.iter().position(|x| x == s).unwrap_or(0);
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut by_pair: Vec<((usize, usize), Vec<&Edge>)> = Vec::new();
    for edge in &topology.edges {
        let (a, b) = (index(&edge.runner), index(&edge.peer));
        let pair = (a.min(b), a.max(b));
        if pair.0 == pair.1 {
            continue;
        }
        match by_pair.iter_mut().find(|(p, _)| *p == pair) {
            Some((_, edges)) => edges.push(edge),
            None => {
                pairs.push(pair);
                by_pair.push((pair, vec![edge]));
            }
        }
    }
    let centres = positions(services.len(), &pairs);
    let widths: Vec<f64> = services.iter().map(|s| box_width(s)).collect();

    let mut lines = Vec::new();
    let mut labels = Vec::new();
    for ((i, j), edges) in &by_pair {
        let (ci, cj) = (centres[*i], centres[*j]);
        let u = Point::new(cj.x - ci.x, cj.y - ci.y).unit();
        let normal = Point::new(-u.y, u.x);
        let k = edges.len();
        for (m, edge) in edges.iter().enumerate() {
            let offset = (m as f64 - (k as f64 - 1.0) / 2.0) * LINK_GAP;
            let (from, to) = edge.flow();
            let (a, b) = (index(from), index(to));
            let direction = if a == *i { u } else { Point::new(-u.x, -u.y) };
            let start = centres[a]
                .add(normal, offset)
                .add(direction, to_border(widths[a], direction) + 3.0);
            let end = centres[b]
                .add(normal, offset)
                .add(direction, -(to_border(widths[b], direction) + 5.0));
            lines.push((
                start,
                end,
                edge.pull,
                format!("{} ({} runs it)", edge.name, edge.runner),
            ));
        }
        let middle = Point::new((ci.x + cj.x) / 2.0, (ci.y + cj.y) / 2.0);
        let outward = if middle.length() < 1.0 {
            normal
        } else {
            middle.unit()
        };
        let at = middle.add(outward, 18.0);
        let anchor = if outward.x > 0.35 {
            "start"
        } else if outward.x < -0.35 {
            "end"
        } else {
            "middle"
        };
        let rows = k as f64;
        for (m, edge) in edges.iter().enumerate() {
            let dy = if outward.y < -0.35 {
                -(rows - 1.0 - m as f64) * LABEL_LINE
            } else if outward.y > 0.35 {
                m as f64 * LABEL_LINE
            } else {
                (m as f64 - (rows - 1.0) / 2.0) * LABEL_LINE
            };
            labels.push(Label {
                at: Point::new(at.x, at.y + dy),
                anchor,
                text: edge.label(),
                pull: edge.pull,
            });
        }
    }

    // Fit the viewBox around everything drawn.
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let mut extend = |x0: f64, y0: f64, x1: f64, y1: f64| {
        min_x = min_x.min(x0);
        min_y = min_y.min(y0);
        max_x = max_x.max(x1);
        max_y = max_y.max(y1);
    };
    for (c, w) in centres.iter().zip(&widths) {
        extend(
            c.x - w / 2.0,
            c.y - BOX_HEIGHT / 2.0,
            c.x + w / 2.0,
            c.y + BOX_HEIGHT / 2.0,
        );
    }
    for label in &labels {
        let width = label.text.chars().count() as f64 * LABEL_CHAR;
        let x0 = match label.anchor {
            "start" => label.at.x,
            "end" => label.at.x - width,
            _ => label.at.x - width / 2.0,
        };
        extend(x0, label.at.y - 10.0, x0 + width, label.at.y + 6.0);
    }
    let pad = 14.0;
    let view_box = format!(
        "{:.0} {:.0} {:.0} {:.0}",
        min_x - pad,
        min_y - pad,
        max_x - min_x + 2.0 * pad,
        max_y - min_y + 2.0 * pad
    );
    // Its natural width as an attribute, not a style: the page's CSP allows no inline style
    // attributes; CSS shrinks it to the column (`max-width: 100%`).
    let width = format!("{:.0}", max_x - min_x + 2.0 * pad);
    let url_of = |service: &str| {
        siblings
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, url)| format!("{}/", url.trim_end_matches('/')))
    };
    let f = |v: f64| format!("{v:.1}");
    let summary = format!(
        "{} services, {} links",
        services.len(),
        topology.edges.len()
    );
    html! {
        figure.topology {
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(view_box) width=(width)
                role="img" aria-label={ "Topology: " (summary) } {
                defs {
                    @for (id, class) in [("arrow-pull", "pull"), ("arrow-push", "push")] {
                        marker id=(id) class=(class) viewBox="0 0 10 10" refX="9" refY="5"
                            markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                            path d="M 0 0 L 10 5 L 0 10 z" {}
                        }
                    }
                }
                @for (start, end, pull, title) in &lines {
                    line class={ "link " (if *pull { "pull" } else { "push" }) }
                        x1=(f(start.x)) y1=(f(start.y)) x2=(f(end.x)) y2=(f(end.y))
                        marker-end={ "url(#arrow-" (if *pull { "pull" } else { "push" }) ")" } {
                        title { (title) }
                    }
                }
                @for label in &labels {
                    text class={ "label " (if label.pull { "pull" } else { "push" }) }
                        x=(f(label.at.x)) y=(f(label.at.y)) text-anchor=(label.anchor) { (label.text) }
                }
                @for (s, service) in services.iter().enumerate() {
                    @let (c, w) = (centres[s], widths[s]);
                    @let node = html! {
                        g class={ "node" @if service == name { " self" } } {
                            rect x=(f(c.x - w / 2.0)) y=(f(c.y - BOX_HEIGHT / 2.0)) width=(f(w))
                                height=(f(BOX_HEIGHT)) rx="9" {}
                            text x=(f(c.x)) y=(f(c.y + 5.0)) text-anchor="middle" { (service) }
                        }
                    };
                    @match url_of(service) {
                        Some(url) => a href=(url) { (node) },
                        None => (node),
                    }
                }
            }
            figcaption {
                span.legend.pull { "pull — the receiver fetches" }
                span.legend.push { "push — the sender delivers" }
                @if topology.edges.is_empty() { span.muted { "No links configured." } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Vec<(String, Vec<LinkSpec>)> {
        let group = |g: &str| {
            vec![
                LinkSpec::pull("office", "http://o", &["enrolled"]).with_filter("group", g),
                LinkSpec::pull("pool", "http://p", &["hired"]),
                LinkSpec::push(g, "office", "http://o", &["graded"]),
                LinkSpec::push(g, "pool", "http://p", &["hired"]),
            ]
        };
        vec![
            ("office".to_owned(), vec![]),
            ("se".to_owned(), group("se")),
            ("theory".to_owned(), group("theory")),
            ("pool".to_owned(), vec![]),
        ]
    }

    #[test]
    fn the_paper_is_a_diamond_without_crossings() {
        let topology = Topology::new("se", &paper(), None);
        assert_eq!(topology.services, ["office", "se", "theory", "pool"]);
        assert_eq!(topology.edges.len(), 8);
        assert_eq!(topology.edges[0].label(), "pull enrolled (group=se)");
        assert_eq!(topology.edges[0].flow(), ("office", "se"));
        assert_eq!(topology.edges[2].flow(), ("se", "office"));
        let pairs = [(0, 1), (1, 3), (0, 2), (2, 3)];
        let order = arrange(4, &pairs);
        assert_eq!(
            order,
            [0, 1, 3, 2],
            "office top, se left, pool bottom, theory right"
        );
        let centres = positions(4, &pairs);
        assert!(
            centres[0].y < 0.0 && centres[1].x < 0.0 && centres[2].x > 0.0 && centres[3].y > 0.0
        );
        let svg = svg(
            "se",
            &topology,
            &[("se".into(), "http://127.0.0.1:1".into())],
        )
        .into_string();
        assert_eq!(svg.matches("<line").count(), 8);
        assert!(svg.contains("pull enrolled (group=se)"));
        assert!(svg.contains(r#"<a href="http://127.0.0.1:1/">"#));
        assert!(svg.contains(r#"class="node self""#));
    }

    #[test]
    fn without_configuration_the_live_links_are_drawn() {
        let spec = LinkSpec::pull("peer", "http://127.0.0.1:1", &["x"]).with_filter("k", "v");
        let status = SyncStatus {
            links: vec![LinkStatus::new(&spec, 0)],
            error: None,
            inbound: None,
        };
        let topology = Topology::new("me", &[], Some(&status));
        assert_eq!(topology.services, ["me", "peer"]);
        assert_eq!(topology.edges.len(), 1);
        assert_eq!(topology.edges[0].label(), "pull x (k=v)");
        assert_eq!(topology.types(), ["x"]);
        let alone = Topology::new("me", &[], None);
        assert!(svg("me", &alone, &[])
            .into_string()
            .contains("No links configured."));
    }

    #[test]
    fn crossing_chords_are_counted() {
        assert!(chords_cross((0, 2), (1, 3)));
        assert!(!chords_cross((0, 1), (2, 3)));
        assert!(!chords_cross((0, 1), (1, 2)));
        let mut p = vec![1, 2, 3];
        let mut all = vec![p.clone()];
        while next_permutation(&mut p) {
            all.push(p.clone());
        }
        assert_eq!(all.len(), 6);
        assert_eq!(all[1], [1, 3, 2]);
    }
}
