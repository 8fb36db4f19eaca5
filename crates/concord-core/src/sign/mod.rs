//! Signed events: every event verifiable back to the service that raised it, across hops.
//!
//! Bearer tokens prove who is *calling*; a signature proves who *raised* an event. Concord
//! follows the CloudEvents Verifiability extension (`dssematerial`, `signedextattrs`): a
//! DSSE envelope over a SHA-256 digest of the event's attributes and data ([`dsse`]),
//! signed with the raising service's Ed25519 key ([`Signer`], key id `SERVICE/vN`). A
//! receiver checks it against the public keys it is configured to trust for the event's
//! `source` ([`Verifier`]) — never against a key a relay hands it — so a relay can carry a
//! signed event but cannot alter or invent one.
//!
//! The rules a receiver applies ([`Verifier::verify`]):
//! - a signed event must verify against a key of its source, whoever delivers it;
//! - an event of a source known to sign must be signed, unless the operator delivered it
//!   (imports, repairs); such an event is refused when pulled from another service;
//! - a key may be retired at a time: events signed with it whose time is earlier still
//!   verify, later ones are refused.

pub mod dsse;
pub mod keys;

pub use dsse::{Envelope, DSSEMATERIAL, PAYLOAD_TYPE, SIGNEDEXTATTRS};
pub use keys::{PublicKey, Signer, TrustedKey, Verdict, Verifier, ALGORITHM};

use std::sync::Arc;

use crate::event::{CloudEvent, EventError};

/// A service's signing set-up: the key it signs what it raises with (none: it does not
/// sign) and the keys it trusts per source.
#[derive(Clone, Debug, Default)]
pub struct Signing {
    pub signer: Option<Arc<Signer>>,
    pub verifier: Arc<Verifier>,
}

/// Why an event's signature was refused, or a key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("events of {service} must be signed (only the operator may deliver them unsigned)")]
    Unsigned { service: String },
    #[error("the event is signed but no key of its source {service} is configured here")]
    UnknownSource { service: String },
    #[error("signed with key {keyids:?}, which is not a configured key of {service}")]
    UnknownKey { service: String, keyids: String },
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the event was modified after it was signed (its digest differs)")]
    Modified,
    #[error(
        "signed with key {keyid}, retired at {retired}, but the event's time is not before that"
    )]
    Retired { keyid: String, retired: String },
    #[error("unknown payload type {0:?}")]
    PayloadType(String),
    #[error("{0}")]
    SignedExtAttrs(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Key(String),
}

impl SignError {
    /// The refusal as an event error naming the attribute at fault.
    pub fn to_event_error(&self) -> EventError {
        EventError::new(DSSEMATERIAL, self.to_string())
    }
}

