//! A user's own binary in a few lines: one service, run until Ctrl-C or SIGTERM, as
//! `concord serve` runs one of the paper's.

use std::sync::Arc;

use concord_core::{EventStore, ServiceSpec};

use crate::node::{start, NodeError, NodeOptions};

/// Starts `spec` on `store` (replay, writer, server, links), prints `NAME listening on URL/`,
/// and runs it until the process is asked to stop (Ctrl-C or SIGTERM); then stops it
/// gracefully — requests in flight answered, links stopped, the writer's last batch committed.
///
/// ```ignore
/// let store = Arc::new(concord_sqlite::SqliteStore::open("my-service.db")?);
/// concord_node::serve(MyService, store, NodeOptions { links, auth, ..Default::default() }).await?;
/// ```
pub async fn serve<S: ServiceSpec>(
    spec: S,
    store: Arc<dyn EventStore>,
    options: NodeOptions,
) -> Result<(), NodeError> {
    // Before the service listens: a SIGTERM from then on is a graceful stop, never a kill.
    let shutdown = concord_http::shutdown_signal();
    let node = start(spec, store, options).await?;
    println!("{} listening on {}/", node.name, node.url());
    shutdown.await;
    node.stop().await;
    Ok(())
}
