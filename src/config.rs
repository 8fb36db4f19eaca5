//! `concord serve` configuration: a TOML file, overridden by flags, resolved into what one
//! service needs to run.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use concord_core::host::DEFAULT_QUEUE_CAPACITY;
use concord_core::sign::{PublicKey, Signer, Signing};
use concord_core::{AcceptancePolicy, AcceptanceRule, Limits, Timestamp};
use concord_http::auth::{AllowedHosts, PeerAuth, TokenHash};
use concord_http::{AuthConfig, ServerLimits};
use concord_node::LinkCredentials;
use concord_sync::LinkSpec;
use serde::Deserialize;
use student_affairs::topology::paper_links;
use student_affairs::{AnyService, SERVICE_NAMES};

use crate::cli::ServeArgs;
use crate::credentials::Credentials;
use crate::launch::StoreLocation;

pub const DEFAULT_BASE_PORT: u16 = 7070;
pub const DEFAULT_INTERVAL_MS: u64 = 1000;

/// The TOML file, every key optional (flags fill in or override).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub service: Option<String>,
    pub bind: Option<IpAddr>,
    pub port: Option<u16>,
    pub data: Option<PathBuf>,
    pub store: Option<String>,
    pub sync_interval_ms: Option<u64>,
    /// Peer base URLs by service name, for the default topology and for links without a url.
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
    /// Explicit links; without them the service runs the paper's topology.
    pub links: Option<Vec<LinkSpec>>,
    /// Replaces the service's default acceptance rules.
    pub acceptance: Option<Vec<AcceptanceRule>>,
    /// NATS JetStream for links: `url`, `stream` (also the subject prefix, lower-cased).
    pub nats: Option<NatsConfig>,
    /// HTTPS: the PEM certificate chain and key to serve with.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A PEM CA to trust for https:// peers, besides the system's roots.
    pub tls_ca: Option<PathBuf>,
    /// `[limits]`: what the service accepts at intake, and the server's timeouts and caps.
    pub limits: Option<LimitsConfig>,
    /// Who may call the service, and the token it presents to its peers.
    #[serde(default)]
    pub auth: AuthFile,
    /// `[signing]`: the key this service signs what it raises with, and the public keys it
    /// trusts per source (besides those of a credentials file).
    #[serde(default)]
    pub signing: SigningFile,
}

/// `[signing]`: `keyid` and `private` (the Base64 seed, from a file or an environment
/// variable, never inline), and `[[signing.trust]]` entries.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningFile {
    pub keyid: Option<String>,
    pub private: Option<Secret>,
    #[serde(default)]
    pub trust: Vec<TrustEntry>,
}

/// One trusted public key: events of `source` signed with `keyid` verify with it; with
/// `retired`, only events whose time is before it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustEntry {
    pub source: String,
    pub keyid: String,
    pub public: String,
    pub retired: Option<String>,
}

/// `[limits]`: every key optional. The intake limits default to the contract's
/// ([`Limits::default`]), the server's to [`ServerLimits::default`] and the writer queue to
/// [`DEFAULT_QUEUE_CAPACITY`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_id_bytes: Option<usize>,
    pub max_event_bytes: Option<usize>,
    pub max_depth: Option<usize>,
    pub max_skew_ms: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_requests: Option<usize>,
    pub body_budget_mib: Option<usize>,
    pub header_timeout_ms: Option<u64>,
    pub handshake_timeout_ms: Option<u64>,
    pub body_timeout_ms: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub write_timeout_ms: Option<u64>,
    pub writer_queue: Option<usize>,
}