/// Keeps only what the signature covers (spec: a verified event carries its context
/// attributes, data and exactly the signed extension attributes), plus the extension's own
/// two attributes so the event can be relayed and verified again.
pub fn keep_verified(event: &mut CloudEvent) {
    let signed: Vec<String> = dsse::signed_extension_names(event)
        .map(|names| names.into_iter().map(str::to_owned).collect())
        .unwrap_or_default();
    event.extensions.retain(|name, _| {
        matches!(
            name.as_str(),
            DSSEMATERIAL | SIGNEDEXTATTRS | "dataschema" | "subject"
        ) || signed.iter().any(|s| s == name)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Limits, Timestamp};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde_json::{json, Value};

    fn hire(source: &str) -> CloudEvent {
        CloudEvent::parse(
            &json!({"specversion":"1.0","id":"h-1","source":source,"type":"studentHired",
                "time":"2026-11-26T09:30:00.123+01:00","datacontenttype":"application/json",
                "data":{"studentId":"s-1", "name":"Ada"}})
            .to_string(),
            &Limits::default(),
        )
        .unwrap()
    }

    fn signer(name: &str, version: u8) -> Signer {
        Signer::from_seed(format!("{name}/v{version}"), [version; 32])
    }

    fn verifier() -> Verifier {
        let mut v = Verifier::new();
        v.trust("se-group", signer("se-group", 1).public(), None);
        v
    }

    fn signed() -> CloudEvent {
        let mut event = hire("se-group");
        signer("se-group", 1).sign(&mut event);
        event
    }

    fn refusal(event: &CloudEvent) -> SignError {
        verifier().verify(event, false).unwrap_err()
    }

    #[test]
    fn a_signed_event_verifies_after_a_round_trip_through_its_text() {
        let event = signed();
        let mut text = Vec::new();
        event.write_json(&mut text, Some(9));
        let again =
            CloudEvent::parse(std::str::from_utf8(&text).unwrap(), &Limits::default()).unwrap();
        for e in [&event, &again] {
            assert_eq!(
                verifier().verify(e, false),
                Ok(Verdict::Signed {
                    keyid: "se-group/v1".into()
                })
            );
        }
    }

    #[test]
    fn any_change_is_refused() {
        let mut e = signed();
        e.data = crate::event::EventData::from_text(r#"{"studentId":"s-2","name":"Ada"}"#).unwrap();
        assert_eq!(refusal(&e), SignError::Modified);
        let mut e = signed();
        e.ty = "studentGraded".into();
        assert_eq!(refusal(&e), SignError::Modified);
        let mut e = signed();
        e.id = "h-2".into();
        assert_eq!(refusal(&e), SignError::Modified);
        let mut e = signed();
        e.time = e.time.next_tick();
        assert_eq!(refusal(&e), SignError::Modified);
        let mut e = signed();
        e.extensions.insert("subject".into(), json!("x"));
        assert_eq!(refusal(&e), SignError::Modified);
        // Whitespace inside data is part of the exact text signed.
        let mut e = signed();
        e.data =
            crate::event::EventData::from_text(r#"{"studentId":"s-1","name": "Ada"}"#).unwrap();
        assert_eq!(refusal(&e), SignError::Modified);
    }

    #[test]
    fn a_relay_cannot_re_sign_as_the_source() {
        // Another service's key, claiming se-group's key id or its own.
        let mut e = hire("se-group");
        Signer::from_seed("se-group/v1", [9; 32]).sign(&mut e);
        assert_eq!(refusal(&e), SignError::BadSignature);
        let mut e = hire("se-group");
        signer("ta-pool", 1).sign(&mut e);
        assert!(matches!(refusal(&e), SignError::UnknownKey { .. }));
        // A forged signature over altered material: a valid envelope, a wrong digest.
        let mut e = signed();
        let mut envelope =
            Envelope::from_attribute(e.extensions[DSSEMATERIAL].as_str().unwrap()).unwrap();
        envelope.payload = STANDARD.encode([0u8; 32]);
        e.extensions
            .insert(DSSEMATERIAL.into(), Value::String(envelope.to_attribute()));
        assert_eq!(refusal(&e), SignError::BadSignature);
    }

    #[test]
    fn corrupt_material_is_refused() {
        for bad in [json!("not base64!"), json!(STANDARD.encode("[]")), json!(7)] {
            let mut e = signed();
            e.extensions.insert(DSSEMATERIAL.into(), bad);
            assert!(matches!(refusal(&e), SignError::Corrupt(_)));
        }
        let mut e = signed();
        e.extensions.insert(SIGNEDEXTATTRS.into(), json!("time"));
        assert!(matches!(refusal(&e), SignError::SignedExtAttrs(_)));
    }

    #[test]
    fn unsigned_events_of_a_signing_source_need_the_operator() {
        let e = hire("se-group");
        assert_eq!(
            refusal(&e),
            SignError::Unsigned {
                service: "se-group".into()
            }
        );
        assert_eq!(verifier().verify(&e, true), Ok(Verdict::Unsigned));
        // A source with no key configured here signs nothing this receiver knows of.
        assert_eq!(
            verifier().verify(&hire("legacy"), false),
            Ok(Verdict::Unsigned)
        );
        // A receiver that verifies nothing takes signed events as unsigned ones.
        assert_eq!(
            Verifier::new().verify(&signed(), false),
            Ok(Verdict::Unsigned)
        );
        // But a signature is never taken on trust, not even from the operator.
        let mut e = hire("legacy");
        signer("legacy", 1).sign(&mut e);
        assert!(matches!(
            verifier().verify(&e, true),
            Err(SignError::UnknownSource { .. })
        ));
    }

    #[test]
    fn a_retired_key_verifies_what_it_signed_before_retirement() {
        let mut v = Verifier::new();
        let at = |t: &str| Timestamp::parse(t).unwrap();
        v.trust(
            "se-group",
            signer("se-group", 1).public(),
            Some(at("2026-11-26T12:00:00Z")),
        );
        v.trust("se-group", signer("se-group", 2).public(), None);
        let early = signed(); // 08:30Z
        assert!(v.verify(&early, false).is_ok());
        let mut late = hire("se-group");
        late.time = at("2026-11-26T12:00:00Z");
        signer("se-group", 1).sign(&mut late);
        assert!(matches!(
            v.verify(&late, false),
            Err(SignError::Retired { .. })
        ));
        signer("se-group", 2).sign(&mut late);
        assert_eq!(
            v.verify(&late, false),
            Ok(Verdict::Signed {
                keyid: "se-group/v2".into()
            })
        );
    }

    /// Every kind of verdict, several times over, in one page.
    fn mixed_page() -> Vec<CloudEvent> {
        let retiring = at_noon();
        (0..3 * keys::BATCH + 17)
            .map(|i| {
                let mut e = hire("se-group");
                e.id = format!("h-{i}").into();
                signer("se-group", 1).sign(&mut e);
                match i % 9 {
                    1 => Signer::from_seed("se-group/v1", [9; 32]).sign(&mut e),
                    2 => e.id = format!("{}x", e.id).into(),
                    3 => signer("ta-pool", 1).sign(&mut e),
                    4 => {
                        e.extensions.remove(DSSEMATERIAL);
                    }
                    5 => {
                        // Two signatures by trusted keys: a bad one first, then a good one.
                        let good =
                            Envelope::from_attribute(e.extensions[DSSEMATERIAL].as_str().unwrap())
                                .unwrap();
                        let mut forged = e.clone();
                        Signer::from_seed("se-group/v2", [8; 32]).sign(&mut forged);
                        let mut both = Envelope::from_attribute(
                            forged.extensions[DSSEMATERIAL].as_str().unwrap(),
                        )
                        .unwrap();
                        both.signatures.extend(good.signatures);
                        e.extensions
                            .insert(DSSEMATERIAL.into(), Value::String(both.to_attribute()));
                    }
                    6 => {
                        e.time = retiring;
                        signer("se-group", 1).sign(&mut e);
                    }
                    _ => {}
                }
                e
            })
            .collect()
    }

    fn at_noon() -> Timestamp {
        Timestamp::parse("2026-11-26T12:00:00Z").unwrap()
    }

    #[test]
    fn a_page_verified_in_batches_gets_each_event_its_own_verdict() {
        let mut v = Verifier::new();
        v.trust("se-group", signer("se-group", 1).public(), Some(at_noon()));
        v.trust("se-group", signer("se-group", 2).public(), None);
        let page = mixed_page();
        let one_by_one: Vec<_> = page.iter().map(|e| v.verify(e, false)).collect();
        assert_eq!(v.verify_many(&page, false), one_by_one);
        let kinds = |i: usize| match i % 9 {
            1 => "bad",
            2 => "modified",
            3 => "unknown key",
            4 => "unsigned",
            6 => "retired",
            _ => "ok",
        };
        for (i, verdict) in one_by_one.iter().enumerate() {
            match (kinds(i), verdict) {
                ("ok", Ok(Verdict::Signed { keyid })) => assert_eq!(keyid, "se-group/v1"),
                ("bad", Err(SignError::BadSignature))
                | ("modified", Err(SignError::Modified))
                | ("unknown key", Err(SignError::UnknownKey { .. }))
                | ("unsigned", Err(SignError::Unsigned { .. }))
                | ("retired", Err(SignError::Retired { .. })) => {}
                (kind, verdict) => panic!("{i} ({kind}): {verdict:?}"),
            }
        }
        // Without a culprit the page passes in whole batches, and with one it is found.
        let honest: Vec<_> = page.iter().step_by(9).cloned().collect();
        assert!(v.verify_many(&honest, false).iter().all(Result::is_ok));
        let mut one_forged = honest.clone();
        let last = one_forged.len() - 1;
        Signer::from_seed("se-group/v1", [9; 32]).sign(&mut one_forged[last]);
        let verdicts = v.verify_many(&one_forged, false);
        assert_eq!(verdicts[last], Err(SignError::BadSignature));
        assert!(verdicts[..last].iter().all(Result::is_ok));
    }

    #[test]
    fn keys_read_from_base64_and_never_print_the_private_key() {
        let s = signer("se-group", 1);
        let public = s.public();
        assert_eq!(
            PublicKey::from_base64("se-group/v1", &public.to_base64()).unwrap(),
            public
        );
        assert!(PublicKey::from_base64("k", "AAAA").is_err());
        // Small-order keys (here of order 4, and the identity) verify signatures no one
        // made, in a batch: never trusted.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        for weak in [[0u8; 32], identity] {
            assert!(matches!(
                PublicKey::from_base64("k", &STANDARD.encode(weak)),
                Err(SignError::Key(_))
            ));
        }
        let seed = STANDARD.encode([1u8; 32]);
        assert_eq!(
            Signer::from_base64("se-group/v1", &seed).unwrap().public(),
            public
        );
        assert!(!format!("{s:?}").contains(&seed));
    }

    #[test]
    fn only_signed_extensions_are_kept() {
        let mut e = signed();
        e.extensions.insert("traceparent".into(), json!("00-x"));
        assert!(verifier().verify(&e, false).is_ok());
        keep_verified(&mut e);
        assert!(!e.extensions.contains_key("traceparent"));
        assert!(verifier().verify(&e, false).is_ok());
    }
}
