//! The ta-pool model: the shared [`Directory`], of which the pool reads the students and
//! their hires.

use concord_core::model::Envelope;
use concord_core::Model;

use crate::catalogue::StudentAffairsEvent;
use crate::directory::{Directory, Hires};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaPoolModel {
    directory: Directory,
}

impl Model for TaPoolModel {
    type Event = StudentAffairsEvent;

    fn apply(&mut self, event: &StudentAffairsEvent, envelope: &Envelope<'_>) {
        self.directory.apply(event, &envelope.stamp);
    }
}

impl TaPoolModel {
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Shared data view: the hires of both groups; equals each group's `hires()` once they
    /// are in sync.
    pub fn hires(&self) -> Hires {
        self.directory.hires()
    }
}
