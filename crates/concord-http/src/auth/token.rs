//! Tokens and their hashes: what a caller presents, and what a configuration keeps instead.
//!
//! A token is 32 random bytes from the operating system, printed as `concord_` and 43
//! base64url characters (the prefix lets secret scanners and people recognise one). A
//! configuration never holds a token, only its SHA-256, written `sha256:<64 hex digits>`.
//! Checking a presented token hashes it once and compares the hash with *every* configured
//! hash in constant time, without stopping at a match, so neither the comparison nor the
//! position of the match shows in the time taken.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// What every generated token starts with.
pub const TOKEN_PREFIX: &str = "concord_";

/// Random bytes in a token (256 bits: guessing is hopeless, so no rate limit is needed).
const TOKEN_BYTES: usize = 32;

/// The SHA-256 of a token: what a configuration lists for a principal.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of `token` as presented (surrounding whitespace is not part of a token).
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.trim().as_bytes()).into())
    }

    fn ct_eq(&self, other: &TokenHash) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Only the start, so a hash in a log line or a panic cannot be mistaken for a whole one.
impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.to_string();
        write!(f, "{}…", &full[..15])
    }
}

/// Why a configured hash cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("a token hash is written sha256:<64 hex digits>; found {0:?} (run `concord token` to make one)")]
    Malformed(String),
    #[error("this looks like a token, not its hash: a configuration lists hashes (`concord token --hash` prints the hash of a token)")]
    TokenNotHash,
}

impl FromStr for TokenHash {
    type Err = HashError;

    fn from_str(text: &str) -> Result<Self, HashError> {
        let text = text.trim();
        if text.starts_with(TOKEN_PREFIX) {
            return Err(HashError::TokenNotHash);
        }
        let malformed = || {
            let shown: String = text.chars().take(20).collect();
            HashError::Malformed(shown)
        };
        let hex = text.strip_prefix("sha256:").ok_or_else(malformed)?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| malformed())?;
        }
        Ok(TokenHash(bytes))
    }
}

impl<'de> serde::Deserialize<'de> for TokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for TokenHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A fresh random token, e.g. `concord_3q2-…` (51 characters).
///
/// # Panics
///
/// If the operating system has no randomness to give: nothing safe could be done without it.
pub fn generate_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes())
    )
}

/// 32 bytes from the operating system's generator (also the session ids of the GUI).
pub(crate) fn random_bytes() -> [u8; TOKEN_BYTES] {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

/// Finds which of several owners a presented token belongs to.
#[derive(Clone, Debug)]
pub(crate) struct Verifier<T> {
    entries: Vec<(TokenHash, T)>,
}

impl<T: Clone> Verifier<T> {
    pub fn new(entries: Vec<(TokenHash, T)>) -> Self {
        Verifier { entries }
    }

    /// The owner of `token`, if any. Every configured hash is compared, in constant time.
    pub fn verify(&self, token: &str) -> Option<T> {
        let presented = TokenHash::of(token);
        // 0 means "no match"; entry i is i + 1. A u32 index can be selected in constant time.
        let mut found: u32 = 0;
        for (i, (hash, _)) in self.entries.iter().enumerate() {
            let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
            found.conditional_assign(&index, presented.ct_eq(hash));
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.entries.get(index).map(|(_, owner)| owner.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_prefixed_and_url_safe() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert!(a[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn a_hash_round_trips_through_its_text() {
        let hash = TokenHash::of("concord_abc");
        let text = hash.to_string();
        assert!(text.starts_with("sha256:") && text.len() == 7 + 64);
        assert_eq!(text.parse::<TokenHash>().unwrap(), hash);
        assert_eq!(
            format!("{}", TokenHash::of("abc")),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "the SHA-256 test vector of FIPS 180-2"
        );
        assert_eq!(TokenHash::of(" abc\n"), TokenHash::of("abc"));
        assert!(
            !format!("{hash:?}").contains(&text[20..]),
            "Debug shows only a prefix"
        );
    }

    #[test]
    fn malformed_hashes_are_refused_with_a_hint() {
        for bad in [
            "",
            "sha256:",
            "md5:00",
            "sha256:xyz",
            &format!("sha256:{}", "0".repeat(63)),
        ] {
            assert!(
                matches!(bad.parse::<TokenHash>(), Err(HashError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(
            generate_token().parse::<TokenHash>(),
            Err(HashError::TokenNotHash)
        );
        let upper = format!("sha256:{}", "AB".repeat(32));
        assert!(
            upper.parse::<TokenHash>().is_ok(),
            "hex digits in either case"
        );
    }

    #[test]
    fn the_verifier_finds_the_owner_of_any_of_its_tokens() {
        let verifier = Verifier::new(vec![
            (TokenHash::of("op-1"), "operator"),
            (TokenHash::of("peer-a"), "a"),
            (TokenHash::of("op-2"), "operator"),
        ]);
        assert_eq!(verifier.verify("op-1"), Some("operator"));
        assert_eq!(
            verifier.verify("op-2"),
            Some("operator"),
            "rotation: both work"
        );
        assert_eq!(verifier.verify("peer-a"), Some("a"));
        assert_eq!(verifier.verify("peer-b"), None);
        assert_eq!(verifier.verify(""), None);
        assert_eq!(Verifier::<&str>::new(vec![]).verify("op-1"), None);
    }
}
