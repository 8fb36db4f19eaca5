//! `concord serve`: one service until Ctrl-C or SIGTERM.

use concord_node::{Gui, NodeOptions};

use crate::cli::ServeArgs;
use crate::config;

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let config = config::resolve(&args)?;
    let transport = match &config.nats {
        Some(nats) => Some(nats_transport(config.service.name(), nats)?),
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
            transport,
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

#[cfg(feature = "nats")]
fn nats_transport(
    service: &str,
    nats: &config::NatsConfig,
) -> Result<std::sync::Arc<dyn concord_node::Transport>, String> {
    let options = concord_nats::NatsOptions::new(service)
        .with_stream(&nats.stream, &nats.stream.to_lowercase());
    concord_nats::transports(options)
}

#[cfg(not(feature = "nats"))]
fn nats_transport(
    _: &str,
    _: &config::NatsConfig,
) -> Result<std::sync::Arc<dyn concord_node::Transport>, String> {
    Err("this concord was built without the `nats` feature".into())
}
