//! `concord serve`: one service until Ctrl-C or SIGTERM.

use std::sync::Arc;

use concord_node::{Gui, HttpTransport, NodeOptions, ServerTls, Transport, TransportSet};
use concord_sync::TransportKind;

use crate::cli::ServeArgs;
use crate::config;

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let config = config::resolve(&args)?;
    let http = match &config.tls_ca {
        Some(ca) => HttpTransport::with_ca(ca).map_err(|e| e.to_string())?,
        None => HttpTransport::default(),
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
    let node = crate::launch::start(
        config.service,
        &config.store,
        NodeOptions {
            listen: config.listen,
            acceptance: config.acceptance,
            limits: config.limits,
            links: config.links,
            transport: Some(Arc::new(transport)),
            // The page draws this service's own links; it knows no sibling GUIs.
            gui: Gui::default(),
            tls,
            server: config.server,
            writer_queue: config.writer_queue,
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

#[cfg(feature = "nats")]
fn nats_transport(service: &str, nats: &config::NatsConfig) -> Result<Arc<dyn Transport>, String> {
    let options = concord_nats::NatsOptions::new(service)
        .with_stream(&nats.stream, &nats.stream.to_lowercase());
    Ok(Arc::new(concord_nats::NatsTransport::new(options)?))
}

#[cfg(not(feature = "nats"))]
fn nats_transport(_: &str, _: &config::NatsConfig) -> Result<Arc<dyn Transport>, String> {
    Err("this concord was built without the `nats` feature".into())
}