impl LimitsConfig {
    /// The intake limits, the server's limits and the writer queue's capacity; a zero is
    /// refused by name.
    fn resolve(&self) -> Result<(Limits, ServerLimits, usize), String> {
        let defaults = ServerLimits::default();
        let count = |value: Option<usize>, name: &str, default: usize| match value {
            Some(0) => Err(format!("[limits] {name} must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        let millis = |value: Option<u64>, name: &str, default: Duration| match value {
            Some(0) => Err(format!("[limits] {name} must be at least 1")),
            Some(ms) => Ok(Duration::from_millis(ms)),
            None => Ok(default),
        };
        let limits = ServerLimits {
            max_connections: count(
                self.max_connections,
                "max_connections",
                defaults.max_connections,
            )?,
            max_requests: count(self.max_requests, "max_requests", defaults.max_requests)?,
            body_budget: count(
                self.body_budget_mib,
                "body_budget_mib",
                defaults.body_budget >> 20,
            )?
            .saturating_mul(1 << 20),
            header_timeout: millis(
                self.header_timeout_ms,
                "header_timeout_ms",
                defaults.header_timeout,
            )?,
            handshake_timeout: millis(
                self.handshake_timeout_ms,
                "handshake_timeout_ms",
                defaults.handshake_timeout,
            )?,
            body_timeout: millis(
                self.body_timeout_ms,
                "body_timeout_ms",
                defaults.body_timeout,
            )?,
            request_timeout: millis(
                self.request_timeout_ms,
                "request_timeout_ms",
                defaults.request_timeout,
            )?,
            write_timeout: millis(
                self.write_timeout_ms,
                "write_timeout_ms",
                defaults.write_timeout,
            )?,
        };
        let queue = count(self.writer_queue, "writer_queue", DEFAULT_QUEUE_CAPACITY)?;
        let contract = Limits::default();
        let intake = Limits {
            max_id_bytes: count(self.max_id_bytes, "max_id_bytes", contract.max_id_bytes)?,
            max_event_bytes: count(
                self.max_event_bytes,
                "max_event_bytes",
                contract.max_event_bytes,
            )?,
            max_depth: count(self.max_depth, "max_depth", contract.max_depth)?,
            // A skew of 0 is allowed: it refuses anything from a clock ahead at all.
            max_skew_ms: self.max_skew_ms.unwrap_or(contract.max_skew_ms),
        };
        Ok((intake, limits, queue))
    }
}

/// The certificate and key a service serves HTTPS with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[auth]`: principals as hashes of their tokens (never the tokens), scopes, host names,
/// and where to find the token this service presents to its peers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Hashes (`sha256:…`) of the operator's tokens; several while one is rotated.
    #[serde(default)]
    pub operator: Vec<TokenHash>,
    /// Peer services by name: `tokens` (hashes), optional `put` and `read` scopes.
    #[serde(default)]
    pub peers: BTreeMap<String, PeerAuth>,
    /// The `Host` names answered (default: the bind address and the loopback names, or any
    /// name when bound to all interfaces).
    pub allowed_hosts: Option<Vec<String>>,
    /// The token this service presents to its peers: `{ file = "PATH" }` or
    /// `{ env = "NAME" }`, so it need not sit in this file.
    pub token: Option<Secret>,
    /// A different token for some peers, by peer name.
    #[serde(default)]
    pub peer_tokens: BTreeMap<String, Secret>,
    /// A credentials file in the demo's format (as `--credentials`).
    pub credentials: Option<PathBuf>,
}

/// Where a secret is kept: in a file (its whole content, trimmed) or an environment variable.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

impl Secret {
    fn read(&self) -> Result<String, String> {
        let (value, whence) = match self {
            Secret::File(path) => (
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?,
                format!("the token file {}", path.display()),
            ),
            Secret::Env(name) => (
                std::env::var(name)
                    .map_err(|_| format!("the environment variable {name} holds no token"))?,
                format!("the environment variable {name}"),
            ),
        };
        let token = value.trim();
        if token.is_empty() {
            return Err(format!("{whence} is empty"));
        }
        Ok(token.to_owned())
    }
}

/// `[nats]`: where NATS links go.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    #[serde(default = "default_nats_url")]
    pub url: String,
    #[serde(default = "default_nats_stream")]
    pub stream: String,
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".into()
}

fn default_nats_stream() -> String {
    "CONCORD".into()
}

/// Everything one service needs, resolved.
#[derive(Debug)]
pub struct ServiceConfig {
    pub service: AnyService,
    pub listen: SocketAddr,
    /// A SQLite file, or a PostgreSQL URL and schema: the `store` string (flag or TOML) is
    /// read by [`StoreLocation::parse`], kept a string until then so a URL stays a URL.
    pub store: StoreLocation,
    pub links: Vec<LinkSpec>,
    pub acceptance: Option<AcceptancePolicy>,
    /// Set when any link goes over NATS.
    pub nats: Option<NatsConfig>,
    /// Serve HTTPS with these (plain HTTP without).
    pub tls: Option<TlsFiles>,
    /// A CA for https:// peers.
    pub tls_ca: Option<PathBuf>,
    /// What the service accepts at intake.
    pub limits: Limits,
    pub server: ServerLimits,
    pub writer_queue: usize,
    /// Who may call the service.
    pub auth: AuthConfig,
    /// The tokens it presents to its peers.
    pub credentials: LinkCredentials,
    /// Its signing key and the keys it trusts.
    pub signing: Signing,
}

