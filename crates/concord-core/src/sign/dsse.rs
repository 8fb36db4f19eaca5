//! The Verifiability extension's byte-level pieces: the verification material (a SHA-256
//! digest over the event's attributes and data), DSSE's pre-authentication encoding and
//! the envelope carried, Base64-encoded, in `dssematerial`.
//!
//! Written from `cloudevents/extensions/verifiability.md` (payload type
//! `https://cloudevents.io/verifiability/dsse/v0.1`) and DSSE v1.0.2. Two points the text
//! leaves to the implementation, decided here and documented in docs/protocol.md:
//! - `event.data` is the exact JSON text of the `data` member as received (Concord stores
//!   and relays that text unchanged, so the digest survives every hop);
//! - `RFC3339(UTC(event.time))` is the instant in UTC with a `Z`, seconds always, and the
//!   fraction of a second only when non-zero, without trailing zeros
//!   (`2020-06-18T17:24:53Z`, `2026-11-26T09:30:00.1234Z`), so any writing of the same
//!   instant gives the same digest.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::SignError;
use crate::event::{CloudEvent, Timestamp};

/// The extension attribute holding the Base64 DSSE envelope.
pub const DSSEMATERIAL: &str = "dssematerial";
/// The extension attribute listing the signed extension attributes, comma-separated.
pub const SIGNEDEXTATTRS: &str = "signedextattrs";
/// The DSSE payload type of this version of the extension.
pub const PAYLOAD_TYPE: &str = "https://cloudevents.io/verifiability/dsse/v0.1";

/// Context attributes that `signedextattrs` may not name (the spec's list, and the two
/// attributes of the extension itself).
const NOT_EXTENSIONS: [&str; 10] = [
    "id",
    "source",
    "specversion",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    DSSEMATERIAL,
    SIGNEDEXTATTRS,
];

/// A DSSE v1.0.2 JSON envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the serialized body: here the 32-byte verification material.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the signature over the envelope's PAE.
    pub sig: String,
}

impl Envelope {
    /// The envelope as the `dssematerial` attribute carries it: Base64 of its JSON.
    pub fn to_attribute(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).expect("an envelope always serializes"))
    }

    /// Reads a `dssematerial` value (spec steps 3 and 4).
    pub fn from_attribute(text: &str) -> Result<Self, SignError> {
        let json = STANDARD
            .decode(text)
            .map_err(|e| SignError::Corrupt(format!("dssematerial is not Base64 ({e})")))?;
        serde_json::from_slice(&json)
            .map_err(|e| SignError::Corrupt(format!("dssematerial is not a DSSE envelope ({e})")))
    }
}

/// DSSE's pre-authentication encoding: what is actually signed.
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimals.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + payload_type.len() + body.len());
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(body);
    out
}

