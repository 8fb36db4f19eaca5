#!/usr/bin/env python3
"""A small peer written from docs/protocol.md alone (Python, standard library only): an
in-memory event store serving getEvents and putEvents, used to test `concord conformance`.

Without switches it keeps the protocol, and the checker must pass it. Each switch breaks one
rule, and the checker must fail it, naming the check:

  --dup-stores-twice   stores an id it already has again (and reports it accepted)
  --bad-next-after     answers next_after as the last *returned* event's sequence, so a
                       filtered reader never gets past events that do not match
  --partial-batch      stores the events before a malformed one, then answers 400
  --mangles-data       serves data changed (string values upper-cased)
  --no-401             serves without checking the bearer token

Usage: peer.py --port PORT --token TOKEN [switches]; prints "listening" once it serves.
"""

import argparse
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 * 1024 * 1024
MAX_LIMIT = 10000
STRUCTURED = "application/cloudevents+json"
BATCHED = "application/cloudevents-batch+json"
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
ATTRIBUTE = re.compile(r"^[a-z0-9]+$")


class Malformed(Exception):
    def __init__(self, index, attribute, reason):
        super().__init__(f"event at index {index}: {attribute} {reason}")
        self.index = index
        self.attribute = attribute


def check_event(event, index):
    """Raises Malformed unless `event` keeps the envelope rules (protocol §1)."""
    if not isinstance(event, dict):
        raise Malformed(index, "event", "must be a JSON object")
    if event.get("specversion") != "1.0":
        raise Malformed(index, "specversion", 'must be "1.0"')
    for name in ("id", "source", "type", "time"):
        value = event.get(name)
        if not isinstance(value, str) or not value:
            raise Malformed(index, name, "must be a non-empty string")
        if len(value.encode()) > 256 and name != "time":
            raise Malformed(index, name, "is longer than 256 bytes")
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            raise Malformed(index, name, "must not contain control characters")
    if not RFC3339.match(event["time"]):
        raise Malformed(index, "time", "is not an RFC 3339 timestamp")
    if not isinstance(event.get("data"), dict):
        raise Malformed(index, "data", "must be a JSON object")
    for name, value in event.items():
        if name in ("specversion", "id", "source", "type", "time", "data", "datacontenttype", "sequence"):
            continue
        if not ATTRIBUTE.match(name) or not isinstance(value, (str, int, float, bool)):
            raise Malformed(index, name, "is not a valid extension attribute")


def content(event):
    """What makes two events with one id the same event."""
    return {k: v for k, v in event.items() if k != "sequence"}


class Store:
    def __init__(self, defects):
        self.defects = defects
        self.events = []  # each with its "sequence"
        self.by_id = {}
        self.lock = threading.Lock()

    def put(self, events):
        with self.lock:
            results = []
            for event in events:
                known = self.by_id.get(event["id"])
                if known is not None and not self.defects.dup_stores_twice:
                    same = content(known) == content(event)
                    results.append(
                        {"id": event["id"], "status": "duplicate"}
                        if same
                        else {"id": event["id"], "status": "conflict",
                              "reason": "another event with this id is stored"}
                    )
                    continue
                stored = dict(event)
                stored.pop("sequence", None)
                stored["sequence"] = len(self.events) + 1
                self.events.append(stored)
                self.by_id.setdefault(event["id"], stored)
                results.append({"id": event["id"], "status": "accepted"})
            return results

    def read(self, after, limit, types, sources, data):
        with self.lock:
            page, next_after = [], after
            for event in self.events:
                if event["sequence"] <= after:
                    continue
                if len(page) == limit:
                    break
                next_after = event["sequence"]
                if types and event["type"] not in types:
                    continue
                if sources and event["source"] not in sources:
                    continue
                if any(not matches(event["data"], f, v) for f, v in data):
                    continue
                page.append(event)
            if self.defects.bad_next_after:
                next_after = page[-1]["sequence"] if page else after
            has_more = any(e["sequence"] > next_after for e in self.events)
            return page, next_after, has_more


def matches(data, field, value):
    if field not in data:
        return False
    actual = data[field]
    if isinstance(actual, str):
        return actual == value
    return json.dumps(actual) == value


