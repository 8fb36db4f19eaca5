//! The lag of each link over the last minutes: a small ring buffer of samples per link, taken
//! by the node every [`SAMPLE_EVERY`] from the links' own status, and drawn by the GUI's
//! sync panel as a server-rendered SVG chart ([`chart`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use maud::{html, Markup};

/// How often the node samples each link's lag.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples kept per link: ten minutes at [`SAMPLE_EVERY`].
pub const SAMPLES: usize = 120;

/// One sample: Unix seconds, and the lag (`None` while the link does not know it).
pub type Sample = (i64, Option<u64>);

/// The recent lag of every link, by link name.
#[derive(Debug, Default)]
pub struct LagHistory {
    links: Mutex<BTreeMap<String, VecDeque<Sample>>>,
}

impl LagHistory {
    /// Adds one sample per link at `at` (Unix seconds), forgetting the oldest beyond
    /// [`SAMPLES`].
    pub fn record(&self, at: i64, lags: &[(String, Option<u64>)]) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        for (link, lag) in lags {
            let samples = links.entry(link.clone()).or_default();
            if samples.len() == SAMPLES {
                samples.pop_front();
            }
            samples.push_back((at, *lag));
        }
    }

    /// A link's samples, oldest first.
    pub fn series(&self, link: &str) -> Vec<Sample> {
        let links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links
            .get(link)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

const WIDTH: f64 = 160.0;
const HEIGHT: f64 = 32.0;

/// A sparkline of `samples` over the window ending at the last sample: time to the right,
/// lag upwards, scaled to the largest lag (at least 1, so a link in sync is a flat line at
/// the bottom). A sample without a known lag breaks the line. `None` without samples.
pub fn chart(samples: &[Sample]) -> Option<Markup> {
    let (&(first, _), &(last, _)) = (samples.first()?, samples.last()?);
    let window = SAMPLE_EVERY.as_secs() as i64 * (SAMPLES as i64 - 1);
    let start = last - window;
    let max = samples
        .iter()
        .filter_map(|(_, lag)| *lag)
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |at: i64| (at - start) as f64 / window as f64 * WIDTH;
    let y = |lag: u64| HEIGHT - 1.0 - lag as f64 / max as f64 * (HEIGHT - 2.0);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for &(at, lag) in samples {
        match lag {
            Some(lag) => {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(&format!("{:.1},{:.1}", x(at), y(lag)));
            }
            None if !current.is_empty() => lines.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    let latest = samples.iter().rev().find_map(|(_, lag)| *lag);
    let peak = samples
        .iter()
        .filter_map(|(_, lag)| *lag)
        .max()
        .unwrap_or(0);
    let span = match last - first {
        s if s < 120 => format!("{s} s"),
        s => format!("{} min", s / 60),
    };
    let title = format!(
        "Lag over the last {span}: at most {peak} behind, now {}",
        latest.map_or("unknown".to_owned(), |l| l.to_string())
    );
    Some(html! {
        svg.lag width=(WIDTH) height=(HEIGHT) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            role="img" aria-label=(title) {
            title { (title) }
            line x1="0" y1=(HEIGHT - 0.5) x2=(WIDTH) y2=(HEIGHT - 0.5)
                stroke="currentColor" stroke-opacity="0.25" stroke-width="1" {}
            @for points in &lines {
                // A single point would be invisible as a line: draw it as a dot.
                @if points.contains(' ') {
                    polyline points=(points) fill="none" stroke="currentColor" stroke-width="1.5" {}
                } @else {
                    @let (cx, cy) = points.split_once(',').unwrap_or(("0", "0"));
                    circle cx=(cx) cy=(cy) r="1.5" fill="currentColor" {}
                }
            }
            @if peak > 0 {
                text x="2" y="9" font-size="9" fill="currentColor" fill-opacity="0.7" { (peak) }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_samples_per_link() {
        let history = LagHistory::default();
        for i in 0..(SAMPLES as i64 + 5) {
            history.record(i, &[("a".into(), Some(i as u64)), ("b".into(), None)]);
        }
        let a = history.series("a");
        assert_eq!(a.len(), SAMPLES);
        assert_eq!(a[0], (5, Some(5)));
        assert_eq!(history.series("b").len(), SAMPLES);
        assert!(history.series("c").is_empty());
    }

    #[test]
    fn draws_the_lag_scaled_and_broken_where_unknown() {
        assert!(chart(&[]).is_none());
        let last = 1_000_000;
        let step = SAMPLE_EVERY.as_secs() as i64;
        let samples = [
            (last - 3 * step, Some(0)),
            (last - 2 * step, Some(10)),
            (last - step, None),
            (last, Some(5)),
        ];
        let svg = chart(&samples).unwrap().into_string();
        assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
        assert_eq!(
            svg.matches("<circle").count(),
            1,
            "the lone last sample: {svg}"
        );
        // The peak touches the top, zero the bottom, the latest sample is at the right edge.
        assert!(svg.contains(",1.0\""), "{svg}");
        assert!(svg.contains(",31.0"), "{svg}");
        assert!(svg.contains("cx=\"160.0\""), "{svg}");
        assert!(svg.contains("at most 10 behind, now 5"), "{svg}");
    }
}
