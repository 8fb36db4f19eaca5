//! Support for tests that need a PostgreSQL server: this crate's own, and the end-to-end tests
//! that run services on PostgreSQL.
//!
//! A test asks [`server_or_skip`] for the server. Where none answers it prints
//! `skipped: PostgreSQL not reachable at …` and the test returns — unless
//! `CONCORD_REQUIRE_SERVICES=1` (CI sets it), where a missing server fails the test instead,
//! so CI cannot pass by skipping. Each test works in schemas of its own ([`Scratch`]), dropped
//! when it ends, so tests run in parallel and leave nothing behind.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{location::redact, PostgresStore};

/// The variable naming the test server's URL.
pub const URL_VARIABLE: &str = "CONCORD_TEST_POSTGRES";
/// The test server when the variable is unset: the machine's own PostgreSQL.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// When this variable is `1`, an unreachable server fails a test rather than skipping it.
pub const REQUIRE_VARIABLE: &str = "CONCORD_REQUIRE_SERVICES";

/// The test server's URL: [`URL_VARIABLE`] or [`DEFAULT_URL`].
pub fn server_url() -> String {
    std::env::var(URL_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// The test server's URL if it answers. If it does not: panics when
/// `CONCORD_REQUIRE_SERVICES=1`, else prints why `test` is skipped and returns `None`.
pub fn server_or_skip(test: &str) -> Option<String> {
    let url = server_url();
    match PostgresStore::ping(&url) {
        Ok(()) => Some(url),
        Err(error) => {
            let why = format!(
                "PostgreSQL not reachable at {} ({error}); set {URL_VARIABLE} to a server's URL",
                redact(&url)
            );
            if std::env::var(REQUIRE_VARIABLE).as_deref() == Ok("1") {
                panic!("{test}: {why}, and {REQUIRE_VARIABLE}=1 requires it");
            }
            eprintln!("{test}: skipped: {why}");
            None
        }
    }
}

/// A schema name no other test (in this run or a parallel one) uses.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut prefix = crate::location::schema_for_service(prefix);
    prefix.truncate(24); // leaves room for the suffix within PostgreSQL's 63 bytes
    format!("{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

/// Scratch schemas on the test server, dropped (with their tables) when this is dropped.
pub struct Scratch {
    pub url: String,
    prefix: String,
    schemas: std::sync::Mutex<Vec<String>>,
}

impl Scratch {
    pub fn new(url: &str, prefix: &str) -> Self {
        Scratch {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            schemas: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A fresh schema name, to be dropped with this scratch.
    pub fn schema(&self) -> String {
        let schema = unique_schema(&self.prefix);
        self.schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(schema.clone());
        schema
    }

    /// A store in a fresh schema.
    pub fn store(&self) -> PostgresStore {
        PostgresStore::connect_with_schema(&self.url, &self.schema())
            .expect("a store in a fresh schema opens")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(|p| p.into_inner()));
        for schema in schemas {
            if let Err(error) = PostgresStore::drop_schema(&self.url, &schema) {
                eprintln!("could not drop test schema {schema}: {error}");
            }
        }
    }
}
