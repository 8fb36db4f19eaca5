//! Tokens of a deployment, as a credentials file holds them (CONTRACT §6).

use std::io;
use std::path::Path;
use std::path::PathBuf;

use super::*;

/// A deployment's tokens, as in a credentials file (CONTRACT §6).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub path: PathBuf,
    pub operator: String,
    pub peers: std::collections::BTreeMap<String, String>,
}

impl Credentials {
    pub fn read(path: &Path) -> io::Result<Credentials> {
        let text = std::fs::read_to_string(path)?;
        let value: toml::Value = toml::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let operator = value["operator"].as_str().unwrap_or_default().to_owned();
        let peers = value
            .get("peers")
            .and_then(toml::Value::as_table)
            .map(|table| {
                table
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Credentials {
            path: path.to_owned(),
            operator,
            peers,
        })
    }

    /// Fresh tokens for the operator and the four services, written to `path` (mode 0600).
    pub fn write_new(path: &Path) -> Credentials {
        use concord_http::auth::generate_token;
        let credentials = Credentials {
            path: path.to_owned(),
            operator: generate_token(),
            peers: SERVICES
                .iter()
                .map(|s| (s.to_string(), generate_token()))
                .collect(),
        };
        credentials.write();
        credentials
    }

    /// Writes the file (replacing it), mode 0600.
    pub fn write(&self) {
        let mut text = format!("operator = \"{}\"\n[peers]\n", self.operator);
        for (name, token) in &self.peers {
            text.push_str(&format!("{name} = \"{token}\"\n"));
        }
        std::fs::write(&self.path, text).expect("write a credentials file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 600");
        }
    }

    pub fn peer(&self, service: &str) -> &str {
        &self.peers[service]
    }
}

/// The credentials every `serve` process of this test binary shares (one deployment).
pub fn shared_credentials() -> &'static Credentials {
    static SHARED: std::sync::OnceLock<Credentials> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("e2e-credentials-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder for the test credentials");
        Credentials::write_new(&dir.join("credentials.toml"))
    })
}
