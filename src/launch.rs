//! Starting one of the four services on its store: the glue `serve` and `demo` share. The
//! store is a SQLite file, or a schema in a PostgreSQL database when given a `postgres://`
//! URL (with the cargo feature `postgres`, on by default).

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use concord_core::{EventStore, ServiceSpec};
use concord_node::{NodeOptions, RunningNode};
use concord_sqlite::SqliteStore;
use student_affairs::{AnyService, ServiceVisitor};

type Starting = Pin<Box<dyn Future<Output = Result<RunningNode, String>> + Send>>;

/// Where a service keeps its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A schema of its own in a PostgreSQL database.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres { url: String, schema: String },
}

impl StoreLocation {
    /// Reads a `--store` (or TOML `store`) value for `service`: a `postgres://` or
    /// `postgresql://` URL, else a SQLite file path. A URL's `?schema=NAME` names the schema;
    /// without it the schema is the service's name (`se-group` → `se_group`).
    pub fn parse(text: &str, service: &str) -> Result<Self, String> {
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Ok(StoreLocation::Sqlite(PathBuf::from(text)));
        }
        postgres_location(text, service, false)
    }

    /// Reads an operator's `--store` (export, import, digest): like [`StoreLocation::parse`],
    /// but a PostgreSQL URL must say which schema — by its `?schema=NAME` or by `service` —
    /// since no service is running to default it.
    pub fn parse_for_operator(text: &str, service: Option<&str>) -> Result<Self, String> {
        let postgres = text.starts_with("postgres://") || text.starts_with("postgresql://");
        match service {
            Some(service) => Self::parse(text, service),
            None if postgres && !url_names_schema(text)? => Err(format!(
                "{text:?} names no schema: add ?schema=NAME to the URL or give --service NAME"
            )),
            None => Self::parse(text, ""),
        }
    }

    /// The location fit to print: a URL shows no password.
    pub fn display(&self) -> impl fmt::Display + '_ {
        Shown(self)
    }
}

struct Shown<'l>(&'l StoreLocation);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres { url, schema } => {
                #[cfg(feature = "postgres")]
                let url = concord_postgres::redact(url);
                let base = url.split('?').next().unwrap_or_default();
                write!(f, "{base} schema {schema}")
            }
        }
    }
}

#[cfg(feature = "postgres")]
fn url_names_schema(url: &str) -> Result<bool, String> {
    Ok(concord_postgres::url_schema(url)
        .map_err(|e| e.to_string())?
        .is_some())
}

#[cfg(not(feature = "postgres"))]
fn url_names_schema(_: &str) -> Result<bool, String> {
    Err(NO_POSTGRES.into())
}

/// The demo's PostgreSQL store of `service` at `url`: a schema named after the service, after
/// the URL's `?schema=PREFIX` when it gives one (`PREFIX_se_group`).
pub fn demo_postgres(url: &str, service: &str) -> Result<StoreLocation, String> {
    postgres_location(url, service, true)
}

/// The schema is the URL's `?schema=` (a prefix to the service's name when `as_prefix`), else
/// the service's name.
#[cfg(feature = "postgres")]
fn postgres_location(url: &str, service: &str, as_prefix: bool) -> Result<StoreLocation, String> {
    let named = concord_postgres::url_schema(url).map_err(|e| e.to_string())?;
    let own = concord_postgres::schema_for_service(service);
    let schema = match named {
        Some(prefix) if as_prefix => format!("{prefix}_{own}"),
        Some(schema) => schema,
        None => own,
    };
    concord_postgres::validate_schema(&schema).map_err(|e| e.to_string())?;
    Ok(StoreLocation::Postgres {
        url: url.to_owned(),
        schema,
    })
}

#[cfg(not(feature = "postgres"))]
const NO_POSTGRES: &str = "this concord was built without PostgreSQL support (cargo feature \
                           `postgres`); give a SQLite file path as the store";

#[cfg(not(feature = "postgres"))]
fn postgres_location(_: &str, _: &str, _: bool) -> Result<StoreLocation, String> {
    Err(NO_POSTGRES.into())
}

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

/// Opens (or creates) the service's store and starts the service on it.
pub async fn start(
    service: AnyService,
    location: &StoreLocation,
    options: NodeOptions,
) -> Result<RunningNode, String> {
    let store = open(location).await?;
    service.visit(Start { store, options }).await
}

async fn open(location: &StoreLocation) -> Result<Arc<dyn EventStore>, String> {
    let owned = location.clone();
    tokio::task::spawn_blocking(move || open_store(&owned))
        .await
        .map_err(|e| format!("opening the store panicked: {e}"))?
}

/// Opens (or creates) the store at `location`, blocking: for `serve` and `demo` (on the
/// blocking pool) and for the operator's commands (`export`, `import`, `digest`).
pub fn open_store(location: &StoreLocation) -> Result<Arc<dyn EventStore>, String> {
    let shown = location.display().to_string();
    let opened = || -> Result<Arc<dyn EventStore>, String> {
        match location {
            StoreLocation::Sqlite(path) => {
                if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder)
                        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
                }
                let store = SqliteStore::open(path).map_err(|e| e.to_string())?;
                Ok(Arc::new(store))
            }
            #[cfg(feature = "postgres")]
            StoreLocation::Postgres { url, schema } => {
                let store = concord_postgres::PostgresStore::connect_with_schema(url, schema)
                    .map_err(|e| e.to_string())?;
                Ok(Arc::new(store))
            }
            #[cfg(not(feature = "postgres"))]
            StoreLocation::Postgres { .. } => Err(NO_POSTGRES.into()),
        }
    };
    opened().map_err(|e| format!("{shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_a_sqlite_file() {
        assert_eq!(
            StoreLocation::parse("data/office.db", "students-office").unwrap(),
            StoreLocation::Sqlite(PathBuf::from("data/office.db"))
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_url_is_a_postgres_schema() {
        let url = "postgres://app:pw@db:5432/events";
        let location = StoreLocation::parse(url, "se-group").unwrap();
        assert_eq!(
            location,
            StoreLocation::Postgres {
                url: url.into(),
                schema: "se_group".into()
            }
        );
        assert_eq!(
            location.display().to_string(),
            "postgres://app:***@db:5432/events schema se_group"
        );
        let named = StoreLocation::parse("postgresql://db/events?schema=office2", "se-group");
        assert!(matches!(named, Ok(StoreLocation::Postgres { schema, .. }) if schema == "office2"));
        assert!(StoreLocation::parse("postgres://db/e?schema=No-Way", "x").is_err());
        assert!(matches!(
            demo_postgres("postgres://db/e?schema=demo", "ta-pool"),
            Ok(StoreLocation::Postgres { schema, .. }) if schema == "demo_ta_pool"
        ));
        assert!(matches!(
            demo_postgres("postgres://db/e", "students-office"),
            Ok(StoreLocation::Postgres { schema, .. }) if schema == "students_office"
        ));
    }
}
