//! `scholarship-office`: the example service as a process of its own beside a running
//! `concord demo`. It only wires: a SQLite store, the demo's credentials (tokens and signing
//! keys), one pull link, and `concord_node::serve` (which runs it until Ctrl-C or SIGTERM).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use concord_core::sign::{PublicKey, Signer, Signing, Verifier};
use concord_node::auth::TokenHash;
use concord_node::{AuthConfig, LinkCredentials, NodeOptions, StartOptions};
use concord_sqlite::SqliteStore;
use scholarship::ScholarshipOffice;

/// The scholarship office: pulls grades from a Concord demo's students-office and awards
/// scholarships.
#[derive(Parser)]
struct Args {
    /// Where to serve its API and page.
    #[arg(long, default_value = "127.0.0.1:7074")]
    listen: SocketAddr,
    /// The students-office's base URL.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    office: String,
    /// The demo's credentials file: its operator may call this service, and its token is
    /// what this service presents to the students-office.
    #[arg(long, default_value = "concord-data/credentials.toml")]
    credentials: PathBuf,
    /// The service's event store (a SQLite file, created if missing).
    #[arg(long, default_value = "scholarship-data/scholarship-office.db")]
    store: PathBuf,
    /// How often the link looks for new grades.
    #[arg(long, default_value_t = 1000)]
    sync_interval_ms: u64,
}

/// The part of the demo's credentials file this service reads: the operator's token, and
/// the services' signing keys (`[signing.NAME]`: `keyid`, `public`, `private`).
#[derive(serde::Deserialize)]
struct Credentials {
    operator: String,
    #[serde(default)]
    signing: BTreeMap<String, Keys>,
}

#[derive(serde::Deserialize)]
struct Keys {
    keyid: String,
    public: String,
    /// Read only from our own table: another service's key pair is trusted by its public half.
    #[serde(default)]
    private: Option<String>,
}

impl Credentials {
    /// Trust in every service's public key (the demo's services sign what they raise, and a
    /// signed event is taken only with its source's key); our own key, if the file has one
    /// (`concord token --signing scholarship-office` makes one), to sign our awards.
    fn signing(&self) -> Result<Signing, String> {
        let mut verifier = Verifier::new();
        for (service, keys) in &self.signing {
            let public = PublicKey::from_base64(&keys.keyid, &keys.public)
                .map_err(|e| format!("signing.{service}: {e}"))?;
            verifier.trust(service.clone(), public, None);
        }
        let signer = match self.signing.get(scholarship::NAME) {
            Some(Keys {
                keyid,
                private: Some(private),
                ..
            }) => Some(Arc::new(
                Signer::from_base64(keyid, private).map_err(|e| e.to_string())?,
            )),
            Some(_) => return Err(format!("signing.{}: no private key", scholarship::NAME)),
            None => None,
        };
        Ok(Signing {
            signer,
            verifier: Arc::new(verifier),
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("scholarship-office: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    // The framework logs with `tracing` (a link's errors, the service stopping): to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let text = std::fs::read_to_string(&args.credentials)
        .map_err(|e| format!("cannot read {}: {e}", args.credentials.display()))?;
    let credentials: Credentials =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", args.credentials.display()))?;
    if let Some(folder) = args.store.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    }
    let store = SqliteStore::open(&args.store).map_err(|e| e.to_string())?;
    let options = NodeOptions {
        listen: args.listen,
        links: scholarship::links(&args.office, args.sync_interval_ms),
        credentials: LinkCredentials::token(&credentials.operator),
        auth: AuthConfig::default().with_operator(TokenHash::of(&credentials.operator)),
        service: StartOptions {
            signing: credentials
                .signing()
                .map_err(|e| format!("{}: {e}", args.credentials.display()))?,
            ..StartOptions::default()
        },
        ..NodeOptions::default()
    };
    concord_node::serve(ScholarshipOffice, Arc::new(store), options)
        .await
        .map_err(|e| e.to_string())
}