/// The demo's address of a service: the base port plus its place in the paper's list.
pub fn demo_url(bind: IpAddr, base: u16, service: &str) -> String {
    let index = SERVICE_NAMES
        .iter()
        .position(|s| *s == service)
        .unwrap_or(0) as u16;
    let host = if bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bind
    };
    format!("http://{}", SocketAddr::new(host, base + index))
}

pub fn resolve(args: &ServeArgs) -> Result<ServiceConfig, String> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let name = args
        .service
        .clone()
        .or(file.service.clone())
        .ok_or("which service? give --service NAME (or `service` in the config file)")?;
    let service = AnyService::by_name(&name).ok_or_else(|| {
        format!(
            "unknown service {name:?}; the services are {}",
            SERVICE_NAMES.join(", ")
        )
    })?;
    let bind = args
        .bind
        .or(file.bind)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let index = SERVICE_NAMES.iter().position(|s| *s == name).unwrap_or(0) as u16;
    let port = args.port.or(file.port).unwrap_or(DEFAULT_BASE_PORT + index);
    let data = args
        .data
        .clone()
        .or(file.data.clone())
        .unwrap_or_else(|| PathBuf::from("./concord-data"));
    let store = match args.store.as_deref().or(file.store.as_deref()) {
        Some(text) => StoreLocation::parse(text, &name)?,
        None => StoreLocation::Sqlite(data.join(format!("{name}.db"))),
    };
    let interval = args
        .sync_interval_ms
        .or(file.sync_interval_ms)
        .unwrap_or(DEFAULT_INTERVAL_MS);
    if interval == 0 {
        return Err("--sync-interval-ms must be at least 1".into());
    }

    let mut peers = file.peers.clone();
    for peer in &args.peers {
        let (peer_name, url) = peer
            .split_once('=')
            .ok_or_else(|| format!("--peer takes NAME=URL, not {peer:?}"))?;
        peers.insert(peer_name.to_owned(), url.to_owned());
    }
    for peer in peers.keys() {
        if AnyService::by_name(peer).is_none() {
            return Err(format!(
                "unknown peer {peer:?}; the services are {}",
                SERVICE_NAMES.join(", ")
            ));
        }
    }
    let url_of = |peer: &str| {
        peers
            .get(peer)
            .cloned()
            .unwrap_or_else(|| demo_url(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_BASE_PORT, peer))
    };

    let mut nats = file.nats.clone();
    if let Some(url) = &args.nats_url {
        nats.get_or_insert_with(|| NatsConfig {
            url: url.clone(),
            stream: default_nats_stream(),
        })
        .url = url.clone();
    }
    if let Some(stream) = &args.nats_stream {
        nats.get_or_insert_with(|| NatsConfig {
            url: default_nats_url(),
            stream: stream.clone(),
        })
        .stream = stream.clone();
    }
    let links = if args.no_links {
        Vec::new()
    } else if let Some(links) = file.links {
        let mut links = links;
        for link in &mut links {
            if link.url.is_empty() {
                link.url = match (&link.transport, &nats) {
                    (concord_sync::TransportKind::Nats, Some(nats)) => nats.url.clone(),
                    (concord_sync::TransportKind::Nats, None) => default_nats_url(),
                    _ => url_of(&link.peer),
                };
            }
            link.validate()?;
        }
        let mut names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        names.sort_unstable();
        if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "two links are named {:?}; link names must be unique",
                twice[0]
            ));
        }
        links
    } else if args.transport.as_deref() == Some("nats") {
        // Over NATS a service's links depend on what every service publishes: convert the
        // whole paper topology, then take this service's part.
        let nats = nats.get_or_insert_with(|| NatsConfig {
            url: default_nats_url(),
            stream: default_nats_stream(),
        });
        nats_links(&name, &nats.url, |service| {
            paper_links(service, url_of, interval)
        })?
    } else {
        paper_links(&name, url_of, interval)
    };
    let nats = if links
        .iter()
        .any(|l| l.transport == concord_sync::TransportKind::Nats)
    {
        Some(nats.unwrap_or_else(|| NatsConfig {
            url: default_nats_url(),
            stream: default_nats_stream(),
        }))
    } else {
        None
    };

    let tls = match (
        args.tls_cert.clone().or(file.tls_cert),
        args.tls_key.clone().or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err("HTTPS needs both a certificate and its key (--tls-cert and --tls-key, or tls_cert and tls_key)".into()),
    };
    let (limits, server, writer_queue) = file.limits.unwrap_or_default().resolve()?;

    let (auth, credentials) = resolve_auth(&name, &file.auth, args, &links, interval)?;
    let signing = resolve_signing(&name, &file.signing, &file.auth, args)?;
    Ok(ServiceConfig {
        service,
        listen: SocketAddr::new(bind, port),
        store,
        links,
        acceptance: file.acceptance.map(AcceptancePolicy::new),
        nats,
        tls,
        tls_ca: args.tls_ca.clone().or(file.tls_ca),
        limits,
        server,
        writer_queue,
        auth,
        credentials,
        signing,
    })
}

