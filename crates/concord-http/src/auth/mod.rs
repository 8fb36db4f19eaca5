//! Who may call a service, and what each caller may do (docs/protocol.md §5).
//!
//! Every request of the router passes the guard (`layer`, run by the one middleware in
//! `front.rs`): it checks the `Host` name, lets `GET /health` and the login routes through,
//! and otherwise establishes a [`Principal`] from the request's credential — `Authorization: Bearer TOKEN` for the
//! JSON API, the bearer token or the GUI's session cookie for the GUI — or refuses it
//! (401 unknown, 403 not allowed, 415 a POST that is not JSON or CloudEvents). What it lets
//! through carries a [`Caller`] (a request extension) naming the principal and its scopes;
//! putEvents and getEvents consult it, every other route is the operator's alone.
//!
//! Principals: the *operator* (people at the GUI, scripts at the API) may do everything; a
//! *peer* service, known by its name, may only deliver the events its put scope allows (by
//! default: its own name as `source`, for the types this service accepts from it) and read
//! the events its read scope allows (given by configuration; the binary derives it from the
//! peers' pull links).
//!
//! # Layout
//! - [`token`]: tokens, their SHA-256 hashes, constant-time verification.
//! - [`hosts`]: the `Host` allow-list.
//! - `session`: the GUI's session table and cookie parsing.
//! - `layer`: the guard and the security headers of every answer.
//! - `login`: `GET`/`POST /login`, `POST /logout` and the login page.

pub mod hosts;
pub(crate) mod layer;
pub(crate) mod login;
mod session;
pub mod token;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use concord_core::scope::{EventPattern, Scope};
use concord_core::{AcceptancePolicy, CloudEvent};
use serde::Deserialize;

pub use hosts::AllowedHosts;
pub(crate) use layer::require_json;
pub use session::{MAX_SESSIONS, SESSION_LIFETIME};
pub use token::{generate_token, HashError, TokenHash, TOKEN_PREFIX};

use crate::error::ApiError;
use session::Sessions;
use token::Verifier;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// People at the GUI and scripts at the API: everything.
    Operator,
    /// Another service of the deployment, by its name.
    Peer(String),
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Operator => f.write_str("the operator"),
            Principal::Peer(name) => write!(f, "peer {name}"),
        }
    }
}

/// One peer service's credentials and scopes, as configured (TOML `[auth.peers.NAME]`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerAuth {
    /// Hashes of the tokens it may present (several while a token is rotated).
    #[serde(default)]
    pub tokens: Vec<TokenHash>,
    /// The events it may deliver through putEvents; `None`: its own name as `source`, for
    /// the types this service's acceptance policy takes from it.
    #[serde(default)]
    pub put: Option<Scope>,
    /// The events it may read through getEvents; `None`: nothing.
    #[serde(default)]
    pub read: Option<Scope>,
}

impl PeerAuth {
    /// A peer presenting `token`s, with the default put scope and no read scope.
    pub fn new(tokens: impl IntoIterator<Item = TokenHash>) -> Self {
        PeerAuth {
            tokens: tokens.into_iter().collect(),
            ..PeerAuth::default()
        }
    }

    pub fn reading(mut self, scope: Scope) -> Self {
        self.read = Some(scope);
        self
    }

    pub fn putting(mut self, scope: Scope) -> Self {
        self.put = Some(scope);
        self
    }
}

/// A service's principals and the browser-facing settings of its guard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthConfig {
    /// Hashes of the operator's tokens.
    pub operator: Vec<TokenHash>,
    /// The peer services, by name.
    pub peers: BTreeMap<String, PeerAuth>,
    /// The `Host` names answered; `None`: `localhost`, `127.0.0.1` and `[::1]` (a node adds
    /// its bind address, see [`AllowedHosts::for_bind`]).
    pub allowed_hosts: Option<AllowedHosts>,
    /// Marks the session cookie `Secure` (set when the service is served over TLS).
    pub secure_cookies: bool,
    /// The session cookie's name; `None`: `concord-session-<service>`. Browsers share
    /// cookies across ports, so services on one host need different names.
    pub cookie_name: Option<String>,
}

impl AuthConfig {
    /// Whether it names no principal at all (then every route but `/health` is refused).
    pub fn has_no_principals(&self) -> bool {
        self.operator.is_empty() && self.peers.values().all(|p| p.tokens.is_empty())
    }

