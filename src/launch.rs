//! Starting one of the four services on its SQLite store: the glue `serve` and `demo` share.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use concord_core::{EventStore, ServiceSpec};
use concord_node::{NodeOptions, RunningNode};
use concord_sqlite::SqliteStore;
use student_affairs::{AnyService, ServiceVisitor};

type Starting = Pin<Box<dyn Future<Output = Result<RunningNode, String>> + Send>>;

struct Start {
    store: Arc<dyn EventStore>,
    options: NodeOptions,
}

impl ServiceVisitor for Start {
    type Output = Starting;

    fn visit<S: ServiceSpec + Clone>(self, spec: S) -> Starting {
        Box::pin(async move {
            concord_node::start(spec, self.store, self.options)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Opens (or creates) the service's store at `path` and starts the service on it.
pub async fn start(
    service: AnyService,
    path: &Path,
    options: NodeOptions,
) -> Result<RunningNode, String> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    let owned = path.to_owned();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&owned))
        .await
        .map_err(|e| format!("opening the store panicked: {e}"))?
        .map_err(|e| format!("{}: {e}", path.display()))?;
    service
        .visit(Start {
            store: Arc::new(store),
            options,
        })
        .await
}
