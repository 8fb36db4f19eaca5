"""An independent implementation of the CloudEvents Verifiability extension (DSSE over a
SHA-256 digest of the event, Ed25519 signatures), written from the text of
cloudevents/extensions/verifiability.md and DSSE v1.0.2 with the `cryptography` package.
tests/interop.rs drives it to check that Concord and it agree, in both directions.

    python3 verifiability.py verify KEYS_JSON < getEvents-page.json
        KEYS_JSON: {"SOURCE": [{"keyid": ..., "public": BASE64}]}. Prints a JSON array, one
        entry per event of the page: {"id": ..., "ok": bool, "reason": ...}.
    python3 verifiability.py sign KEYID PRIVATE_BASE64 < events.json
        Signs each event of a JSON array (data written compactly) and prints the batch.

Conventions Concord documents (docs/protocol.md, "Signed events"), implemented here from
that description: `event.data` is the exact JSON text of the `data` member; the time is
normalised to UTC with a `Z`, the fraction of a second only when non-zero, without
trailing zeros.
"""

import base64
import datetime
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

PAYLOAD_TYPE = "https://cloudevents.io/verifiability/dsse/v0.1"
CORE = {"id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time"}


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")


def zulu(text: str) -> str:
    """RFC 3339 in UTC, fraction kept exactly (trailing zeros dropped)."""
    m = TIME.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    date, clock, fraction, offset = m.groups()
    moment = datetime.datetime.fromisoformat(f"{date}T{clock}")
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        moment -= sign * datetime.timedelta(hours=hours, minutes=minutes)
    out = moment.strftime("%Y-%m-%dT%H:%M:%S")
    digits = (fraction or ".")[1:].rstrip("0")
    if digits:
        out += "." + digits
    return out + "Z"


def text_of(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def material(event: dict, data_text: str, signed: list) -> bytes:
    parts = [
        event.get("id", ""),
        event.get("source", ""),
        event.get("specversion", ""),
        event.get("type", ""),
        event.get("datacontenttype", ""),
        event.get("dataschema", ""),
        event.get("subject", ""),
    ]
    seq = b"".join(sha256(p.encode("utf-8")) for p in parts)
    seq += sha256(zulu(event["time"]).encode() if "time" in event else b"")
    seq += sha256(data_text.encode("utf-8"))
    for name in signed:
        seq += sha256(name.encode("utf-8")) + sha256(text_of(event[name]).encode("utf-8"))
    return sha256(seq)


# --- the exact text of each event's `data`: a small JSON scanner (Python's json module does
# not report where a value was in the text) -----------------------------------------------

WS = " \t\r\n"


def skip_ws(s, i):
    while i < len(s) and s[i] in WS:
        i += 1
    return i


def skip_string(s, i):
    assert s[i] == '"'
    i += 1
    while s[i] != '"':
        i += 2 if s[i] == "\\" else 1
    return i + 1


def skip_value(s, i):
    """Index just after the JSON value starting at i."""
    c = s[i]
    if c == '"':
        return skip_string(s, i)
    if c in "{[":
        depth = 0
        while True:
            c = s[i]
            if c == '"':
                i = skip_string(s, i)
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    while i < len(s) and s[i] not in ",}] \t\r\n":
        i += 1
    return i


def members(s, i):
    """(name, start, end) of each member of the object starting at i; and the end."""
    out = []
    i = skip_ws(s, i + 1)
    if s[i] == "}":
        return out, i + 1
    while True:
        end = skip_string(s, i)
        name = json.loads(s[i:end])
        i = skip_ws(s, end)
        assert s[i] == ":"
        start = skip_ws(s, i + 1)
        stop = skip_value(s, start)
        out.append((name, start, stop))
        i = skip_ws(s, stop)
        if s[i] == "}":
            return out, i + 1
        i = skip_ws(s, i + 1)


def events_with_data_text(page: str):
    """Each event of a getEvents page (or a bare array), with its data's exact text."""
    i = skip_ws(page, 0)
    if page[i] == "{":
        top, _ = members(page, i)
        start = next(start for name, start, _ in top if name == "events")
    else:
        start = i
    i = skip_ws(page, start + 1)
    out = []
    while page[i] != "]":
        fields, end = members(page, i)
        event = json.loads(page[i:end])
        data = next(page[a:b] for name, a, b in fields if name == "data")
        out.append((event, data))
        i = skip_ws(page, end)
        if page[i] == ",":
            i = skip_ws(page, i + 1)
    return out


# --- verification (spec §Verification, in its order) ------------------------------------


def verify(event: dict, data_text: str, keys: dict):
    acceptable = {k["keyid"]: k["public"] for k in keys.get(event.get("source"), [])}
    material_text = event.get("dssematerial")
    if not material_text:
        return False, "not signed"
    try:
        envelope = json.loads(base64.b64decode(material_text, validate=True))
        body = base64.b64decode(envelope["payload"], validate=True)
        signatures = envelope["signatures"]
        payload_type = envelope["payloadType"]
    except Exception as e:  # noqa: BLE001 - any decoding failure discards the event
        return False, f"corrupt verification material: {e}"
    verified = False
    for sig in signatures:
        if sig.get("keyid") not in acceptable:
            continue
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(acceptable[sig["keyid"]]))
        try:
            key.verify(base64.b64decode(sig["sig"]), pae(payload_type, body))
            verified = True
            break
        except (InvalidSignature, ValueError):
            continue
    if not verified:
        return False, "no signature by an acceptable key verifies"
    if payload_type != PAYLOAD_TYPE:
        return False, f"unknown payload type {payload_type}"
    if len(body) != 32:
        return False, "payload is not a 32-byte digest"
    names = event.get("signedextattrs") or ""
    signed = names.split(",") if names else []
    if len(set(signed)) != len(signed) or any(
        n in CORE or n in ("dssematerial", "signedextattrs") for n in signed
    ):
        return False, "invalid signedextattrs"
    if material(event, data_text, signed) != body:
        return False, "modified in transit"
    return True, "verified"


def sign(events: list, keyid: str, private: Ed25519PrivateKey) -> str:
    out = []
    for event in events:
        event = {k: v for k, v in event.items() if k not in ("dssematerial", "signedextattrs")}
        data = event.pop("data")
        data_text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        digest = material(event, data_text, [])
        envelope = {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(digest).decode(),
            "signatures": [
                {"keyid": keyid, "sig": base64.b64encode(private.sign(pae(PAYLOAD_TYPE, digest))).decode()}
            ],
        }
        event["dssematerial"] = base64.b64encode(json.dumps(envelope).encode()).decode()
        attributes = json.dumps(event, ensure_ascii=False)
        # The data goes in as exactly the text that was signed.
        out.append(attributes[:-1] + ', "data": ' + data_text + "}")
    return "[" + ",".join(out) + "]"


def main():
    command = sys.argv[1]
    text = sys.stdin.read()
    if command == "verify":
        keys = json.loads(sys.argv[2])
        results = []
        for event, data in events_with_data_text(text):
            ok, reason = verify(event, data, keys)
            results.append({"id": event.get("id"), "ok": ok, "reason": reason})
        print(json.dumps(results))
    elif command == "sign":
        keyid, seed = sys.argv[2], base64.b64decode(sys.argv[3])
        print(sign(json.loads(text), keyid, Ed25519PrivateKey.from_private_bytes(seed)))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