/// The service's signing key and trusted keys: a credentials file's (`[signing.NAME]`
/// tables: its own key, trust in all), then the configuration's `[signing]`, which may
/// replace the key and adds trusted keys (several per source while one is rotated).
fn resolve_signing(
    name: &str,
    file: &SigningFile,
    auth: &AuthFile,
    args: &ServeArgs,
) -> Result<Signing, String> {
    let mut signing = match args.credentials.as_ref().or(auth.credentials.as_ref()) {
        Some(path) => Credentials::read(path)?.signing_for(name)?,
        None => Signing::default(),
    };
    match (&file.keyid, &file.private) {
        (Some(keyid), Some(private)) => {
            let signer = Signer::from_base64(keyid.clone(), &private.read()?)
                .map_err(|e| format!("[signing] private: {e}"))?;
            signing.signer = Some(Arc::new(signer));
        }
        (None, None) => {}
        _ => return Err("[signing] needs both keyid and private (a file or env)".into()),
    }
    let mut verifier = (*signing.verifier).clone();
    if let Some(signer) = &signing.signer {
        // Its own events come back to it (relayed): it must recognise them.
        if !verifier.keys(name).iter().any(|k| k.key == signer.public()) {
            verifier.trust(name, signer.public(), None);
        }
    }
    for entry in &file.trust {
        let key = PublicKey::from_base64(entry.keyid.clone(), &entry.public)
            .map_err(|e| format!("[[signing.trust]] {}: {e}", entry.keyid))?;
        let retired = match &entry.retired {
            Some(text) => Some(
                Timestamp::parse(text)
                    .map_err(|e| format!("[[signing.trust]] {} retired: {e}", entry.keyid))?,
            ),
            None => None,
        };
        verifier.trust(entry.source.clone(), key, retired);
    }
    signing.verifier = Arc::new(verifier);
    Ok(signing)
}

