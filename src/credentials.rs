//! A deployment's credentials file, as `concord demo` keeps it in
//! `DIR/credentials.toml` and `concord serve --credentials FILE` reads it:
//!
//! ```toml
//! operator = "TOKEN"            # the operator of every service
//! [peers]                       # the token each service presents to the others
//! students-office = "TOKEN"
//! se-group = "TOKEN"
//! [signing.se-group]            # each service's Ed25519 key (issue 14, signed events)
//! keyid = "se-group/v1"
//! public = "BASE64"             # 32 bytes, standard Base64
//! private = "BASE64"            # the 32-byte seed
//! ```
//!
//! It holds tokens, not hashes, so that the processes of one deployment can share it: each
//! service derives the hashes it checks in memory. The file is created with mode 0600 and
//! never rewritten; a demo folder made before signing existed gets its `[signing.NAME]`
//! tables appended, the rest of the file untouched. Every service of the file signs with
//! its own key and trusts the public keys of all of them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use std::sync::Arc;

use concord_core::sign::{PublicKey, Signer, Signing, Verifier};
use concord_http::auth::{generate_token, PeerAuth, TokenHash};
use concord_http::keys::generate_signer;
use concord_http::AuthConfig;
use serde::Deserialize;

/// The file's name in a demo's data folder.
pub const FILE_NAME: &str = "credentials.toml";

/// The tokens of one deployment.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    pub operator: String,
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
    /// Each service's signing key, by service name.
    #[serde(default)]
    pub signing: BTreeMap<String, SigningKeys>,
}

/// One service's key pair as the file keeps it (`[signing.NAME]`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeys {
    pub keyid: String,
    pub public: String,
    pub private: String,
}

impl SigningKeys {
    fn of(signer: &Signer) -> Self {
        SigningKeys {
            keyid: signer.keyid().to_owned(),
            public: signer.public().to_base64(),
            private: signer.private_base64(),
        }
    }

    /// The signer, checking that the public key is the private key's.
    pub fn signer(&self) -> Result<Signer, String> {
        let signer = Signer::from_base64(&self.keyid, &self.private).map_err(|e| e.to_string())?;
        let public =
            PublicKey::from_base64(&self.keyid, &self.public).map_err(|e| e.to_string())?;
        if signer.public() != public {
            return Err(format!(
                "the public key of {} is not the private key's",
                self.keyid
            ));
        }
        Ok(signer)
    }