    pub fn with_operator(mut self, hash: TokenHash) -> Self {
        self.operator.push(hash);
        self
    }

    pub fn with_peer(mut self, name: impl Into<String>, peer: PeerAuth) -> Self {
        self.peers.insert(name.into(), peer);
        self
    }
}

/// Why an [`AuthConfig`] cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("one token is configured for both {first} and {second}: give every principal tokens of its own")]
    SharedToken { first: Principal, second: Principal },
    #[error("the session cookie name {0:?} may hold only ASCII letters, digits, '-' and '_'")]
    CookieName(String),
}

/// The caller of a request the guard let through, with what it may do. putEvents and
/// getEvents read it from the request's extensions.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// `None`: anything (the operator).
    put: Option<Arc<Scope>>,
    read: Option<Arc<Scope>>,
}

impl Caller {
    /// The operator: no limits.
    pub fn operator() -> Caller {
        Caller {
            principal: Principal::Operator,
            put: None,
            read: None,
        }
    }

    /// What getEvents may show this caller (`None`: everything).
    pub fn read_scope(&self) -> Option<Scope> {
        self.read.as_deref().cloned()
    }

    /// What putEvents takes from this caller (`None`: anything).
    pub fn put_scope(&self) -> Option<Scope> {
        self.put.as_deref().cloned()
    }

    /// A 403 naming the first event of a putEvents batch this caller may not deliver; the
    /// whole batch is refused then.
    pub fn check_put(&self, events: &[CloudEvent]) -> Result<(), ApiError> {
        let Some(scope) = &self.put else {
            return Ok(());
        };
        match events.iter().position(|event| !scope.allows(event)) {
            None => Ok(()),
            Some(index) => {
                let event = &events[index];
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "event at index {index}: {} may not deliver {} events with source {}; \
                         nothing of the batch was stored",
                        self.principal, event.ty, event.source
                    ),
                )
                .with("index", index))
            }
        }
    }
}

/// A service's guard, built from its [`AuthConfig`]: the verifier of tokens, the peers'
/// resolved scopes, the session table and the browser-facing settings. Shared by every
/// request (and kept when the router is rebuilt, so sessions survive that).
pub struct Authenticator {
    service: String,
    verifier: Verifier<Principal>,
    callers: BTreeMap<String, Caller>,
    hosts: AllowedHosts,
    sessions: Sessions,
    cookie: String,
    secure_cookies: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("service", &self.service)
            .field("peers", &self.callers.keys().collect::<Vec<_>>())
            .field("hosts", &self.hosts)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// The guard of `service`, whose acceptance `policy` gives peers their default put scope.
    pub fn new(
        config: &AuthConfig,
        service: &str,
        policy: &AcceptancePolicy,
    ) -> Result<Authenticator, AuthError> {
        let mut entries: Vec<(TokenHash, Principal)> = Vec::new();
        let mut add = |hash: TokenHash, principal: Principal| {
            if let Some((_, other)) = entries.iter().find(|(h, _)| *h == hash) {
                if *other != principal {
                    return Err(AuthError::SharedToken {
                        first: other.clone(),
                        second: principal,
                    });
                }
                return Ok(());
            }
            entries.push((hash, principal));
            Ok(())
        };
        for hash in &config.operator {
            add(*hash, Principal::Operator)?;
        }
        let mut callers = BTreeMap::new();
        for (name, peer) in &config.peers {
            for hash in &peer.tokens {
                add(*hash, Principal::Peer(name.clone()))?;
            }
            let put = peer
                .put
                .clone()
                .unwrap_or_else(|| default_put_scope(name, policy));
            callers.insert(
                name.clone(),
                Caller {
                    principal: Principal::Peer(name.clone()),
                    put: Some(Arc::new(put)),
                    read: Some(Arc::new(peer.read.clone().unwrap_or_default())),
                },
            );
        }
        let cookie = match &config.cookie_name {
            Some(name) => name.clone(),
            None => format!("concord-session-{}", cookie_safe(service)),
        };
        if cookie.is_empty()
            || !cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AuthError::CookieName(cookie));
        }
        Ok(Authenticator {
            service: service.to_owned(),
            verifier: Verifier::new(entries),
            callers,
            hosts: config
                .allowed_hosts
                .clone()
                .unwrap_or_else(AllowedHosts::loopback),
            sessions: Sessions::new(MAX_SESSIONS, SESSION_LIFETIME),
            cookie,
            secure_cookies: config.secure_cookies,
        })
    }

    /// The principal `token` belongs to, if any.
    pub fn principal(&self, token: &str) -> Option<Principal> {
        self.verifier.verify(token)
    }

    /// The [`Caller`] a principal makes: its scopes resolved.
    pub fn caller(&self, principal: &Principal) -> Caller {
        match principal {
            Principal::Operator => Caller::operator(),
            Principal::Peer(name) => self.callers.get(name).cloned().unwrap_or(Caller {
                principal: principal.clone(),
                put: Some(Arc::new(Scope::nothing())),
                read: Some(Arc::new(Scope::nothing())),
            }),
        }
    }

    /// The name of the GUI's session cookie.
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }
}

