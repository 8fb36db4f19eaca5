//! `GET /api/keys`: the public keys this service signs its events with, for operators to
//! copy into its peers' configurations (CONTRACT §6). A receiver never takes a key from a
//! relay or from this route at run time: keys are trusted only by configuration.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use concord_core::sign::{Signer, ALGORITHM};
use serde_json::{json, Value};

pub(crate) const PATH: &str = "/api/keys";

/// The route, answering `signer`'s public key (none when the service does not sign).
pub(crate) fn routes(signer: Option<&Arc<Signer>>) -> Router {
    let body = document(signer);
    Router::new().route(PATH, get(move || std::future::ready(Json(body.clone()))))
}

/// A fresh signing key from the operating system's randomness, under `keyid`
/// (`SERVICE/vN`).
pub fn generate_signer(keyid: impl Into<String>) -> Signer {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the operating system provides randomness");
    Signer::from_seed(keyid, seed)
}

/// `{"keys":[{"keyid","alg":"ed25519","public"}]}`.
pub fn document(signer: Option<&Arc<Signer>>) -> Value {
    let keys: Vec<Value> = signer
        .map(|s| s.public())
        .into_iter()
        .map(|key| json!({"keyid": key.keyid, "alg": ALGORITHM, "public": key.to_base64()}))
        .collect();
    json!({ "keys": keys })
}
