//! Starting and stopping one service: replay its store, start its writer, serve its HTTP API,
//! run its links; and on stop, the reverse, finishing what is in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use concord_core::host::{Host, HostError};
use concord_core::runtime::SystemEnv;
use concord_core::service::Handler;
use concord_core::{Api, EventStore, Model, ServiceSpec, StoredEvent};
use concord_http::auth::AllowedHosts;
use concord_http::{
    start_service, AuthConfig, Gui, ServeOptions, ServerLimits, ServerTls, StartOptions,
    SyncControl,
};
use concord_sync::{LinkSpec, TransportKind};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::links::Links;
use crate::transport::{HttpTransport, LinkCredentials, Transport, TransportSet, UnsupportedLink};

/// How long a stopping service waits for requests in flight before it gives up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(7);

/// How to run a service.
pub struct NodeOptions {
    /// Where to listen (port 0 picks a free one).
    pub listen: SocketAddr,
    /// How the service itself starts: its acceptance policy, intake limits, writer queue
    /// and signing keys.
    pub service: StartOptions,
    pub links: Vec<LinkSpec>,
    /// How links reach peers. Unless given, a [`TransportSet`] with HTTP only, presenting
    /// `credentials`: links with `transport = "nats"` then fail to start. For NATS links pass
    /// e.g. `TransportSet::empty().with(TransportKind::Http, Arc::new(HttpTransport::new(c)))
    /// .with(TransportKind::Nats, Arc::new(nats))`.
    pub transport: Option<Arc<dyn Transport>>,
    /// The tokens this service presents to its peers over HTTP (used by the default
    /// transport only: a given `transport` carries its own).
    pub credentials: LinkCredentials,
    /// Who may call this service. The default admits nobody: every route but `GET /health`
    /// answers 401. Without `allowed_hosts` the service answers the loopback names and its
    /// listen address ([`AllowedHosts::for_bind`]); without `cookie_name` its session cookie
    /// is named after the service and its port.
    pub auth: AuthConfig,
    /// What the service's page knows of the rest of the system: the GUIs to link and the
    /// topology to draw. This service's own `links` are added to the topology when it does
    /// not list them, so by default the page draws just them.
    pub gui: Gui,
    /// Serve HTTPS with this certificate and key; `None` serves plain HTTP. Whatever else
    /// depends on the scheme (the URL, the GUI session cookie's `Secure` flag) follows
    /// `tls.is_some()`.
    pub tls: Option<ServerTls>,
    /// Timeouts and caps of the HTTP server.
    pub server: ServerLimits,
}