/// A peer's default put scope at a service: the (source, type) pairs the service's
/// acceptance policy takes with the peer's own name as `source`.
pub fn default_put_scope(peer: &str, policy: &AcceptancePolicy) -> Scope {
    let mut patterns: Vec<EventPattern> = Vec::new();
    for rule in policy.rules.iter().filter(|r| r.source == peer) {
        let pattern = EventPattern::of(peer, rule.ty.clone());
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Scope::new(patterns)
}

fn cookie_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use concord_core::event::sample_event;
    use concord_core::AcceptanceRule;
    use serde_json::json;

    fn policy() -> AcceptancePolicy {
        AcceptancePolicy::new(vec![
            AcceptanceRule::new("group-a", "graded"),
            AcceptanceRule::new("group-a", "hired").with_data("group", "group-a"),
            AcceptanceRule::new("group-b", "graded"),
        ])
    }

    #[test]
    fn a_peer_puts_its_own_events_of_the_types_accepted_from_it() {
        let scope = default_put_scope("group-a", &policy());
        assert_eq!(
            scope,
            Scope::new(vec![
                EventPattern::of("group-a", "graded"),
                EventPattern::of("group-a", "hired")
            ])
        );
        assert_eq!(default_put_scope("pool", &policy()), Scope::nothing());
    }

    #[test]
    fn the_whole_batch_is_refused_naming_the_first_event_out_of_scope() {
        let config = AuthConfig::default()
            .with_operator(TokenHash::of("op"))
            .with_peer("group-a", PeerAuth::new([TokenHash::of("a")]));
        let auth = Authenticator::new(&config, "office", &policy()).unwrap();
        let peer = auth.caller(&auth.principal("a").unwrap());
        let mut batch: Vec<CloudEvent> = (0..100)
            .map(|i| sample_event(&format!("e{i}"), "group-a", "graded", json!({})))
            .collect();
        assert!(peer.check_put(&batch).is_ok());
        batch[57] = sample_event("forged", "group-b", "graded", json!({}));
        batch[80] = sample_event("other", "group-a", "enrolled", json!({}));
        let refused = peer.check_put(&batch).unwrap_err();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(
            refused
                .message()
                .starts_with("event at index 57: peer group-a"),
            "{refused}"
        );
        assert!(auth.caller(&Principal::Operator).check_put(&batch).is_ok());
        assert_eq!(
            peer.read_scope(),
            Some(Scope::nothing()),
            "no read scope: nothing"
        );
        assert_eq!(auth.principal("op"), Some(Principal::Operator));
        assert_eq!(auth.principal("b"), None);
    }

    #[test]
    fn one_token_for_two_principals_is_a_mistake() {
        let config = AuthConfig::default()
            .with_operator(TokenHash::of("same"))
            .with_peer("group-a", PeerAuth::new([TokenHash::of("same")]));
        assert!(matches!(
            Authenticator::new(&config, "office", &policy()),
            Err(AuthError::SharedToken { .. })
        ));
        let twice = AuthConfig::default()
            .with_operator(TokenHash::of("op"))
            .with_operator(TokenHash::of("op"));
        assert!(Authenticator::new(&twice, "office", &policy()).is_ok());
        let cookie = AuthConfig {
            cookie_name: Some("a b".into()),
            ..AuthConfig::default()
        };
        assert!(matches!(
            Authenticator::new(&cookie, "office", &policy()),
            Err(AuthError::CookieName(_))
        ));
        let auth = Authenticator::new(&AuthConfig::default(), "se group", &policy()).unwrap();
        assert_eq!(auth.cookie_name(), "concord-session-se_group");
        assert!(AuthConfig::default().has_no_principals());
    }
}
