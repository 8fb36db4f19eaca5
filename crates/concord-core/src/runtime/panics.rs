//! Panics in a domain's code, caught and counted.
//!
//! The writer runs the domain's code (a command's decision, the model's `apply`, the
//! catalogue's decoding) and catches a panic in it rather than let it stop the service (see
//! the module above). Caught, a panic would be seen only in the log; the counts here let an
//! operator's alerting see it too (`concord_domain_panics_total` on `/metrics`), by where it
//! happened, since each place calls for a different fix and costs differently.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where in the domain's code a panic was caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PanicStage {
    /// A command's decision: the command is refused alone, the model untouched.
    Decide,
    /// Applying an event (a command's or a peer's) to the model, or what a command's
    /// decision raised on its way there: the model is rebuilt from the store.
    Apply,
    /// The catalogue decoding an event: the event is refused as malformed, or the command
    /// that raised it refused.
    Decode,
    /// Making the model from the store (its `Default`, or applying a stored event): the
    /// rebuild fails, and is tried again by the next request.
    Rebuild,
}

impl PanicStage {
    /// Every stage, in the order [`DomainPanics::counts`] gives them.
    pub const ALL: [PanicStage; 4] = [
        PanicStage::Decide,
        PanicStage::Apply,
        PanicStage::Decode,
        PanicStage::Rebuild,
    ];

    /// The stage's name, as a metric's label.
    pub fn as_str(self) -> &'static str {
        match self {
            PanicStage::Decide => "decide",
            PanicStage::Apply => "apply",
            PanicStage::Decode => "decode",
            PanicStage::Rebuild => "rebuild",
        }
    }
}

/// How many panics of the domain's code a service caught, by stage, since it started.
/// Shared between the writer that counts and whoever reads (the metrics), without a lock.
#[derive(Debug, Default)]
pub struct DomainPanics {
    counts: [AtomicU64; 4],
}

impl DomainPanics {
    pub(crate) fn record(&self, stage: PanicStage) {
        self.counts[stage as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Each stage with its count.
    pub fn counts(&self) -> [(PanicStage, u64); 4] {
        PanicStage::ALL.map(|stage| (stage, self.counts[stage as usize].load(Ordering::Relaxed)))
    }

    /// All stages together.
    pub fn total(&self) -> u64 {
        self.counts().iter().map(|(_, count)| count).sum()
    }
}

/// What a panic said, for the log.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_counts_apart() {
        let panics = DomainPanics::default();
        panics.record(PanicStage::Apply);
        panics.record(PanicStage::Apply);
        panics.record(PanicStage::Rebuild);
        let counts = panics.counts();
        assert_eq!(
            counts.map(|(stage, count)| (stage.as_str(), count)),
            [("decide", 0), ("apply", 2), ("decode", 0), ("rebuild", 1)]
        );
        assert_eq!(panics.total(), 3);
    }

    #[test]
    fn a_panic_says_what_it_said() {
        let text = std::panic::catch_unwind(|| panic!("broke on {}", 7)).unwrap_err();
        assert_eq!(panic_message(&*text), "broke on 7");
        let fixed = std::panic::catch_unwind(|| panic!("fixed text")).unwrap_err();
        assert_eq!(panic_message(&*fixed), "fixed text");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_message(&*other), "a panic without a message");
    }
}
