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
        // A small-order key verifies signatures nobody made: the strict check refuses it, a
        // batch check would not, so it is never trusted at all.
        if key.is_weak() {
            return Err(SignError::Key(
                "a weak (small-order) Ed25519 public key, which no one's signature can be \
                 tied to"
                    .into(),
            ));
        }
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
        match self.prepare(event, unsigned_allowed) {
            Prepared::Done(verdict) => verdict,
            Prepared::Check(check) => check.alone(),
        }
    }

    /// Each event's verdict, in order: what [`Verifier::verify`] says of it.
    ///
    /// An Ed25519 check is the bulk of taking in a signed page, so the signatures are
    /// checked together, [`BATCH`] at a time, with ed25519-dalek's batch verification
    /// (about a third of the cost of one check each on this kind of machine). A batch that
    /// fails is halved until each event at fault is checked alone, exactly as
    /// [`Verifier::verify`] checks it, so an honest signature passes and a forged one is
    /// refused whatever its neighbours are. The one case where the two differ is a signature
    /// its key's holder deliberately made with a small-order component, which a batch may
    /// accept and the strict check refuses (docs/protocol.md §5a).
    pub fn verify_many(
        &self,
        events: &[CloudEvent],
        unsigned_allowed: bool,
    ) -> Vec<Result<Verdict, SignError>> {
        let mut verdicts = Vec::with_capacity(events.len());
        let mut checks = Vec::new();
        for event in events {
            match self.prepare(event, unsigned_allowed) {
                Prepared::Done(verdict) => verdicts.push(Some(verdict)),
                Prepared::Check(check) => {
                    checks.push((verdicts.len(), check));
                    verdicts.push(None);
                }
            }
        }
        for batch in checks.chunks(BATCH) {
            settle(batch, &mut verdicts);
        }
        verdicts
            .into_iter()
            .map(|verdict| verdict.expect("every event is settled"))
            .collect()
    }

    /// Everything but the curve arithmetic: the verdict, when the event's attributes decide
    /// it, or the signature check still to make.
    fn prepare<'a>(&'a self, event: &'a CloudEvent, unsigned_allowed: bool) -> Prepared<'a> {
        let material = match event.extensions.get(DSSEMATERIAL) {
            None => None,
            Some(Value::String(text)) if text.is_empty() => None,
            Some(Value::String(text)) => Some(text),
            Some(_) => {
                return Prepared::Done(Err(SignError::Corrupt(
                    "dssematerial must be a string".into(),
                )))
            }
        };
        if self.is_empty() {
            return Prepared::Done(Ok(Verdict::Unsigned));
        }
        let Some(material) = material else {
            if self.signs(&event.source) && !unsigned_allowed {
                return Prepared::Done(Err(SignError::Unsigned {
                    service: event.source.clone(),
                }));
            }
            return Prepared::Done(Ok(Verdict::Unsigned));
        };
        let Some(keys) = self.sources.get(&event.source) else {
            return Prepared::Done(Err(SignError::UnknownSource {
                service: event.source.clone(),
            }));
        };
        let envelope = match Envelope::from_attribute(material) {
            Ok(envelope) => envelope,
            Err(error) => return Prepared::Done(Err(error)),
        };
        let body = match STANDARD.decode(&envelope.payload) {
            Ok(body) => body,
            Err(e) => {
                return Prepared::Done(Err(SignError::Corrupt(format!(
                    "the envelope's payload is not Base64 ({e})"
                ))))
            }
        };
        // DSSE: only signatures by acceptable keys count; one that verifies is enough.
        let mut known = false;
        let mut candidates = Vec::new();
        for signature in &envelope.signatures {
            let Some(trusted) = keys.iter().find(|k| k.key.keyid == signature.keyid) else {
                continue;
            };
            known = true;
            if let Ok(sig) = decode_64(&signature.sig) {
                candidates.push((trusted, Signature::from_bytes(&sig)));
            }
        }
        if candidates.is_empty() {
            return Prepared::Done(Err(if known {
                SignError::BadSignature
            } else {
                SignError::UnknownKey {
                    service: event.source.clone(),
                    keyids: envelope
                        .signatures
                        .iter()
                        .map(|s| s.keyid.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            }));
        }
        let message = pae(&envelope.payload_type, &body);
        let unchanged = unchanged(event, envelope.payload_type, &body);
        Prepared::Check(Check {
            event,
            message,
            candidates,
            unchanged,
        })
    }
}

/// How many signatures one batch checks: large enough to share most of the arithmetic,
/// small enough that halving a failed batch down to its culprit stays cheap.
pub const BATCH: usize = 256;

enum Prepared<'a> {
    Done(Result<Verdict, SignError>),
    Check(Check<'a>),
}

/// A signature check still to make, and what decides the verdict once a signature verifies.
struct Check<'a> {
    event: &'a CloudEvent,
    /// The DSSE pre-authentication encoding the signatures sign.
    message: Vec<u8>,
    /// The envelope's signatures by keys trusted for the source, in the envelope's order
    /// (never empty).
    candidates: Vec<(&'a TrustedKey, Signature)>,
    /// Whether the envelope is of this extension and covers the event as it is.
    unchanged: Result<(), SignError>,
}

impl Check<'_> {
    /// The strict check of one event, signature by signature.
    fn alone(&self) -> Result<Verdict, SignError> {
        let trusted = self
            .candidates
            .iter()
            .find(|(trusted, sig)| trusted.key.key.verify_strict(&self.message, sig).is_ok())
            .map(|(trusted, _)| *trusted)
            .ok_or(SignError::BadSignature)?;
        self.verified_by(trusted)
    }

    /// The verdict once a signature by `trusted` verified.
    fn verified_by(&self, trusted: &TrustedKey) -> Result<Verdict, SignError> {
        self.unchanged.clone()?;
        if let Some(retired) = trusted.retired {
            if self.event.time >= retired {
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

/// Settles the verdicts of `checks` (indexes into `verdicts`): one batch verification of
/// each check's first signature, and where that fails, [`settle_failed`].
fn settle(checks: &[(usize, Check<'_>)], verdicts: &mut [Option<Result<Verdict, SignError>>]) {
    if checks.len() > 1 && batch_verifies(checks) {
        accept(checks, verdicts);
    } else {
        settle_failed(checks, verdicts);
    }
}

/// A failed batch of at most this many checks is checked event by event: halving it further
/// would cost more batches than it saves.
const ALONE_AT_MOST: usize = 8;

/// Settles `checks`, known to hold at least one that fails. One culprit is found by halving
/// (one batch per step); when both halves fail there are several, and every check is made
/// alone, so a page full of forgeries costs at most about 1.7 times what checking each
/// alone costs (three batches, then the single checks), never a batch per level per event.
fn settle_failed(
    checks: &[(usize, Check<'_>)],
    verdicts: &mut [Option<Result<Verdict, SignError>>],
) {
    if checks.len() <= ALONE_AT_MOST {
        for (at, check) in checks {
            verdicts[*at] = Some(check.alone());
        }
        return;
    }
    let (first, second) = checks.split_at(checks.len() / 2);
    if batch_verifies(first) {
        accept(first, verdicts);
        return settle_failed(second, verdicts);
    }
    if batch_verifies(second) {
        accept(second, verdicts);
        return settle_failed(first, verdicts);
    }
    for (at, check) in checks {
        verdicts[*at] = Some(check.alone());
    }
}

/// Whether every check's first signature verifies, as one batch.
fn batch_verifies(checks: &[(usize, Check<'_>)]) -> bool {
    let messages: Vec<&[u8]> = checks.iter().map(|(_, c)| c.message.as_slice()).collect();
    let signatures: Vec<Signature> = checks.iter().map(|(_, c)| c.candidates[0].1).collect();
    let keys: Vec<VerifyingKey> = checks
        .iter()
        .map(|(_, c)| c.candidates[0].0.key.key)
        .collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// The verdicts of checks whose first signatures verified together.
fn accept(checks: &[(usize, Check<'_>)], verdicts: &mut [Option<Result<Verdict, SignError>>]) {
    for (at, check) in checks {
        verdicts[*at] = Some(check.verified_by(check.candidates[0].0));
    }
}

/// Whether the envelope is of this extension's payload type and its body is the event's
/// verification material as it is now.
fn unchanged(event: &CloudEvent, payload_type: String, body: &[u8]) -> Result<(), SignError> {
    if payload_type != PAYLOAD_TYPE {
        return Err(SignError::PayloadType(payload_type));
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
    Ok(())
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
