//! What the node's in-process link tests share.

use std::sync::Arc;

use concord_core::scope::Scope;
use concord_core::store::EventStore;
use concord_http::auth::{PeerAuth, TokenHash};
use concord_node::{AuthConfig, LinkCredentials, NodeOptions, RunningNode};
use concord_sync::LinkSpec;
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

/// A notes service named "reader" on `store` that takes the writer's notes over `link`,
/// presenting `token`.
#[allow(dead_code)] // each test binary compiles this module; the signed one starts its own
pub async fn reader(store: Arc<dyn EventStore>, link: LinkSpec, token: &str) -> RunningNode {
    concord_node::start(
        NotesSpec::new("reader").accepting_from("writer"),
        store,
        NodeOptions {
            links: vec![link],
            credentials: LinkCredentials::token(token),
            ..NodeOptions::default()
        },
    )
    .await
    .unwrap()
}
