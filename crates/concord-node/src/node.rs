//! Starting and stopping one service: replay its store, start its writer, serve its HTTP API,
//! run its links; and on stop, the reverse, finishing what is in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use concord_core::host::Host;
use concord_core::runtime::SystemEnv;
use concord_core::service::Handler;
use concord_core::{AcceptancePolicy, Api, EventStore, Model, ServiceSpec};
use concord_http::auth::AllowedHosts;
use concord_http::{start_service, AuthConfig, Gui, SyncControl};
use concord_sync::{LinkSpec, TransportKind};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::links::Links;
use crate::transport::{HttpTransport, LinkCredentials, Transport, TransportSet};

/// How long a stopping service waits for requests in flight before it gives up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(7);

/// How to run a service.
pub struct NodeOptions {
    /// Where to listen (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Overrides the service's default acceptance policy.
    pub acceptance: Option<AcceptancePolicy>,
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
}

impl Default for NodeOptions {
    /// Loopback on a free port, the default acceptance, no links, HTTP transport.
    fn default() -> Self {
        NodeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            acceptance: None,
            links: Vec::new(),
            transport: None,
            credentials: LinkCredentials::default(),
            auth: AuthConfig::default(),
            gui: Gui::default(),
        }
    }
}

#[derive(Debug)]
pub enum NodeError {
    Start(String),
    Bind(SocketAddr, std::io::Error),
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Start(e) => f.write_str(e),
            NodeError::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
        }
    }
}

impl std::error::Error for NodeError {}

type CommandFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;
type CommandRunner = Arc<dyn Fn(String, Value) -> CommandFuture + Send + Sync>;

/// A service running in this process.
pub struct RunningNode {
    pub name: String,
    pub addr: SocketAddr,
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
        transport.check_link(link).map_err(NodeError::Start)?;
    }
    let name = spec.name().to_owned();
    let acceptance = options.acceptance.clone();
    let started = tokio::task::spawn_blocking(move || {
        start_service(&spec, store, acceptance, Box::new(SystemEnv::default()))
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
    let runner = Links::new(service.host.clone(), options.links, transport)
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
    let server = tokio::spawn(concord_http::serve(
        listener,
        service.router.clone(),
        async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        },
    ));
    let link_tasks = runner.spawn(stopped);
    let host = service.host.clone();
    let command = command_runner(service.host.clone(), service.api().clone());
    Ok(RunningNode {
        name,
        addr,
        links,
        command,
        stop,
        server,
        link_tasks,
        stop_writer: Box::new(move || host.shutdown()),
    })
}

/// Runs the domain's command routes in-process, through the same handlers and host as HTTP.
fn command_runner<M: Model>(host: Host<M>, api: Api<M>) -> CommandRunner {
    Arc::new(move |path: String, body: Value| {
        let host = host.clone();
        let command = match api.route("POST", &path) {
            Some((route, params)) => match &route.handler {
                Handler::Command(handler) => handler(&params, body).map_err(|e| e.to_string()),
                Handler::Query(_) => Err(format!("POST {path} is not a command")),
            },
            None => Err(format!("no command at POST {path}")),
        };
        Box::pin(async move {
            let events = host.command(command?).await.map_err(|e| e.to_string())?;
            Ok(json!({ "events": events }))
        })
    })
}

impl RunningNode {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs one of the service's commands (`POST path` with a JSON body) in-process.
    pub async fn command(&self, path: &str, body: Value) -> Result<Value, String> {
        (self.command)(path.to_owned(), body).await
    }

    /// Runs every link now (what `POST /api/sync` does).
    pub async fn sync_now(&self) -> Value {
        self.links.run_now().await
    }

    /// Stops accepting, lets requests in flight finish (up to a bound), stops the links, and
    /// lets the writer commit what it has queued. Returns within [`DRAIN_TIMEOUT`] plus the
    /// writer's last commit, whatever peers and clients do.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        match tokio::time::timeout_at(deadline, self.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::warn!(service = %self.name, error = %e, "server stopped with an error")
            }
            Ok(Err(e)) => tracing::warn!(service = %self.name, error = %e, "server task failed"),
            Err(_) => {
                tracing::warn!(service = %self.name, "requests still in flight after the drain timeout")
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
