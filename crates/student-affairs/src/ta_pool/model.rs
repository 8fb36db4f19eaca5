//! The ta-pool model: the shared [`Directory`], of which the pool reads the students and
//! their hires.

use concord_core::{CloudEvent, Model};

use crate::catalogue::StudentAffairsEvent;
use crate::directory::{Directory, Hires};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaPoolModel {
    directory: Directory,
}

impl Model for TaPoolModel {
    fn apply(&mut self, event: &CloudEvent) {
        if let Some(decoded) = StudentAffairsEvent::for_apply(event) {
            self.directory.apply(&decoded, &event.stamp());
        }
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
