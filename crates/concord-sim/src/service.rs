//! A service as the simulator sees it: a real [`ServiceCore`] and its [`Api`], behind a
//! type-erased trait so services with different models run side by side.

use std::any::Any;
use std::fmt::Debug;

use concord_core::acceptance::AcceptancePolicy;
use concord_core::runtime::{External, PutReport, Refusal, Reply, Request, SeededEnv, ServiceCore};
use concord_core::service::{Api, Handler, ServiceSpec};
use concord_core::sign::{Signer, Signing, Verifier};
use concord_core::store::MemoryStore;
use concord_core::{CloudEvent, Model, StoredEvent};
use serde_json::Value;

/// What the simulator needs of a running service.
pub trait SimService: Any {
    fn name(&self) -> &str;
    fn policy(&self) -> &AcceptancePolicy;
    /// The overwrite key its catalogue gives an event (`None` outside the catalogue).
    fn overwrite_key(&self, event: &CloudEvent) -> Option<String>;

    /// Runs a command of the service's API (`POST path` with a JSON body) through the one
    /// path. `Ok(events)` when acknowledged (possibly none), `Err` when refused.
    fn command(
        &mut self,
        store: &MemoryStore,
        env: &mut SeededEnv,
        path: &str,
        body: Value,
    ) -> Result<Vec<StoredEvent>, String>;

    /// Hands the service external events, as putEvents or a link would.
    fn take(
        &mut self,
        store: &MemoryStore,
        env: &mut SeededEnv,
        external: External,
    ) -> Result<PutReport, Refusal>;

    /// Whether two services hold the same model (used to compare live and replayed state).
    fn same_state(&self, other: &dyn SimService) -> bool;

    /// A readable dump of the model, for failure reports.
    fn describe(&self) -> String;

    fn as_any(&self) -> &dyn Any;
}

/// Opens a service on a store (at start and after every crash): a replay from the store.
pub type Opener = Box<dyn Fn(&MemoryStore) -> Box<dyn SimService>>;

/// A service of any [`ServiceSpec`], opened on its store with the given policy.
pub fn hosted<S>(spec: S, policy: Option<AcceptancePolicy>) -> Opener
where
    S: ServiceSpec,
    S::Model: Debug + PartialEq,
{
    hosted_signing(spec, policy, Signing::default())
}

/// [`hosted`], signing what it raises and verifying what it takes in as `signing` says.
pub fn hosted_signing<S>(spec: S, policy: Option<AcceptancePolicy>, signing: Signing) -> Opener
where
    S: ServiceSpec,
    S::Model: Debug + PartialEq,
{
    Box::new(move |store: &MemoryStore| {
        let policy = policy.clone().unwrap_or_else(|| spec.default_acceptance());
        let core = ServiceCore::open(spec.name(), spec.catalogue(), policy, store)
            .expect("the in-memory store does not fail")
            .with_signing(signing.clone());
        Box::new(Hosted {
            core,
            api: spec.api(),
        }) as Box<dyn SimService>
    })
}

/// A real service core and its API.
pub struct Hosted<M: Model> {
    pub core: ServiceCore<M>,
    api: Api<M>,
}

impl<M: Model + Debug + PartialEq> SimService for Hosted<M> {
    fn name(&self) -> &str {
        self.core.name()
    }

    fn policy(&self) -> &AcceptancePolicy {
        self.core.policy()
    }

    fn overwrite_key(&self, event: &CloudEvent) -> Option<String> {
        self.core.catalogue().overwrite_key(event)
    }

    fn command(
        &mut self,
        store: &MemoryStore,
        env: &mut SeededEnv,
        path: &str,
        body: Value,
    ) -> Result<Vec<StoredEvent>, String> {
        let (route, params) = self
            .api
            .route("POST", path)
            .ok_or_else(|| format!("no command at POST {path}"))?;
        let Handler::Command(handler) = &route.handler else {
            return Err(format!("POST {path} is not a command"));
        };
        let command = handler(&params, body).map_err(|e| e.to_string())?;
        match self
            .core
            .execute(store, env, vec![Request::Command(command)])
        {
            Ok(mut replies) => match replies.remove(0) {
                Reply::Command(result) => result.map_err(|e| e.to_string()),
                Reply::External(_) => unreachable!("a command gets a command reply"),
            },
            Err(error) => Err(error.to_string()),
        }
    }

    fn take(
        &mut self,
        store: &MemoryStore,
        env: &mut SeededEnv,
        external: External,
    ) -> Result<PutReport, Refusal> {
        match self.core.execute(
            store,
            env,
            vec![Request::External(
                external.decode_with(&**self.core.catalogue(), self.core.verifier()),
            )],
        ) {
            Ok(mut replies) => match replies.remove(0) {
                Reply::External(report) => report,
                Reply::Command(_) => unreachable!("external events get a report"),
            },
            Err(error) => panic!("the in-memory store failed: {error}"),
        }
    }

    fn same_state(&self, other: &dyn SimService) -> bool {
        other
            .as_any()
            .downcast_ref::<Hosted<M>>()
            .is_some_and(|other| other.core.model() == self.core.model())
    }

    fn describe(&self) -> String {
        format!("{:#?}", self.core.model())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The model of a simulated service, if it is a `Hosted<M>`: for domain checks.
pub fn model_of<M: Model>(service: &dyn SimService) -> Option<&M> {
    service
        .as_any()
        .downcast_ref::<Hosted<M>>()
        .map(|h| h.core.model())
}

/// Fixed keys for a simulated deployment of `services`: `service` signs with its own and
/// trusts every one's. Derived from the names, so runs stay pure functions of their seed.
pub fn deployment_signing(services: &[&str], service: &str) -> Signing {
    let signer = |name: &str| {
        let mut seed = [0x5au8; 32];
        for (i, byte) in name.bytes().enumerate() {
            seed[i % 32] = seed[i % 32].rotate_left(3) ^ byte;
        }
        Signer::from_seed(format!("{name}/v1"), seed)
    };
    let mut verifier = Verifier::new();
    for name in services {
        verifier.trust(*name, signer(name).public(), None);
    }
    Signing {
        signer: Some(std::sync::Arc::new(signer(service))),
        verifier: std::sync::Arc::new(verifier),
    }
}
