//! What the node's in-process link tests share.

use std::sync::Arc;

use concord_core::scope::Scope;
use concord_core::store::EventStore;
use concord_http::auth::{PeerAuth, TokenHash};
use concord_node::{AuthConfig, NodeOptions, RunningNode};
use concord_testkit::notes::NotesSpec;

/// A notes service named "writer" on `store` that admits the peer "reader" by `token`, to
/// read everything.
pub async fn writer(store: Arc<dyn EventStore>, token: &str) -> RunningNode {
    concord_node::start(
        NotesSpec::new("writer"),
        store,
        NodeOptions {
            auth: AuthConfig::default().with_peer(
                "reader",
                PeerAuth::new([TokenHash::of(token)]).reading(Scope::everything()),
            ),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap()
}