    /// The `[signing.NAME]` table.
    fn toml(&self, name: &str) -> String {
        format!(
            "\n[signing.{}]\nkeyid = \"{}\"\npublic = \"{}\"\nprivate = \"{}\"\n",
            toml_key(name),
            self.keyid,
            self.public,
            self.private
        )
    }
}
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .field("signing", &self.signing.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Fresh tokens for the operator and each of `services`, and a signing key for each.
    pub fn generate(services: &[&str]) -> Credentials {
        Credentials {
            operator: generate_token(),
            peers: services
                .iter()
                .map(|s| ((*s).to_owned(), generate_token()))
                .collect(),
            signing: services
                .iter()
                .map(|s| {
                    (
                        (*s).to_owned(),
                        SigningKeys::of(&generate_signer(format!("{s}/v1"))),
                    )
                })
                .collect(),
        }
    }

    /// Reads a credentials file (other tables in it are ignored).
    pub fn read(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let credentials: Credentials =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let blank = |token: &str| token.trim().is_empty();
        if blank(&credentials.operator) {
            return Err(format!("{}: operator has no token", path.display()));
        }
        if let Some((name, _)) = credentials.peers.iter().find(|(_, t)| blank(t)) {
            return Err(format!("{}: peers.{name} has no token", path.display()));
        }
        for (name, keys) in &credentials.signing {
            keys.signer()
                .map_err(|e| format!("{}: signing.{name}: {e}", path.display()))?;
        }
        warn_if_readable_by_others(path);
        Ok(credentials)
    }

    /// The demo's file in `dir`: read if it exists (it must name every one of `services`),
    /// else created with fresh tokens, mode 0600. Whether it was created.
    pub fn demo(dir: &Path, services: &[&str]) -> Result<(Credentials, bool), String> {
        let path = dir.join(FILE_NAME);
        if path.exists() {
            let credentials = Credentials::read(&path)?;
            if let Some(missing) = services
                .iter()
                .find(|s| !credentials.peers.contains_key(**s))
            {
                return Err(format!(
                    "{} has no token for {missing} under [peers]: add one (`concord token` makes \
                     one) or move the file away to have new credentials made",
                    path.display()
                ));
            }
            let credentials = credentials.add_signing_keys(&path, services)?;
            return Ok((credentials, false));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let credentials = Credentials::generate(services);
        credentials.create(&path)?;
        Ok((credentials, true))
    }

    /// Writes a new file at `path` (refusing to replace one), readable by its owner only.
    pub fn create(&self, path: &Path) -> Result<(), String> {
        let mut text = String::from(
            "# Concord credentials: the operator's token (GUI login, scripts) and the token each\n\
             # service presents to the others. Keep this file private (mode 0600).\n",
        );
        text.push_str(&format!("operator = \"{}\"\n\n[peers]\n", self.operator));
        for (name, token) in &self.peers {
            text.push_str(&format!("{} = \"{token}\"\n", toml_key(name)));
        }
        if !self.signing.is_empty() {
            text.push_str(SIGNING_HEADER);
        }
        for (name, keys) in &self.signing {
            text.push_str(&keys.toml(name));
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// What `service` admits: the operator, and every other service of the file as a peer
    /// with its default scopes (`read_scopes` gives each peer's; absent: nothing).
    pub fn auth_for(
        &self,
        service: &str,
        read_scopes: &BTreeMap<String, concord_core::Scope>,
    ) -> AuthConfig {
        let mut config = AuthConfig::default().with_operator(TokenHash::of(&self.operator));
        for (peer, token) in self.peers.iter().filter(|(p, _)| *p != service) {
            let mut auth = PeerAuth::new([TokenHash::of(token)]);
            auth.read = read_scopes.get(peer).cloned();
            config = config.with_peer(peer.clone(), auth);
        }
        config
    }

    /// A file made before signing existed: appends a fresh key for each of `services` that
    /// has none (the tables before stay as they were).
    fn add_signing_keys(mut self, path: &Path, services: &[&str]) -> Result<Credentials, String> {
        let missing: Vec<&str> = services
            .iter()
            .copied()
            .filter(|s| !self.signing.contains_key(*s))
            .collect();
        if missing.is_empty() {
            return Ok(self);
        }
        let mut text = String::from(SIGNING_HEADER);
        for service in missing {
            let keys = SigningKeys::of(&generate_signer(format!("{service}/v1")));
            text.push_str(&keys.toml(service));
            self.signing.insert(service.to_owned(), keys);
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(self)
    }

    /// How `service` signs and verifies: its own key from the file (if the file has one),
    /// and trust in every key of the file for the service it belongs to.
    pub fn signing_for(&self, service: &str) -> Result<Signing, String> {
        let mut verifier = Verifier::new();
        let mut signer = None;
        for (name, keys) in &self.signing {
            let key = keys.signer()?;
            verifier.trust(name.clone(), key.public(), None);
            if name == service {
                signer = Some(Arc::new(key));
            }
        }
        Ok(Signing {
            signer,
            verifier: Arc::new(verifier),
        })
    }

    /// The token `service` presents to its peers.
    pub fn token_of(&self, service: &str) -> Option<&str> {
        self.peers.get(service).map(String::as_str)
    }
}

const SIGNING_HEADER: &str =
    "\n# Each service's Ed25519 signing key (signed events): `private` never leaves it;\n\
     # `public` is what its peers trust (also served at GET /api/keys).\n";

/// A bare TOML key when it can be one, else quoted.
fn toml_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the credentials file can be read by other users; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: [&str; 2] = ["office", "group"];

    #[test]
    fn the_demo_file_is_made_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = Credentials::demo(dir.path(), &SERVICES).unwrap();
        assert!(created);
        let (again, created) = Credentials::demo(dir.path(), &SERVICES).unwrap();
        assert!(!created);
        assert_eq!(again.operator, first.operator);
        assert_eq!(again.peers, first.peers);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let shown = format!("{first:?}");
        assert!(!shown.contains(&first.operator), "{shown}");
        assert!(!shown.contains(&first.signing["office"].private), "{shown}");
        assert_eq!(again.signing["group"].public, first.signing["group"].public);
        // Each service signs with its own key and trusts both.
        let signing = again.signing_for("office").unwrap();
        assert_eq!(signing.signer.unwrap().keyid(), "office/v1");
        assert!(signing.verifier.signs("office") && signing.verifier.signs("group"));
    }

    #[test]
    fn other_tables_are_read_past_and_never_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let office = SigningKeys::of(&generate_signer("office/v1"));
        let text = format!(
            "operator = \"concord_op\"\n[peers]\noffice = \"concord_o\"\ngroup = \"concord_g\"\n\
             [other]\nkept = true\n{}",
            office.toml("office")
        );
        std::fs::write(&path, &text).unwrap();
        let (credentials, created) = Credentials::demo(dir.path(), &SERVICES).unwrap();
        assert!(!created);
        assert_eq!(credentials.token_of("group"), Some("concord_g"));
        // The missing key is appended; everything before stays byte for byte.
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.starts_with(&text), "{after}");
        assert!(
            after.contains("[signing.group]\nkeyid = \"group/v1\""),
            "{after}"
        );
        let (again, _) = Credentials::demo(dir.path(), &SERVICES).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            after,
            "reused, not re-made"
        );
        assert_eq!(again.signing["office"].public, office.public);
        assert_eq!(
            again.signing["group"].public,
            credentials.signing["group"].public
        );
    }

    #[test]
    fn a_file_lacking_a_service_or_a_token_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "operator = \"concord_op\"\n[peers]\noffice = \"concord_o\"\n",
        )
        .unwrap();
        let error = Credentials::demo(dir.path(), &SERVICES).unwrap_err();
        assert!(error.contains("no token for group"), "{error}");
        std::fs::write(&path, "operator = \" \"\n").unwrap();
        assert!(Credentials::read(&path).unwrap_err().contains("operator"));
        std::fs::write(
            &path,
            "operator = \"concord_op\"\n[signing.office]\nkeyid = \"k\"\npublic = \"AAAA\"\nprivate = \"BBBB\"\n",
        )
        .unwrap();
        assert!(Credentials::read(&path)
            .unwrap_err()
            .contains("signing.office"));
        assert!(Credentials::read(&dir.path().join("missing.toml")).is_err());
    }

    #[test]
    fn a_service_admits_the_operator_and_the_others() {
        let credentials = Credentials::generate(&SERVICES);
        let scopes = BTreeMap::from([("group".to_owned(), concord_core::Scope::everything())]);
        let auth = credentials.auth_for("office", &scopes);
        assert_eq!(auth.operator, vec![TokenHash::of(&credentials.operator)]);
        assert_eq!(
            auth.peers.keys().collect::<Vec<_>>(),
            ["group"],
            "not itself"
        );
        assert_eq!(
            auth.peers["group"].tokens,
            vec![TokenHash::of(credentials.token_of("group").unwrap())]
        );
        assert_eq!(
            auth.peers["group"].read,
            Some(concord_core::Scope::everything())
        );
        assert_eq!(
            credentials.auth_for("group", &scopes).peers["office"].read,
            None
        );
    }
}