/// The principals of service `name` and the tokens it presents, from `--credentials` (or
/// `[auth] credentials`) and the `[auth]` table together. Peers read by default what their
/// links in the paper's topology pull from this service. Without any principal, or without a
/// token for an HTTP link's peer, the service would only ever refuse or be refused: an error
/// that says what to do.
fn resolve_auth(
    name: &str,
    file: &AuthFile,
    args: &ServeArgs,
    links: &[LinkSpec],
    interval: u64,
) -> Result<(AuthConfig, LinkCredentials), String> {
    let shared = match args.credentials.as_ref().or(file.credentials.as_ref()) {
        Some(path) => Some(Credentials::read(path)?),
        None => None,
    };
    let topology: Vec<(String, Vec<LinkSpec>)> = SERVICE_NAMES
        .iter()
        .map(|s| ((*s).to_owned(), paper_links(s, |_| String::new(), interval)))
        .collect();
    let read_scopes = concord_sync::read_scopes(&topology, name);
    let mut auth = match &shared {
        Some(credentials) => credentials.auth_for(name, &read_scopes),
        None => AuthConfig::default(),
    };
    auth.operator.extend(file.operator.iter().copied());
    for (peer, configured) in &file.peers {
        let entry = auth.peers.entry(peer.clone()).or_insert_with(|| PeerAuth {
            read: read_scopes.get(peer).cloned(),
            ..PeerAuth::default()
        });
        entry.tokens.extend(configured.tokens.iter().copied());
        if configured.put.is_some() {
            entry.put = configured.put.clone();
        }
        if configured.read.is_some() {
            entry.read = configured.read.clone();
        }
    }
    let mut hosts: Vec<String> = file.allowed_hosts.clone().unwrap_or_default();
    hosts.extend(args.allow_hosts.iter().cloned());
    if !hosts.is_empty() {
        auth.allowed_hosts = Some(AllowedHosts::only(&hosts));
    }
    if auth.has_no_principals() {
        return Err(format!(
            "{name} has no credentials, so it would refuse every request: give \
             --credentials FILE (a file like the demo's credentials.toml: operator = \"TOKEN\" \
             and [peers] NAME = \"TOKEN\"), or list token hashes in the configuration's [auth] \
             table (operator = [\"sha256:...\"]); `concord token` makes a token and its hash"
        ));
    }

    let presented = match &file.token {
        Some(secret) => Some(secret.read()?),
        None => shared
            .as_ref()
            .and_then(|c| c.token_of(name))
            .map(str::to_owned),
    };
    let mut credentials = match presented {
        Some(token) => LinkCredentials::token(token),
        None => LinkCredentials::default(),
    };
    for (peer, secret) in &file.peer_tokens {
        credentials = credentials.with_peer(peer.clone(), secret.read()?);
    }
    let http = concord_sync::TransportKind::Http;
    if let Some(link) = links
        .iter()
        .find(|l| l.transport == http && credentials.for_peer(&l.peer).is_none())
    {
        return Err(format!(
            "{name} has no token to present to {} (link {}): give --credentials FILE with a \
             token for {name} under [peers], or `token = {{ file = \"PATH\" }}` in [auth]",
            link.peer, link.name
        ));
    }
    Ok((auth, credentials))
}

#[cfg(feature = "nats")]
fn nats_links(
    service: &str,
    url: &str,
    http_links_of: impl Fn(&str) -> Vec<LinkSpec>,
) -> Result<Vec<LinkSpec>, String> {
    let topology: Vec<(String, Vec<LinkSpec>)> = SERVICE_NAMES
        .iter()
        .map(|s| ((*s).to_owned(), http_links_of(s)))
        .collect();
    Ok(concord_nats::over_nats(&topology, url)
        .into_iter()
        .find(|(name, _)| name == service)
        .map(|(_, links)| links)
        .unwrap_or_default())
}