/// `RFC3339(UTC(time))` as Concord writes it for the digest: see the module documentation.
pub fn canonical_time(time: Timestamp) -> String {
    let nanos = time.unix_nanos();
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let date = t.date();
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let fraction = t.nanosecond();
    if fraction != 0 {
        let digits = format!("{fraction:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The names in a `signedextattrs` value, checked against the spec's rules (no repeats, no
/// context attributes, not the extension's own attributes). Empty or absent: none.
pub fn signed_extension_names(event: &CloudEvent) -> Result<Vec<&str>, SignError> {
    let names = match event.extensions.get(SIGNEDEXTATTRS) {
        None => return Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => return Ok(Vec::new()),
        Some(Value::String(text)) => text.split(',').collect::<Vec<_>>(),
        Some(_) => {
            return Err(SignError::SignedExtAttrs(
                "signedextattrs must be a string".into(),
            ))
        }
    };
    for (i, name) in names.iter().enumerate() {
        if NOT_EXTENSIONS.contains(name) {
            return Err(SignError::SignedExtAttrs(format!(
                "{name:?} is not an extension attribute that may be listed"
            )));
        }
        if names[..i].contains(name) {
            return Err(SignError::SignedExtAttrs(format!(
                "{name:?} is listed twice"
            )));
        }
        if !event.extensions.contains_key(*name) {
            return Err(SignError::SignedExtAttrs(format!(
                "{name:?} is listed but the event has no such attribute"
            )));
        }
    }
    Ok(names)
}

/// The verification material of `event` with the extension attributes `signed` (spec
/// §Signature, steps 4 and 5).
pub fn verification_material(event: &CloudEvent, signed: &[&str]) -> [u8; 32] {
    let digest = |bytes: &[u8]| Sha256::digest(bytes);
    let text = |name: &str| match event.extensions.get(name) {
        Some(value) => attribute_text(value),
        None => String::new(),
    };
    let mut outer = Sha256::new();
    outer.update(digest(event.id.as_bytes()));
    outer.update(digest(event.source.as_bytes()));
    outer.update(digest(b"1.0"));
    outer.update(digest(event.ty.as_bytes()));
    outer.update(digest(
        event.datacontenttype.as_deref().unwrap_or("").as_bytes(),
    ));
    outer.update(digest(text("dataschema").as_bytes()));
    outer.update(digest(text("subject").as_bytes()));
    outer.update(digest(canonical_time(event.time).as_bytes()));
    outer.update(digest(event.data.as_str().as_bytes()));
    for name in signed {
        outer.update(digest(name.as_bytes()));
        outer.update(digest(text(name).as_bytes()));
    }
    outer.finalize().into()
}

/// The CloudEvents canonical string of an attribute value: a string's content, an
/// integer's or boolean's JSON text.
fn attribute_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(time: &str) -> CloudEvent {
        CloudEvent::from_value(json!({"specversion":"1.0","id":"1","source":"example/uri",
            "type":"example.type","datacontenttype":"application/json","time":time,
            "data":{"hello":"world"}}))
        .unwrap()
    }

    #[test]
    fn pae_is_dsse_v1() {
        // The example of DSSE's protocol.md.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn times_are_normalised_to_utc_without_trailing_zeros() {
        let cases = [
            ("2020-06-18T19:24:53+02:00", "2020-06-18T17:24:53Z"),
            ("2020-06-18T17:24:53.000Z", "2020-06-18T17:24:53Z"),
            ("2026-11-26T09:30:00.123400Z", "2026-11-26T09:30:00.1234Z"),
            (
                "2026-11-26T10:30:00.000000001+01:00",
                "2026-11-26T09:30:00.000000001Z",
            ),
        ];
        for (written, canonical) in cases {
            assert_eq!(
                canonical_time(Timestamp::parse(written).unwrap()),
                canonical
            );
        }
    }

    #[test]
    fn the_digest_follows_the_spec_construction() {
        // Recomputed by hand, step by step, so a reordering in the code is caught.
        let e = event("2020-06-18T19:24:53+02:00");
        let h = |b: &[u8]| Sha256::digest(b).to_vec();
        let mut seq = Vec::new();
        for part in [
            &b"1"[..],
            b"example/uri",
            b"1.0",
            b"example.type",
            b"application/json",
            b"",
            b"",
            b"2020-06-18T17:24:53Z",
            br#"{"hello":"world"}"#,
        ] {
            seq.extend(h(part));
        }
        assert_eq!(verification_material(&e, &[]).to_vec(), h(&seq));
        // The same instant written in another offset digests the same.
        assert_eq!(
            verification_material(&e, &[]),
            verification_material(&event("2020-06-18T17:24:53Z"), &[])
        );
    }

    #[test]
    fn signed_extension_attributes_follow_the_rules() {
        let mut e = event("2020-06-18T17:24:53Z");
        e.extensions.insert("exta".into(), json!("value1"));
        e.extensions.insert("extb".into(), json!(7));
        e.extensions
            .insert(SIGNEDEXTATTRS.into(), json!("exta,extb"));
        assert_eq!(signed_extension_names(&e).unwrap(), vec!["exta", "extb"]);
        let plain = verification_material(&e, &[]);
        assert_ne!(verification_material(&e, &["exta"]), plain);
        for bad in [
            "exta,exta",
            "exta, extb",
            "time",
            "dssematerial",
            "signedextattrs",
        ] {
            e.extensions.insert(SIGNEDEXTATTRS.into(), json!(bad));
            assert!(signed_extension_names(&e).is_err(), "{bad}");
        }
        e.extensions.insert(SIGNEDEXTATTRS.into(), json!(""));
        assert!(signed_extension_names(&e).unwrap().is_empty());
    }

    #[test]
    fn the_envelope_round_trips_through_base64() {
        let envelope = Envelope {
            payload_type: PAYLOAD_TYPE.into(),
            payload: STANDARD.encode([7u8; 32]),
            signatures: vec![EnvelopeSignature {
                keyid: "k".into(),
                sig: "c2ln".into(),
            }],
        };
        let text = envelope.to_attribute();
        assert_eq!(Envelope::from_attribute(&text).unwrap(), envelope);
        let json = STANDARD.decode(&text).unwrap();
        assert!(json.starts_with(br#"{"payloadType":"#));
        assert!(Envelope::from_attribute("***").is_err());
        assert!(Envelope::from_attribute(&STANDARD.encode("{}")).is_err());
    }
}
