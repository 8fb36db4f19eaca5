//! ta-pool: the pool of teaching assistants both groups hire, so that neither hires a
//! student the other already has without knowing it.
//!
//! It accepts `studentHired` from either group and raises nothing itself; the groups pull
//! the pool's `studentHired` events to learn about each other's hires. It has queries only (no
//! `commands` module): nothing in the contract lets a user change the pool directly.

pub mod model;
pub mod pages;
pub mod queries;

use concord_core::runtime::SharedCatalogue;
use concord_core::service::Api;
use concord_core::{AcceptancePolicy, AcceptanceRule, ServiceSpec};

use crate::catalogue::{EventData, StudentAffairsCatalogue, StudentHired};
use crate::{SE_GROUP, TA_POOL, THEORY_GROUP};

pub use model::TaPoolModel;

/// The ta-pool service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaPool;

impl ServiceSpec for TaPool {
    type Model = TaPoolModel;

    fn name(&self) -> &str {
        TA_POOL
    }

    fn catalogue(&self) -> SharedCatalogue<Self::Model> {
        std::sync::Arc::new(StudentAffairsCatalogue)
    }

    fn default_acceptance(&self) -> AcceptancePolicy {
        AcceptancePolicy::new(vec![
            AcceptanceRule::new(SE_GROUP, StudentHired::TYPE),
            AcceptanceRule::new(THEORY_GROUP, StudentHired::TYPE),
        ])
    }

    fn api(&self) -> Api<TaPoolModel> {
        Api::new()
            .list(
                "/api/tas",
                "Hired teaching assistants, with a conflict flag when both groups hired one, a page at a time",
                queries::TaAnswer::schema(),
                queries::tas,
            )
            .query(
                "/api/tas/{studentId}",
                "One hired teaching assistant",
                queries::TaAnswer::schema(),
                queries::ta,
            )
            .view(pages::view)
    }
}

#[cfg(test)]
mod tests;
