//! The GUI's sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie, and a bounded
//! table of live sessions on the server.
//!
//! The table keeps the SHA-256 of each id, not the id, so looking one up never compares a
//! secret byte by byte, and a memory dump holds nothing a browser could present. It is
//! bounded: when full, the session closest to expiry makes room, so no client can grow it.
//! Sessions live in memory only; after a restart the operator logs in again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;

use super::token::{random_bytes, TokenHash};

/// How long a login lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// Live sessions kept at most (per service).
pub const MAX_SESSIONS: usize = 1024;

pub(crate) struct Sessions {
    max: usize,
    lifetime: Duration,
    /// Hash of the id → when the session expires.
    live: Mutex<HashMap<TokenHash, Instant>>,
}

impl Sessions {
    pub fn new(max: usize, lifetime: Duration) -> Self {
        Sessions {
            max: max.max(1),
            lifetime,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<TokenHash, Instant>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session; its id, for the cookie.
    pub fn open(&self) -> String {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes());
        let now = Instant::now();
        let mut live = self.live();
        live.retain(|_, expires| *expires > now);
        if live.len() >= self.max {
            if let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) {
                live.remove(&oldest);
            }
        }
        live.insert(TokenHash::of(&id), now + self.lifetime);
        id
    }

    /// Whether `id` names a live session.
    pub fn check(&self, id: &str) -> bool {
        let key = TokenHash::of(id);
        let mut live = self.live();
        match live.get(&key) {
            Some(expires) if *expires > Instant::now() => true,
            Some(_) => {
                live.remove(&key);
                false
            }
            None => false,
        }
    }

    pub fn close(&self, id: &str) {
        self.live().remove(&TokenHash::of(id));
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.live().len()
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub(crate) fn cookie<'h>(
    headers: impl Iterator<Item = &'h axum::http::HeaderValue>,
    name: &str,
) -> Option<String> {
    headers
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_session_lives_until_closed_or_expired() {
        let sessions = Sessions::new(10, Duration::from_secs(60));
        let id = sessions.open();
        assert!(id.len() >= 43);
        assert!(sessions.check(&id));
        assert!(!sessions.check("made-up"));
        assert!(!sessions.check(&id[1..]));
        sessions.close(&id);
        assert!(!sessions.check(&id));

        let brief = Sessions::new(10, Duration::from_millis(1));
        let id = brief.open();
        std::thread::sleep(Duration::from_millis(5));
        assert!(!brief.check(&id), "an expired session is gone");
    }

    #[test]
    fn the_table_is_bounded() {
        let sessions = Sessions::new(3, Duration::from_secs(60));
        let first = sessions.open();
        let rest: Vec<String> = (0..5).map(|_| sessions.open()).collect();
        assert_eq!(sessions.len(), 3);
        assert!(!sessions.check(&first), "the oldest made room");
        assert!(rest[2..].iter().all(|id| sessions.check(id)));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let headers = [
            HeaderValue::from_static("a=1; concord-x-extra=2"),
            HeaderValue::from_static("concord-x=\"3\""),
        ];
        assert_eq!(cookie(headers.iter(), "concord-x").as_deref(), Some("3"));
        assert_eq!(cookie(headers.iter(), "a").as_deref(), Some("1"));
        assert_eq!(cookie(headers.iter(), "concord"), None);
    }
}
