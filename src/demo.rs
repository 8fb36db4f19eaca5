//! `concord demo`: the paper's four services in one process, each on its own port and store,
//! synchronising in the paper's topology; optionally seeded with a sample story.

use std::net::SocketAddr;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use concord_node::{Gui, LinkCredentials, NodeOptions, RunningNode, StartOptions};
use student_affairs::sample::sample_story;
use student_affairs::topology::paper_links;
use student_affairs::{AnyService, SERVICE_NAMES};

use crate::cli::DemoArgs;
use crate::config::demo_url;
use crate::credentials::{Credentials, FILE_NAME};
use crate::launch::StoreLocation;

/// What a token keeps unencoded in a link: RFC 3986's unreserved characters (a generated
/// token has no others).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub async fn run(args: DemoArgs) -> Result<(), String> {
    if args.sync_interval_ms == 0 {
        return Err("--sync-interval-ms must be at least 1".into());
    }
    if args.port > u16::MAX - 3 {
        return Err(format!(
            "--port {} leaves no room for the other three services",
            args.port
        ));
    }
    // Before any service listens: a SIGTERM from then on is a graceful stop.
    let shutdown = concord_http::shutdown_signal();
    // Every service's store: a SQLite file in --data, or its own schema in --store's database.
    let store_of = |name: &str| match &args.store {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            crate::launch::demo_postgres(url, name)
        }
        Some(other) => Err(format!(
            "--store takes a PostgreSQL URL (postgres://USER@HOST:PORT/DB), not {other:?}; \
             SQLite stores go in the folder given by --data"
        )),
        None => Ok(StoreLocation::Sqlite(args.data.join(format!("{name}.db")))),
    };
    let stores: Vec<StoreLocation> = AnyService::all()
        .iter()
        .map(|s| store_of(s.name()))
        .collect::<Result<_, _>>()?;
    // The deployment's tokens: made on the first start, the same ones after every restart
    // (also for PostgreSQL stores, the file lives in --data).
    let (credentials, created) = Credentials::demo(&args.data, &SERVICE_NAMES)?;
    let links_of = |name: &str| {
        paper_links(
            name,
            |peer| demo_url(args.bind, args.port, peer),
            args.sync_interval_ms,
        )
    };
    let http_topology: Vec<(String, Vec<concord_sync::LinkSpec>)> = AnyService::all()
        .map(|s| (s.name().to_owned(), links_of(s.name())))
        .to_vec();
    let topology = match args.transport.as_str() {
        "nats" => nats_topology(&http_topology, &args.nats_url)?,
        _ => http_topology,
    };
    // Every page links the four GUIs and draws the whole demo's topology.
    let gui = Gui {
        siblings: AnyService::all()
            .map(|s| {
                (
                    s.name().to_owned(),
                    demo_url(args.bind, args.port, s.name()),
                )
            })
            .to_vec(),
        topology: topology.clone(),
    };
    let mut nodes: Vec<RunningNode> = Vec::new();
    for ((index, service), store) in AnyService::all().into_iter().enumerate().zip(&stores) {
        let name = service.name();
        let presented = LinkCredentials::token(
            credentials
                .token_of(name)
                .expect("the demo's credentials name every service"),
        );
        let options = NodeOptions {
            listen: SocketAddr::new(args.bind, args.port + index as u16),
            // Each service signs what it raises and verifies every signed event it takes in.
            service: StartOptions {
                signing: credentials.signing_for(name)?,
                ..StartOptions::default()
            },
            links: topology[index].1.clone(),
            transport: transport_for(&args, name, presented.clone())?,
            credentials: presented,
            // Each service admits the operator and the other three, who read what their
            // links pull from it.
            auth: credentials.auth_for(name, &concord_sync::read_scopes(&topology, name)),
            gui: gui.clone(),
            ..NodeOptions::default()
        };
        match crate::launch::start(service, store, options).await {
            Ok(node) => nodes.push(node),
            Err(error) => {
                stop_all(nodes).await;
                return Err(error);
            }
        }
    }
    match &stores[0] {
        StoreLocation::Sqlite(_) => println!(
            "Concord demo: four services, stores in {}",
            args.data.display()
        ),
        StoreLocation::Postgres { .. } => {
            println!("Concord demo: four services, stores in PostgreSQL (a schema each)")
        }
    }
    for (node, store) in nodes.iter().zip(&stores) {
        match store {
            StoreLocation::Sqlite(_) => println!("  {:<16} {}/", node.name, node.url()),
            StoreLocation::Postgres { .. } => {
                println!("  {:<16} {}/  ({})", node.name, node.url(), store.display())
            }
        }
    }
    let file = args.data.join(FILE_NAME);
    println!(
        "Credentials: {} ({}; keep it private)",
        file.display(),
        if created { "made now" } else { "reused" }
    );
    println!("Log in as the operator (these links carry the token):");
    for node in &nodes {
        println!(
            "  {:<16} {}/?token={}",
            node.name,
            demo_url(args.bind, args.port, &node.name),
            utf8_percent_encode(&credentials.operator, QUERY_VALUE)
        );
    }
    if args.seed {
        seed(&nodes).await;
    }
    println!("Press Ctrl-C to stop.");
    shutdown.await;
    println!("Stopping…");
    stop_all(nodes).await;
    Ok(())
}

/// Plays the sample story through the services' own command handlers, synchronising after
/// each phase so that later phases find what earlier ones raised elsewhere.
async fn seed(nodes: &[RunningNode]) {
    let mut failed = 0;
    for phase in sample_story() {
        for step in phase {
            let Some(node) = nodes.iter().find(|n| n.name == step.service) else {
                continue;
            };
            if let Err(error) = node.command(&step.path, step.body.clone()).await {
                failed += 1;
                tracing::warn!(service = step.service, path = %step.path, %error, "sample step refused");
            }
        }
        // Relays (a hire reaching the other group through the ta-pool) take two rounds.
        for _ in 0..2 {
            for node in nodes {
                node.sync_now().await;
            }
        }
    }
    if failed == 0 {
        println!("Seeded the sample story.");
    } else {
        println!("Seeded the sample story ({failed} steps refused; see the log).");
    }
}

async fn stop_all(nodes: Vec<RunningNode>) {
    let stopping: Vec<_> = nodes.into_iter().map(|n| tokio::spawn(n.stop())).collect();
    for task in stopping {
        let _ = task.await;
    }
}

#[cfg(feature = "nats")]
fn nats_topology(
    http: &[(String, Vec<concord_sync::LinkSpec>)],
    url: &str,
) -> Result<Vec<(String, Vec<concord_sync::LinkSpec>)>, String> {
    Ok(concord_nats::over_nats(http, url))
}

#[cfg(not(feature = "nats"))]
fn nats_topology(
    _: &[(String, Vec<concord_sync::LinkSpec>)],
    _: &str,
) -> Result<Vec<(String, Vec<concord_sync::LinkSpec>)>, String> {
    Err("this concord was built without the `nats` feature".into())
}

/// The link transports of one demo service: HTTP (the node's default, presenting
/// `credentials`), plus NATS when the demo runs over NATS.
fn transport_for(
    args: &DemoArgs,
    service: &str,
    credentials: LinkCredentials,
) -> Result<Option<std::sync::Arc<dyn concord_node::Transport>>, String> {
    if args.transport != "nats" {
        return Ok(None);
    }
    let nats = crate::config::NatsConfig {
        url: args.nats_url.clone(),
        stream: args.nats_stream.clone(),
    };
    crate::serve::http_and_nats(service, &nats, credentials).map(Some)
}
