//! `concord serve`: one service until Ctrl-C or SIGTERM.

use std::sync::Arc;

use concord_node::{
    Gui, HttpTransport, LinkCredentials, NodeOptions, ServerTls, StartOptions, Transport,
    TransportSet,
};
use concord_sync::TransportKind;

use crate::cli::ServeArgs;
use crate::config;

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let config = config::resolve(&args)?;
    let http = match &config.tls_ca {
        Some(ca) => {
            HttpTransport::with_ca(ca, config.credentials.clone()).map_err(|e| e.to_string())?
        }
        None => HttpTransport::new(config.credentials.clone()),
    };
    let mut transport = TransportSet::empty().with(TransportKind::Http, Arc::new(http));
    if let Some(nats) = &config.nats {
        transport = transport.with(
            TransportKind::Nats,
            nats_transport(config.service.name(), nats)?,
        );
    }
    let tls = match &config.tls {
        Some(files) => {
            Some(ServerTls::from_pem_files(&files.cert, &files.key).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    // Before the service listens: a SIGTERM from then on is a graceful stop.
    let shutdown = concord_http::shutdown_signal();
    let node = crate::launch::start(
        config.service,
        &config.store,
        NodeOptions {
            listen: config.listen,
            service: StartOptions {
                acceptance: config.acceptance,
                limits: config.limits,
                writer_queue: config.writer_queue,
                signing: config.signing,
            },
            links: config.links,
            transport: Some(Arc::new(transport)),
            credentials: config.credentials,
            auth: config.auth,
            // The page draws this service's own links; it knows no sibling GUIs.
            gui: Gui::default(),
            tls,
            server: config.server,
        },
    )
    .await?;
    println!(
        "{} listening on {}/ (store {})",
        node.name,
        node.url(),
        config.store.display()
    );
    shutdown.await;
    node.stop().await;
    Ok(())
}

/// The NATS transport of a service's NATS links (the NATS server decides who may publish and
/// consume; bearer tokens are HTTP's).
#[cfg(feature = "nats")]
pub fn nats_transport(
    service: &str,
    nats: &config::NatsConfig,
) -> Result<Arc<dyn Transport>, String> {
    let options = concord_nats::NatsOptions::new(service)
        .with_stream(&nats.stream, &nats.stream.to_lowercase());
    Ok(Arc::new(concord_nats::NatsTransport::new(options)?))
}

#[cfg(not(feature = "nats"))]
pub fn nats_transport(_: &str, _: &config::NatsConfig) -> Result<Arc<dyn Transport>, String> {
    Err("this concord was built without the `nats` feature".into())
}

/// HTTP links presenting `credentials`, and NATS links: what a demo service over NATS needs.
pub fn http_and_nats(
    service: &str,
    nats: &config::NatsConfig,
    credentials: LinkCredentials,
) -> Result<Arc<dyn Transport>, String> {
    Ok(Arc::new(
        TransportSet::empty()
            .with(
                TransportKind::Http,
                Arc::new(HttpTransport::new(credentials)),
            )
            .with(TransportKind::Nats, nats_transport(service, nats)?),
    ))
}
