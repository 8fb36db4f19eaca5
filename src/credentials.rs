//! A deployment's credentials file, as `concord demo` keeps it in
//! `DIR/credentials.toml` and `concord serve --credentials FILE` reads it:
//!
//! ```toml
//! operator = "TOKEN"            # the operator of every service
//! [peers]                       # the token each service presents to the others
//! students-office = "TOKEN"
//! se-group = "TOKEN"
//! ```
//!
//! It holds tokens, not hashes, so that the processes of one deployment can share it: each
//! service derives the hashes it checks in memory. The file is created with mode 0600 and
//! never rewritten: other tables (issue 14 adds `[signing.NAME]`) are read past and kept.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use concord_http::auth::{generate_token, PeerAuth, TokenHash};
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
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Fresh tokens for the operator and each of `services`.
    pub fn generate(services: &[&str]) -> Credentials {
        Credentials {
            operator: generate_token(),
            peers: services
                .iter()
                .map(|s| ((*s).to_owned(), generate_token()))
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

    /// The token `service` presents to its peers.
    pub fn token_of(&self, service: &str) -> Option<&str> {
        self.peers.get(service).map(String::as_str)
    }
}

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
    }

    #[test]
    fn other_tables_are_read_past_and_never_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let text =
            "operator = \"concord_op\"\n[peers]\noffice = \"concord_o\"\ngroup = \"concord_g\"\n\
                    [signing.office]\nkeyid = \"k1\"\npublic = \"AAAA\"\nprivate = \"BBBB\"\n";
        std::fs::write(&path, text).unwrap();
        let (credentials, created) = Credentials::demo(dir.path(), &SERVICES).unwrap();
        assert!(!created);
        assert_eq!(credentials.token_of("group"), Some("concord_g"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
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
