//! Starting a whole service: open its core on the store (replaying every event) and start the
//! host's writer thread. What it serves is configured next — its principals
//! ([`RunningService::set_auth`]), its links ([`RunningService::attach_sync`]), what its GUI
//! knows of the rest of the system ([`RunningService::set_gui`]) — and then its router is
//! built, once ([`RunningService::router`]), for the binary to bind and serve.

use std::sync::Arc;

use axum::Router;
use concord_core::host::{Host, DEFAULT_QUEUE_CAPACITY};
use concord_core::runtime::Env;
use concord_core::sign::Signing;
use concord_core::{
    AcceptancePolicy, Api, EventStore, Limits, Model, ServiceCore, ServiceSpec, StoreError,
};

use crate::auth::{AuthConfig, AuthError, Authenticator};
use crate::gui::Gui;
use crate::inbound::Inbound;
use crate::metrics::{MeteredStore, Metrics};
use crate::sync::SyncControl;
use crate::Telemetry;

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Replaying the store or starting the writer failed.
    #[error("cannot open the service: {0}")]
    Store(#[from] StoreError),
    /// The domain's API cannot be served (a reserved path, a route declared twice).
    #[error("cannot serve the service's API: {0}")]
    Api(String),
}

/// A started service: its host (for sync links and shutdown) and what its router will serve.
pub struct RunningService<M: Model> {
    pub name: String,
    pub host: Host<M>,
    api: Api<M>,
    sync: Option<Arc<dyn SyncControl>>,
    gui: Gui,
    auth: Arc<Authenticator>,
    /// Its metrics (`GET /metrics`) and inbound view; the links record into them too.
    pub telemetry: Telemetry,
}

impl<M: Model> RunningService<M> {
    /// Admits the principals of `config` (a service starts with none: every route but
    /// `GET /health` refuses until this is called).
    pub fn set_auth(&mut self, config: &AuthConfig) -> Result<(), AuthError> {
        let auth = Authenticator::new(config, &self.name, self.host.core().policy())?;
        self.auth = Arc::new(auth);
        Ok(())
    }

    /// `/api/sync` (and the page's sync panel) answer from `sync`.
    pub fn attach_sync(&mut self, sync: Arc<dyn SyncControl>) {
        self.telemetry.metrics.attach_sync(Arc::clone(&sync));
        self.sync = Some(sync);
    }

    /// The page knows the rest of the system (`gui`).
    pub fn set_gui(&mut self, gui: Gui) {
        self.gui = gui;
    }

    /// The router serving this service as configured so far: build it once, when the
    /// configuration is complete (what is set afterwards does not reach it), before serving —
    /// building it reads the model's lock for a moment (the acceptance policy).
    pub fn router(&self) -> Router {
        crate::router(
            &self.host,
            &self.api,
            self.sync.clone(),
            &self.gui,
            &self.auth,
            &self.telemetry,
        )
    }

    /// The domain's API the router serves.
    pub fn api(&self) -> &Api<M> {
        &self.api
    }
}

/// What configuration may change of how a service starts; the default is the spec's own
/// acceptance, the default intake limits and writer queue, and no signing.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Overrides the spec's default acceptance policy.
    pub acceptance: Option<AcceptancePolicy>,
    /// What the service accepts at intake (event size, depth, id length, clock skew).
    pub limits: Limits,
    /// Requests that may wait for the writer; more are refused at once (503 with
    /// `Retry-After`).
    pub writer_queue: usize,
    /// The key the service signs what it raises with, and the keys it checks what it takes
    /// in against (see `concord_core::sign`).
    pub signing: Signing,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            acceptance: None,
            limits: Limits::default(),
            writer_queue: DEFAULT_QUEUE_CAPACITY,
            signing: Signing::default(),
        }
    }
}

/// Opens and starts the service `spec` on `store`: replays the store into the model (this
/// blocks; call it before serving or from a blocking context) and starts the writer thread.
/// Its router admits nobody until [`RunningService::set_auth`] names the principals.
pub fn start_service<S: ServiceSpec>(
    spec: &S,
    store: Arc<dyn EventStore>,
    env: Box<dyn Env>,
    options: StartOptions,
) -> Result<RunningService<S::Model>, StartError> {
    let StartOptions {
        acceptance,
        limits,
        writer_queue,
        signing,
    } = options;
    let name = spec.name().to_owned();
    let api = spec.api();
    crate::api::check_api(&api).map_err(StartError::Api)?;
    let policy = acceptance.unwrap_or_else(|| spec.default_acceptance());
    let started = std::time::Instant::now();
    let inbound = Arc::new(Inbound::default());
    // The writer's queue depth is known once the host runs; until then it is 0.
    let host_slot: Arc<std::sync::OnceLock<Box<dyn Fn() -> usize + Send + Sync>>> =
        Arc::new(std::sync::OnceLock::new());
    let queued = {
        let slot = Arc::clone(&host_slot);
        Box::new(move || slot.get().map_or(0, |queued| queued()))
    };
    let metrics = Arc::new(Metrics::new(queued, Arc::clone(&inbound)));
    // Every append of the service — commands, putEvents, links — passes the metered store.
    let store: Arc<dyn EventStore> = Arc::new(MeteredStore::new(store, &metrics, &name));
    metrics.attach_store(Arc::clone(&store));
    let core = ServiceCore::open(name.clone(), spec.catalogue(), policy, &*store)?
        .with_limits(limits)
        .with_signing(signing);
    metrics.attach_panics(Arc::clone(core.domain_panics()));
    let events = store.count()?;
    let host = Host::start_with_queue(core, Arc::clone(&store), env, writer_queue)?;
    {
        let host = host.clone();
        let _ = host_slot.set(Box::new(move || host.queued()));
    }
    tracing::info!(
        service = %name,
        events,
        replay_ms = started.elapsed().as_millis() as u64,
        routes = api.routes.len(),
        "service started"
    );
    let gui = Gui::default();
    let auth = Arc::new(
        Authenticator::new(&AuthConfig::default(), &name, host.core().policy())
            .expect("the default configuration is valid"),
    );
    let telemetry = Telemetry {
        metrics,
        inbound,
        lag: Arc::default(),
    };
    Ok(RunningService {
        name,
        host,
        api,
        sync: None,
        gui,
        auth,
        telemetry,
    })
}