def mangle(event):
    changed = dict(event)
    changed["data"] = {
        k: v.upper() if isinstance(v, str) else v for k, v in event["data"].items()
    }
    return changed


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, **extra):
        headers = [("WWW-Authenticate", 'Bearer realm="peer"')] if status == 401 else []
        self.answer(status, {"error": message, **extra}, headers)

    def authorized(self):
        if self.server.defects.no_401:
            return True
        expected = "Bearer " + self.server.token
        if self.headers.get("Authorization") != expected:
            self.error(401, "a valid bearer token is required")
            return False
        return True

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/health":
            return self.answer(200, {"status": "ok", "service": "python-peer",
                                     "events": len(self.server.store.events)})
        if not self.authorized():
            return
        if url.path != "/api/events":
            return self.error(404, f"no route GET {url.path}")
        after, limit, types, sources, data = 0, 1000, [], [], []
        seen = set()
        for name, value in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            if name in ("after", "limit"):
                if name in seen:
                    return self.error(400, f"{name} is given more than once", parameter=name)
                seen.add(name)
                if not value.isdigit():
                    return self.error(400, f"{name} must be a non-negative integer", parameter=name)
                if name == "after":
                    after = int(value)
                else:
                    limit = int(value)
                    if limit == 0:
                        return self.error(400, "limit must be at least 1", parameter=name)
                    limit = min(limit, MAX_LIMIT)
            elif name in ("type", "source"):
                items = [v.strip() for v in value.split(",") if v.strip()]
                (types if name == "type" else sources).extend(items)
            elif name.startswith("data.") and len(name) > 5:
                data.append((name[5:], value))
            else:
                return self.error(400, f"unknown query parameter {name!r}", parameter=name)
        page, next_after, has_more = self.server.store.read(after, limit, types, sources, data)
        if self.server.defects.mangles_data:
            page = [mangle(e) for e in page]
        self.answer(200, {"events": page, "next_after": next_after, "has_more": has_more})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            # Read and drop the body first: a client still writing it would otherwise meet a
            # closed connection instead of this answer.
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    break
                length -= len(chunk)
            self.close_connection = True
            return self.error(413, "the body is larger than 16 MiB")
        body = self.rfile.read(length)
        if not self.authorized():
            return
        if urllib.parse.urlsplit(self.path).path != "/api/events":
            return self.error(404, "no such route")
        try:
            events = self.decode(body)
        except Malformed as problem:
            return self.error(400, str(problem), index=problem.index, attribute=problem.attribute)
        except ValueError as problem:
            return self.error(400, str(problem))
        except LookupError as problem:
            return self.error(415, str(problem))
        for index, event in enumerate(events):
            try:
                check_event(event, index)
            except Malformed as problem:
                if self.server.defects.partial_batch:
                    self.server.store.put(events[:index])
                return self.error(400, str(problem), index=problem.index,
                                  attribute=problem.attribute)
        results = self.server.store.put(events)
        count = lambda status: sum(1 for r in results if r["status"] == status)
        self.answer(200, {"accepted": count("accepted"), "duplicates": count("duplicate"),
                          "conflicts": count("conflict"), "ignored": 0, "results": results})

    def decode(self, body):
        """The events of a request in any CloudEvents HTTP mode (protocol §3.1)."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in (STRUCTURED, BATCHED) and "ce-specversion" in self.headers:
            event = {name[3:].lower(): urllib.parse.unquote(value)
                     for name, value in self.headers.items() if name.lower().startswith("ce-")}
            if content_type:
                event["datacontenttype"] = content_type
            try:
                event["data"] = json.loads(body)
            except ValueError:
                raise Malformed(0, "data", "the body is not JSON")
            return [event]
        if content_type and content_type not in (STRUCTURED, BATCHED, "application/json"):
            raise LookupError(f"content type {content_type!r} carries no CloudEvents")
        try:
            parsed = json.loads(body)
        except ValueError:
            raise ValueError("the body is not JSON")
        if content_type == STRUCTURED and not isinstance(parsed, dict):
            raise ValueError("a structured body is one event object")
        if content_type == BATCHED and not isinstance(parsed, list):
            raise ValueError("a batched body is a JSON array")
        return parsed if isinstance(parsed, list) else [parsed]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    for switch in ("--dup-stores-twice", "--bad-next-after", "--partial-batch",
                   "--mangles-data", "--no-401"):
        parser.add_argument(switch, action="store_true")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.token = args.token
    server.defects = args
    server.store = Store(args)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