#[cfg(not(feature = "nats"))]
fn nats_links(
    _: &str,
    _: &str,
    _: impl Fn(&str) -> Vec<LinkSpec>,
) -> Result<Vec<LinkSpec>, String> {
    Err("this concord was built without the `nats` feature".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A credentials file for the four services, made once per test run.
    fn shared_credentials() -> &'static (std::path::PathBuf, Credentials) {
        static SHARED: std::sync::OnceLock<(std::path::PathBuf, Credentials)> =
            std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            let path = dir.join("credentials.toml");
            let credentials = Credentials::generate(&SERVICE_NAMES);
            credentials.create(&path).unwrap();
            (path, credentials)
        })
    }

    /// `concord serve EXTRA… --credentials SHARED`.
    fn args(extra: &[&str]) -> ServeArgs {
        let path = shared_credentials().0.display().to_string();
        let mut all: Vec<&str> = extra.to_vec();
        all.extend(["--credentials", &path]);
        bare_args(&all)
    }

    fn bare_args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["concord", "serve"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Serve(args) => args,
            _ => unreachable!(),
        }
    }

    fn with_file(toml: &str, extra: &[&str]) -> Result<ServiceConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("concord.toml");
        std::fs::write(&path, toml).unwrap();
        let mut all = vec!["--config", path.to_str().unwrap()];
        all.extend_from_slice(extra);
        resolve(&args(&all))
    }

    #[test]
    fn defaults_follow_the_demo_layout() {
        let config = resolve(&args(&["--service", "theory-group"])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7072");
        assert_eq!(
            config.store,
            StoreLocation::Sqlite(PathBuf::from("./concord-data/theory-group.db"))
        );
        assert_eq!(config.links.len(), 4);
        assert_eq!(config.links[0].url, "http://127.0.0.1:7070");
        assert!(config.acceptance.is_none());
    }

    #[test]
    fn signing_comes_from_the_credentials_file_and_the_signing_table() {
        // From the shared credentials file alone: its own key, trust in all four.
        let config = resolve(&args(&["--service", "se-group"])).unwrap();
        let signer = config.signing.signer.clone().unwrap();
        assert_eq!(signer.keyid(), "se-group/v1");
        for service in SERVICE_NAMES {
            assert!(config.signing.verifier.signs(service), "{service}");
        }
        // A new key from a file, and a rotated key of a peer with its retirement.
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("se-group.key");
        let new = concord_http::keys::generate_signer("se-group/v2");
        std::fs::write(&key, new.private_base64()).unwrap();
        let theory = concord_http::keys::generate_signer("theory-group/v2");
        let config = with_file(
            &format!(
                "service = \"se-group\"\n[signing]\nkeyid = \"se-group/v2\"\n\
                 private = {{ file = {:?} }}\n[[signing.trust]]\nsource = \"theory-group\"\n\
                 keyid = \"theory-group/v2\"\npublic = \"{}\"\n\
                 retired = \"2026-12-01T00:00:00Z\"\n",
                key.display().to_string(),
                theory.public().to_base64()
            ),
            &[],
        )
        .unwrap();
        assert_eq!(
            config.signing.signer.as_ref().unwrap().public(),
            new.public()
        );
        let own = config.signing.verifier.keys("se-group");
        assert!(
            own.iter().any(|k| k.key == new.public()),
            "trusts its own new key"
        );
        let keys = config.signing.verifier.keys("theory-group");
        assert_eq!(keys.len(), 2, "the file's v1 and the configured v2");
        assert_eq!(
            keys[1].retired,
            Some(Timestamp::parse("2026-12-01T00:00:00Z").unwrap())
        );
        // Half a key is an error, and a private key is never inline.
        assert!(with_file("service = \"se-group\"\n[signing]\nkeyid = \"k\"\n", &[]).is_err());
        assert!(with_file(
            "service = \"se-group\"\n[signing]\nkeyid = \"k\"\nprivate = \"AAAA\"\n",
            &[]
        )
        .is_err());
    }

    #[test]
    fn a_file_configures_and_flags_override() {
        let config = with_file(
            r#"
service = "se-group"
port = 9001
sync_interval_ms = 250
[peers]
students-office = "http://10.0.0.5:8000"

[[links]]
name = "enrollments"
peer = "students-office"
direction = "pull"
types = ["studentEnrolled"]
filter = ["group=se-group"]

[[acceptance]]
source = "students-office"
type = "studentEnrolled"
data = ["group=se-group"]
"#,
            &["--port", "9100"],
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9100, "a flag beats the file");
        assert_eq!(config.links.len(), 1);
        assert_eq!(config.links[0].url, "http://10.0.0.5:8000");
        assert_eq!(config.links[0].filter[0].to_string(), "data.group=se-group");
        assert_eq!(config.acceptance.unwrap().rules.len(), 1);
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_postgres_url_picks_a_schema_per_service() {
        let url = "postgres://postgres@127.0.0.1:5432/test";
        let config = resolve(&args(&["--service", "se-group", "--store", url])).unwrap();
        assert_eq!(
            config.store,
            StoreLocation::Postgres {
                url: url.into(),
                schema: "se_group".into()
            }
        );
        let config = with_file(
            "service = \"ta-pool\"\nstore = \"postgresql://db/events?schema=pool_a\"\n",
            &[],
        )
        .unwrap();
        assert!(
            matches!(&config.store, StoreLocation::Postgres { schema, .. } if schema == "pool_a"),
            "{:?}",
            config.store
        );
        let flag_wins = with_file(
            "service = \"ta-pool\"\nstore = \"postgres://db/events\"\n",
            &["--store", "elsewhere.db"],
        )
        .unwrap();
        assert_eq!(
            flag_wins.store,
            StoreLocation::Sqlite(PathBuf::from("elsewhere.db"))
        );
        let bad = resolve(&args(&[
            "--service",
            "se-group",
            "--store",
            "postgres://db/e?schema=A-B",
        ]))
        .unwrap_err();
        assert!(bad.contains("schema name"), "{bad}");
    }

    #[test]
    fn tls_and_limits_come_from_the_file_and_flags() {
        let config = resolve(&args(&["--service", "se-group"])).unwrap();
        assert_eq!(config.tls, None);
        assert_eq!(config.server, ServerLimits::default());
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.writer_queue, DEFAULT_QUEUE_CAPACITY);

        let config = with_file(
            r#"
service = "se-group"
tls_cert = "/etc/concord/cert.pem"
tls_key = "/etc/concord/key.pem"
tls_ca = "/etc/concord/ca.pem"
[limits]
max_connections = 300
header_timeout_ms = 2500
body_budget_mib = 32
writer_queue = 50
max_depth = 16
max_skew_ms = 60000
"#,
            &["--tls-ca", "private-ca.pem"],
        )
        .unwrap();
        assert_eq!(
            config.tls,
            Some(TlsFiles {
                cert: "/etc/concord/cert.pem".into(),
                key: "/etc/concord/key.pem".into()
            })
        );
        assert_eq!(
            config.tls_ca,
            Some(PathBuf::from("private-ca.pem")),
            "a flag beats the file"
        );
        assert_eq!(config.server.max_connections, 300);
        assert_eq!(config.server.header_timeout, Duration::from_millis(2500));
        assert_eq!(config.server.body_budget, 32 << 20);
        assert_eq!(
            config.server.request_timeout,
            ServerLimits::default().request_timeout
        );
        assert_eq!(config.writer_queue, 50);
        assert_eq!(
            (config.limits.max_depth, config.limits.max_skew_ms),
            (16, 60_000)
        );
        assert_eq!(
            config.limits.max_id_bytes, 256,
            "the rest stay the contract's"
        );
        let zero = with_file("service = \"se-group\"\n[limits]\nmax_depth = 0\n", &[]);
        assert!(zero.unwrap_err().contains("max_depth"));

        let flags = resolve(&args(&[
            "--service",
            "se-group",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ]))
        .unwrap();
        assert_eq!(flags.tls.unwrap().key, PathBuf::from("k.pem"));
    }

    #[test]
    fn mistakes_are_named() {
        let half = with_file("service = \"se-group\"\ntls_cert = \"c.pem\"\n", &[]).unwrap_err();
        assert!(half.contains("--tls-key"), "{half}");
        let zero =
            with_file("service = \"se-group\"\n[limits]\nmax_requests = 0\n", &[]).unwrap_err();
        assert!(zero.contains("max_requests"), "{zero}");
        let typo = with_file(
            "service = \"se-group\"\n[limits]\nheader_timeout = 5\n",
            &[],
        )
        .unwrap_err();
        assert!(typo.contains("header_timeout"), "{typo}");
        assert!(resolve(&args(&[])).unwrap_err().contains("--service"));
        assert!(resolve(&args(&["--service", "registrar"]))
            .unwrap_err()
            .contains("unknown service"));
        assert!(resolve(&args(&["--service", "se-group", "--peer", "x"]))
            .unwrap_err()
            .contains("NAME=URL"));
        let unknown_key = with_file("service = \"se-group\"\nprot = 1\n", &[]).unwrap_err();
        assert!(unknown_key.contains("prot"), "{unknown_key}");
        let twice = with_file(
            "service = \"se-group\"\n[[links]]\nname=\"a\"\npeer=\"ta-pool\"\ndirection=\"pull\"\n[[links]]\nname=\"a\"\npeer=\"ta-pool\"\ndirection=\"push\"\n",
            &[],
        )
        .unwrap_err();
        assert!(twice.contains("unique"), "{twice}");
    }

    fn with_auth(toml: &str, extra: &[&str]) -> Result<ServiceConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("concord.toml");
        std::fs::write(&path, toml).unwrap();
        let mut all = vec!["--config", path.to_str().unwrap()];
        all.extend_from_slice(extra);
        resolve(&bare_args(&all))
    }

    #[test]
    fn without_credentials_serve_refuses_and_says_how() {
        let error = resolve(&bare_args(&["--service", "ta-pool"])).unwrap_err();
        for hint in ["--credentials", "concord token", "[auth]"] {
            assert!(error.contains(hint), "{error}");
        }
        let error = with_auth(
            "service = \"se-group\"\n[auth]\noperator = [\"concord_abc\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(
            error.contains("not its hash"),
            "a token where a hash belongs: {error}"
        );
    }

    #[test]
    fn the_shared_file_admits_the_operator_and_the_other_services() {
        let (_, credentials) = shared_credentials();
        let config = resolve(&args(&["--service", "students-office"])).unwrap();
        assert_eq!(
            config.auth.operator,
            vec![TokenHash::of(&credentials.operator)]
        );
        let peers: Vec<&String> = config.auth.peers.keys().collect();
        assert_eq!(peers, ["se-group", "ta-pool", "theory-group"]);
        // Each group reads what its pull link asks the office for: its own enrollments.
        let theory = config.auth.peers["theory-group"].read.clone().unwrap();
        assert_eq!(
            theory.to_string(),
            "type studentEnrolled from any where data.group=theory-group"
        );
        assert_eq!(config.auth.peers["ta-pool"].read, None, "it pulls nothing");
        assert_eq!(
            config.auth.peers["se-group"].put, None,
            "the acceptance default"
        );
        assert_eq!(
            config.credentials.for_peer("ta-pool"),
            credentials.token_of("students-office")
        );
    }

    #[test]
    fn the_auth_table_configures_hashes_scopes_hosts_and_the_presented_token() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("se-group.token");
        std::fs::write(&token_file, "concord_from-a-file\n").unwrap();
        std::env::set_var("CONCORD_TEST_POOL_TOKEN", "concord_from-env");
        let operator = TokenHash::of("concord_op");
        let toml = format!(
            r#"
service = "se-group"
[auth]
operator = ["{operator}", "{rotated}"]
allowed_hosts = ["concord.example"]
token = {{ file = "{file}" }}
[auth.peer_tokens]
ta-pool = {{ env = "CONCORD_TEST_POOL_TOKEN" }}
[auth.peers.students-office]
tokens = ["{office}"]
[auth.peers.ta-pool]
tokens = ["{pool}"]
read = [{{ types = ["studentHired"], sources = ["se-group"] }}]
"#,
            rotated = TokenHash::of("concord_op2"),
            file = token_file.display(),
            office = TokenHash::of("concord_office"),
            pool = TokenHash::of("concord_pool"),
        );
        let config = with_auth(&toml, &["--allow-host", "10.0.0.9"]).unwrap();
        assert_eq!(config.auth.operator.len(), 2, "two tokens while rotating");
        assert_eq!(
            config.auth.peers["ta-pool"]
                .read
                .as_ref()
                .unwrap()
                .to_string(),
            "type studentHired from se-group",
            "a configured scope replaces the default"
        );
        assert!(
            config.auth.peers["students-office"].read.is_none(),
            "the office pulls nothing from a group"
        );
        let hosts = config.auth.allowed_hosts.clone().unwrap();
        assert!(hosts.allows("concord.example") && hosts.allows("10.0.0.9:7071"));
        assert!(
            !hosts.allows("localhost"),
            "configured names replace the defaults"
        );
        assert_eq!(
            config.credentials.for_peer("students-office"),
            Some("concord_from-a-file")
        );
        assert_eq!(
            config.credentials.for_peer("ta-pool"),
            Some("concord_from-env")
        );

        let missing = with_auth(
            &toml.replace(&token_file.display().to_string(), "/nonexistent/token"),
            &[],
        )
        .unwrap_err();
        assert!(missing.contains("/nonexistent/token"), "{missing}");
    }

    #[test]
    fn links_need_a_token_to_present() {
        let toml = format!(
            "service = \"se-group\"\n[auth]\noperator = [\"{}\"]\n",
            TokenHash::of("concord_op")
        );
        let error = with_auth(&toml, &[]).unwrap_err();
        assert!(
            error.contains("no token to present to students-office"),
            "{error}"
        );
        assert!(
            with_auth(&toml, &["--no-links"]).is_ok(),
            "without links none is needed"
        );
    }
}
