//! A service's signing key ([`Signer`]) and the public keys it trusts per source
//! ([`Verifier`]), with rotation: a key may carry the time it was retired.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::Value;

use super::dsse::{
    pae, signed_extension_names, verification_material, Envelope, EnvelopeSignature, DSSEMATERIAL,
    PAYLOAD_TYPE, SIGNEDEXTATTRS,
};
use super::SignError;
use crate::event::{CloudEvent, Timestamp};

/// The only algorithm Concord signs with, as `GET /api/keys` names it.
pub const ALGORITHM: &str = "ed25519";

/// A public key with its id: what a service publishes and its peers configure.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub keyid: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// A key from its standard Base64 text (32 bytes).
    pub fn from_base64(keyid: impl Into<String>, text: &str) -> Result<Self, SignError> {
        let bytes: [u8; 32] = decode_32(text, "public key")?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|e| SignError::Key(format!("not an Ed25519 public key ({e})")))?;
        Ok(PublicKey {
            keyid: keyid.into(),
            key,
        })
    }

    /// The key as standard Base64 of its 32 bytes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key.as_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.keyid, self.to_base64())
    }
}

/// A service's private key. Never printed: `Debug` shows the key id only.
pub struct Signer {
    keyid: String,
    key: SigningKey,
}

impl Signer {
    /// A signer from a 32-byte Ed25519 seed (the private key as the credentials file keeps it).
    pub fn from_seed(keyid: impl Into<String>, seed: [u8; 32]) -> Self {
        Signer {
            keyid: keyid.into(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// A signer from the standard Base64 of its seed.
    pub fn from_base64(keyid: impl Into<String>, seed: &str) -> Result<Self, SignError> {
        Ok(Self::from_seed(keyid, decode_32(seed, "private key")?))
    }

    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The private key (the 32-byte seed) as standard Base64: only for writing the
    /// deployment's credentials file.
    pub fn private_base64(&self) -> String {
        STANDARD.encode(self.key.to_bytes())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            keyid: self.keyid.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs `event` as it is, with no extension attributes signed: sets `dssematerial`
    /// (replacing any earlier one) and drops a stale `signedextattrs`.
    pub fn sign(&self, event: &mut CloudEvent) {
        event.extensions.remove(DSSEMATERIAL);
        event.extensions.remove(SIGNEDEXTATTRS);
        let material = verification_material(event, &[]);
        let signature = self.key.sign(&pae(PAYLOAD_TYPE, &material));
        let envelope = Envelope {
            payload_type: PAYLOAD_TYPE.to_owned(),
            payload: STANDARD.encode(material),
            signatures: vec![EnvelopeSignature {
                keyid: self.keyid.clone(),
                sig: STANDARD.encode(signature.to_bytes()),
            }],
        };
        event.extensions.insert(
            DSSEMATERIAL.to_owned(),
            Value::String(envelope.to_attribute()),
        );
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({}, private key withheld)", self.keyid)
    }
}

/// A public key a receiver trusts for one source, and when it was retired, if it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    pub key: PublicKey,
    /// Events whose (signed) time is at or after this instant are refused with this key;
    /// earlier ones still verify, so what a source signed before a rotation stays valid.
    pub retired: Option<Timestamp>,
}

/// What a receiver made of an event's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed with this key of its source, and everything signed is unchanged.
    Signed { keyid: String },
    /// Taken without a verified signature: it is unsigned and its source signs nothing
    /// known to this receiver (or the operator delivered it), or this receiver verifies
    /// nothing at all (no key configured), so it takes events as the extension requires of
    /// consumers that do not verify: as if they were unsigned.
    Unsigned,
}

/// The public keys a service trusts, per source. Empty: the service verifies nothing and
/// takes signed events as if they were unsigned (the extension's backward compatibility: a
/// consumer that does not verify processes events normally). With any key configured it
/// verifies, and refuses a signed event of a source it knows no key of.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    sources: HashMap<String, Vec<TrustedKey>>,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `key` for events of `source`.
    pub fn trust(&mut self, source: impl Into<String>, key: PublicKey, retired: Option<Timestamp>) {
        let keys = self.sources.entry(source.into()).or_default();
        keys.retain(|k| k.key.keyid != key.keyid);
        keys.push(TrustedKey { key, retired });
    }

    /// Whether `source` signs its events (this receiver knows a key of it).
    pub fn signs(&self, source: &str) -> bool {
        self.sources.contains_key(source)
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The keys trusted for `source`.
    pub fn keys(&self, source: &str) -> &[TrustedKey] {
        self.sources.get(source).map_or(&[], Vec::as_slice)
    }

    /// Verifies `event` (spec §Verification) against the keys of its `source`.
    /// `unsigned_allowed`: the operator delivered it, so it may lack a signature even if its
    /// source signs; a signature it carries must verify all the same.
    pub fn verify(&self, event: &CloudEvent, unsigned_allowed: bool) -> Result<Verdict, SignError> {
        let material = match event.extensions.get(DSSEMATERIAL) {
            None => None,
            Some(Value::String(text)) if text.is_empty() => None,
            Some(Value::String(text)) => Some(text),
            Some(_) => return Err(SignError::Corrupt("dssematerial must be a string".into())),
        };
        if self.is_empty() {
            return Ok(Verdict::Unsigned);
        }
        let Some(material) = material else {
            if self.signs(&event.source) && !unsigned_allowed {
                return Err(SignError::Unsigned {
                    service: event.source.clone(),
                });
            }
            return Ok(Verdict::Unsigned);
        };
        let keys = self
            .sources
            .get(&event.source)
            .ok_or_else(|| SignError::UnknownSource {
                service: event.source.clone(),
            })?;
        let envelope = Envelope::from_attribute(material)?;
        let body = STANDARD.decode(&envelope.payload).map_err(|e| {
            SignError::Corrupt(format!("the envelope's payload is not Base64 ({e})"))
        })?;
        // DSSE: only signatures by acceptable keys count; one that verifies is enough.
        let mut verified: Option<&TrustedKey> = None;
        let mut known = false;
        for signature in &envelope.signatures {
            let Some(trusted) = keys.iter().find(|k| k.key.keyid == signature.keyid) else {
                continue;
            };
            known = true;
            let Ok(sig) = decode_64(&signature.sig) else {
                continue;
            };
            let sig = Signature::from_bytes(&sig);
            if trusted
                .key
                .key
                .verify_strict(&pae(&envelope.payload_type, &body), &sig)
                .is_ok()
            {
                verified = Some(trusted);
                break;
            }
        }
        let trusted = match (verified, known) {
            (Some(trusted), _) => trusted,
            (None, true) => return Err(SignError::BadSignature),
            (None, false) => {
                return Err(SignError::UnknownKey {
                    service: event.source.clone(),
                    keyids: envelope
                        .signatures
                        .iter()
                        .map(|s| s.keyid.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        };
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(SignError::PayloadType(envelope.payload_type));
        }
        if body.len() != 32 {
            return Err(SignError::Corrupt(format!(
                "the envelope's payload is {} bytes, not a 32-byte digest",
                body.len()
            )));
        }
        let signed = signed_extension_names(event)?;
        if verification_material(event, &signed)[..] != body[..] {
            return Err(SignError::Modified);
        }
        if let Some(retired) = trusted.retired {
            if event.time >= retired {
                return Err(SignError::Retired {
                    keyid: trusted.key.keyid.clone(),
                    retired: retired.to_rfc3339(),
                });
            }
        }
        Ok(Verdict::Signed {
            keyid: trusted.key.keyid.clone(),
        })
    }
}

fn decode_32(text: &str, what: &str) -> Result<[u8; 32], SignError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| SignError::Key(format!("the {what} is not standard Base64 ({e})")))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| SignError::Key(format!("the {what} is {} bytes, not 32", b.len())))
}

fn decode_64(text: &str) -> Result<[u8; 64], ()> {
    STANDARD
        .decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(())
}
