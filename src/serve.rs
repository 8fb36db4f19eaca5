//! `concord serve`: one service until Ctrl-C or SIGTERM.

use std::sync::Arc;

use concord_node::{Gui, LinkCredentials, NodeOptions, Transport};

use crate::cli::ServeArgs;
use crate::config;

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let config = config::resolve(&args)?;
    let transport = match &config.nats {
        Some(nats) => Some(nats_transport(
            config.service.name(),
            nats,
            config.credentials.clone(),
        )?),
        None => None,
    };
    let node = crate::launch::start(
        config.service,
        &config.store,
        NodeOptions {
            listen: config.listen,
            acceptance: config.acceptance,
            links: config.links,
            transport,
            credentials: config.credentials,
            auth: config.auth,
            // The page draws this service's own links; it knows no sibling GUIs.
            gui: Gui::default(),
        },
    )
    .await?;
    println!(
        "{} listening on {}/ (store {})",
        node.name,
        node.url(),
        config.store.display()
    );
    concord_http::shutdown_signal().await;
    node.stop().await;
    Ok(())
}

/// HTTP links (presenting `credentials`) and NATS links (whose access the NATS server
/// decides).
#[cfg(feature = "nats")]
pub fn nats_transport(
    service: &str,
    nats: &config::NatsConfig,
    credentials: LinkCredentials,
) -> Result<Arc<dyn Transport>, String> {
    use concord_node::HttpTransport;
    use concord_sync::TransportKind;
    let options = concord_nats::NatsOptions::new(service)
        .with_stream(&nats.stream, &nats.stream.to_lowercase());
    let nats = concord_nats::NatsTransport::new(options)?;
    Ok(Arc::new(
        concord_node::TransportSet::empty()
            .with(
                TransportKind::Http,
                Arc::new(HttpTransport::new(credentials)),
            )
            .with(TransportKind::Nats, Arc::new(nats)),
    ))
}

#[cfg(not(feature = "nats"))]
pub fn nats_transport(
    _: &str,
    _: &config::NatsConfig,
    _: LinkCredentials,
) -> Result<Arc<dyn Transport>, String> {
    Err("this concord was built without the `nats` feature".into())
}