impl Default for NodeOptions {
    /// Loopback on a free port, the default acceptance, no links, HTTP transport.
    fn default() -> Self {
        NodeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            service: StartOptions::default(),
            links: Vec::new(),
            transport: None,
            credentials: LinkCredentials::default(),
            auth: AuthConfig::default(),
            gui: Gui::default(),
            tls: None,
            server: ServerLimits::default(),
        }
    }
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A link its transports cannot carry.
    #[error(transparent)]
    Link(#[from] UnsupportedLink),
    /// A link, the store, the credentials or the replay refused the configuration.
    #[error("{0}")]
    Start(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Why a command run in-process ([`RunningNode::command`]) stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum CommandFailed {
    #[error("no command at POST {0}")]
    NoSuchCommand(String),
    /// Refused (its input, a conflict, …) or not stored (the store, a full queue, a stop).
    #[error(transparent)]
    Host(#[from] HostError),
}

type CommandFuture = Pin<Box<dyn Future<Output = Result<Vec<StoredEvent>, CommandFailed>> + Send>>;
type CommandRunner = Arc<dyn Fn(String, Value) -> CommandFuture + Send + Sync>;

/// A service running in this process.
pub struct RunningNode {
    pub name: String,
    pub addr: SocketAddr,
    /// Whether it serves HTTPS.
    pub tls: bool,
    links: Arc<dyn SyncControl>,
    command: CommandRunner,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    link_tasks: Vec<JoinHandle<()>>,
    stop_writer: Box<dyn FnOnce() + Send>,
}

/// Starts `spec` on `store`: replays the store, starts the writer, binds, serves, runs links.
pub async fn start<S: ServiceSpec>(
    spec: S,
    store: Arc<dyn EventStore>,
    options: NodeOptions,
) -> Result<RunningNode, NodeError> {
    let transport = options.transport.clone().unwrap_or_else(|| {
        let http = HttpTransport::new(options.credentials.clone());
        Arc::new(TransportSet::empty().with(TransportKind::Http, Arc::new(http)))
    });
    for link in &options.links {
        link.validate().map_err(NodeError::Start)?;
        transport.check_link(link)?;
    }
    let name = spec.name().to_owned();
    let start = options.service;
    let started = tokio::task::spawn_blocking(move || {
        start_service(&spec, store, Box::new(SystemEnv::default()), start)
    })
    .await
    .map_err(|e| NodeError::Start(format!("{name}: start-up panicked: {e}")))?
    .map_err(|e| NodeError::Start(format!("{name}: {e}")))?;
    let mut service = started;
    let mut gui = options.gui;
    if !gui.topology.iter().any(|(service, _)| *service == name) {
        gui.topology.push((name.clone(), options.links.clone()));
    }
    service.set_gui(gui);
    let mut auth = options.auth;
    // A session cookie served over TLS must never travel without it.
    auth.secure_cookies |= options.tls.is_some();
    if auth.allowed_hosts.is_none() {
        auth.allowed_hosts = Some(AllowedHosts::for_bind(options.listen.ip()));
    }
    if auth.cookie_name.is_none() && options.listen.port() != 0 {
        // Browsers share cookies across the ports of a host: name it after both.
        auth.cookie_name = Some(format!("concord-session-{name}-{}", options.listen.port()));
    }
    service
        .set_auth(&auth)
        .map_err(|e| NodeError::Start(format!("{name}: {e}")))?;
    let metrics = std::sync::Arc::clone(&service.telemetry.metrics);
    let runner = Links::new(service.host.clone(), options.links, transport, metrics)
        .map_err(|e| NodeError::Start(format!("{name}: cannot read link cursors: {e}")))?;
    service.attach_sync(runner.clone());
    let links: Arc<dyn SyncControl> = runner.clone();

    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| NodeError::Bind(options.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| NodeError::Bind(options.listen, e))?;
    let (stop, stopped) = watch::channel(false);
    let mut server_stop = stopped.clone();
    let tls = options.tls.is_some();
    let serve = ServeOptions {
        tls: options.tls,
        limits: options.server,
    };
    let server = tokio::spawn(concord_http::serve_with(
        listener,
        service.router(),
        serve,
        async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        },
    ));
    let mut link_tasks = runner.spawn(stopped.clone());
    if !runner.lags().is_empty() {
        let lag = Arc::clone(&service.telemetry.lag);
        link_tasks.push(tokio::spawn(sample_lag(runner.clone(), lag, stopped)));
    }
    let host = service.host.clone();
    let command = command_runner(service.host.clone(), service.api().clone());
    Ok(RunningNode {
        name,
        addr,
        tls,
        links,
        command,
        stop,
        server,
        link_tasks,
        stop_writer: Box::new(move || host.shutdown()),
    })
}

/// Samples every link's lag for the sync panel's chart until `stop` turns true.
async fn sample_lag<M: Model>(
    links: Arc<Links<M>>,
    history: Arc<concord_http::lag::LagHistory>,
    mut stop: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(concord_http::lag::SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let now = crate::links::now().unix_nanos() / 1_000_000_000;
        history.record(now as i64, &links.lags());
    }
}

fn refused(failure: CommandFailed) -> CommandFuture {
    Box::pin(async move { Err(failure) })
}

/// Runs the domain's command routes in-process, through the same handlers and host as HTTP.
fn command_runner<M: Model>(host: Host<M>, api: Api<M>) -> CommandRunner {
    Arc::new(move |path: String, body: Value| {
        let host = host.clone();
        let command = match api.route("POST", &path) {
            Some((route, params)) => match &route.handler {
                Handler::Command(handler) => handler(&params, body).map_err(HostError::from),
                Handler::Query(_) => return refused(CommandFailed::NoSuchCommand(path)),
            },
            None => return refused(CommandFailed::NoSuchCommand(path)),
        };
        Box::pin(async move { Ok(host.command(command?).await?) })
    })
}

impl RunningNode {
    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Runs one of the service's commands (`POST path` with a JSON body) in-process; the
    /// events it stored.
    pub async fn command(
        &self,
        path: &str,
        body: Value,
    ) -> Result<Vec<StoredEvent>, CommandFailed> {
        (self.command)(path.to_owned(), body).await
    }

    /// Runs every link now (what `POST /api/sync` does).
    pub async fn sync_now(&self) -> concord_http::SyncRun {
        self.links.run_now().await
    }

    /// Stops accepting, lets requests in flight finish (up to a bound), stops the links, and
    /// lets the writer commit what it has queued. Returns within [`DRAIN_TIMEOUT`] plus the
    /// writer's last commit, whatever peers and clients do.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        let mut server = self.server;
        match tokio::time::timeout_at(deadline, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::warn!(service = %self.name, error = %e, "server stopped with an error")
            }
            Ok(Err(e)) => tracing::warn!(service = %self.name, error = %e, "server task failed"),
            Err(_) => {
                tracing::warn!(service = %self.name, "requests still in flight after the drain timeout");
                // Dropping the serve loop closes the connections it still holds.
                server.abort();
            }
        }
        for mut task in self.link_tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
        let _ = tokio::task::spawn_blocking(self.stop_writer).await;
        tracing::info!(service = %self.name, "stopped");
    }
}
