//! `concord serve`: one service until Ctrl-C or SIGTERM.

use concord_node::{Gui, NodeOptions};

use crate::cli::ServeArgs;
use crate::config;

pub async fn run(args: ServeArgs) -> Result<(), String> {
    let config = config::resolve(&args)?;
    let node = crate::launch::start(
        config.service,
        &config.store,
        NodeOptions {
            listen: config.listen,
            acceptance: config.acceptance,
            links: config.links,
            transport: None,
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
