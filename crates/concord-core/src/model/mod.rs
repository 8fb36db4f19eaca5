//! Models and the building blocks that make them convergent by construction.
//!
//! A [`Model`] changes only through `apply(event)` (R1). If it keeps its state in the blocks
//! below — objects found or created by id ([`Registry`]), attributes that the later event
//! wins ([`Lww`]), to-many relations as sets ([`GrowSet`]) — then applying an event twice
//! changes nothing (R3), no event can be refused for lack of context (R4), and the state
//! reached does not depend on arrival order (R5).

mod blocks;

pub use blocks::{GrowSet, Lww, Registry, Stamp};

use crate::event::CloudEvent;

/// The state of one service, changed only by applying events.
///
/// A model declares the type of event it applies (`Event`, typically an enum of the domain's
/// event types, which its [`Catalogue`](crate::runtime::Catalogue) decodes): an event is
/// decoded once, where it enters the service, and the model matches on the result — it never
/// reads JSON.
///
/// `apply` must never fail and never veto: an event that reached it has been validated and
/// accepted, and is a fact. It must be idempotent and order independent; building the state
/// from the blocks in this module gives both.
///
/// Should it panic all the same (a bug), the service does not stop: the command or external
/// event it was applying is refused and not stored (a link keeps such an event as a dead
/// letter), and the model, which may hold part of it, is rebuilt by replaying the store. A
/// rebuild costs a replay of the whole store on the writer, so a panic is a fault to fix, not
/// a way to refuse: refusing belongs to the catalogue (decode) and the commands.
pub trait Model: Default + Send + Sync + 'static {
    /// The decoded events this model applies.
    type Event: Send + Sync + 'static;

    fn apply(&mut self, event: &Self::Event, envelope: &Envelope<'_>);
}

/// What an applied event carries besides its decoded data: the [`Stamp`] that orders it
/// against other writes of the same attributes, and who raised it.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope<'a> {
    pub stamp: Stamp,
    pub source: &'a str,
    pub ty: &'a str,
}

impl<'a> Envelope<'a> {
    pub fn of(event: &'a CloudEvent) -> Self {
        Envelope {
            stamp: event.stamp(),
            source: &event.source,
            ty: &event.ty,
        }
    }
}
