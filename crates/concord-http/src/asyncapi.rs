//! `GET /api/asyncapi.json`: an AsyncAPI 3.0 description of the events a service exchanges —
//! the event-driven counterpart of its OpenAPI document (docs/protocol.md §6).
//!
//! Generated from what the service itself decides with, so it cannot drift: the catalogue's
//! data schemas ([`Catalogue::schemas`](concord_core::runtime::Catalogue::schemas)), the
//! acceptance policy and the intake limits. Two operations on the one HTTP channel
//! `/api/events`:
//! - `getEvents` (action `send`: the service hands these out): its own events — its name as
//!   `source`, any type of its catalogue — and every event it accepted from others, relayed
//!   unchanged;
//! - `putEvents` (action `receive`): one message per acceptance rule — the original `source`,
//!   the `type`, and the data schema narrowed by the rule's filters.
//!
//! Every message's payload is the whole CloudEvent (docs/protocol.md §1), its `data` a `$ref` to the
//! type's schema under `components.schemas`. A message also carries `x-concord-source`,
//! `x-concord-type` and (accepted ones) `x-concord-filter`, so that a tool such as
//! `concord conformance` need not pick them out of the schema.

use concord_core::acceptance::{AcceptancePolicy, AcceptanceRule};
use concord_core::event::Limits;
use serde_json::{json, Map, Value};

use crate::cloudevents_http::{BATCHED, STRUCTURED};

pub(crate) const PATH: &str = concord_core::wire::paths::ASYNCAPI;

/// The AsyncAPI 3.0 document of service `name`: `schemas` are its catalogue's data schemas
/// by type, `policy` what it accepts, `limits` what it admits at intake.
pub fn document(
    name: &str,
    schemas: &[(String, Value)],
    policy: &AcceptancePolicy,
    limits: &Limits,
) -> Value {
    let mut messages = Map::new();
    let mut data_schemas = Map::new();
    for (ty, schema) in schemas {
        data_schemas.insert(ty.clone(), schema.clone());
    }
    let mut published = Vec::new();
    for (ty, _) in schemas {
        let key = message_key("own", name, ty);
        messages.insert(
            key.clone(),
            message(
                name,
                ty,
                &[],
                schemas,
                limits,
                format!("A {ty} event this service raised"),
            ),
        );
        published.push(key);
    }
    let mut accepted = Vec::new();
    for rule in &policy.rules {
        let key = message_key("accepted", &rule.source, &rule.ty);
        if messages.contains_key(&key) {
            // Two rules for one (source, type) with different filters: either accepts.
            continue;
        }
        let filters = same_kind_filters(policy, rule);
        messages.insert(
            key.clone(),
            message(
                &rule.source,
                &rule.ty,
                &filters,
                schemas,
                limits,
                format!(
                    "A {} event raised by {}, accepted {}",
                    rule.ty,
                    rule.source,
                    describe_filters(&filters)
                ),
            ),
        );
        accepted.push(key.clone());
        // What a service accepted it stores, and so hands on through getEvents.
        published.push(key);
    }
    let refs = |keys: &[String]| -> Map<String, Value> {
        keys.iter()
            .map(|k| {
                (
                    k.clone(),
                    json!({ "$ref": format!("#/components/messages/{k}") }),
                )
            })
            .collect()
    };
    let operation_refs = |channel: &str, keys: &[String]| -> Vec<Value> {
        keys.iter()
            .map(|k| json!({ "$ref": format!("#/channels/{channel}/messages/{k}") }))
            .collect()
    };
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": name,
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "The events of the Concord service {name}: what it hands out through getEvents \
                 (`GET /api/events`) and what it takes through putEvents (`POST /api/events`). \
                 Events are CloudEvents 1.0 in JSON; every one needs `time` and a `data` object. \
                 The protocol: docs/protocol.md of the Concord repository."
            ),
        },
        "defaultContentType": STRUCTURED,
        "channels": {
            "getEvents": {
                "address": crate::events::PATH,
                "title": "getEvents",
                "description": "Pages of stored events in ascending `sequence`: \
                    `GET /api/events?after=N&limit=L&type=…&source=…&data.FIELD=VALUE` answers \
                    `{\"events\",\"next_after\",\"has_more\"}`. Served events carry `sequence`.",
                "messages": refs(&published),
                "bindings": { "http": { "method": "GET" } },
            },
            "putEvents": {
                "address": crate::events::PATH,
                "title": "putEvents",
                "description": format!(
                    "One event or a batch, in any CloudEvents HTTP mode ({STRUCTURED}, \
                     {BATCHED}, application/json, or binary with ce-* headers). One malformed \
                     event refuses the whole request (400 naming its index); otherwise each \
                     event is reported accepted, duplicate, conflict or ignored. Events no \
                     message here describes are ignored."
                ),
                "messages": refs(&accepted),
                "bindings": { "http": { "method": "POST" } },
            },
        },
        "operations": {
            "getEvents": {
                "action": "send",
                "title": "getEvents",
                "summary": "The events this service hands out to readers",
                "channel": { "$ref": "#/channels/getEvents" },
                "messages": operation_refs("getEvents", &published),
                "security": [{ "$ref": "#/components/securitySchemes/bearer" }],
                "bindings": { "http": { "method": "GET" } },
            },
            "putEvents": {
                "action": "receive",
                "title": "putEvents",
                "summary": "The events this service accepts from others",
                "channel": { "$ref": "#/channels/putEvents" },
                "messages": operation_refs("putEvents", &accepted),
                "security": [{ "$ref": "#/components/securitySchemes/bearer" }],
                "bindings": { "http": { "method": "POST" } },
            },
        },
        "components": {
            "messages": messages,
            "schemas": data_schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator's token, or a peer service's within its read \
                        and put scopes.",
                },
            },
        },
    })
}

/// A message key (`[A-Za-z0-9._-]` only, as AsyncAPI's component keys must be).
fn message_key(kind: &str, source: &str, ty: &str) -> String {
    format!("{kind}.{source}.{ty}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The filters of `rule`, or none when another rule for the same (source, type) has none
/// (then every such event is accepted, whatever its data).
fn same_kind_filters(policy: &AcceptancePolicy, rule: &AcceptanceRule) -> Vec<(String, String)> {
    let same: Vec<&AcceptanceRule> = policy
        .rules
        .iter()
        .filter(|r| r.source == rule.source && r.ty == rule.ty)
        .collect();
    if same.iter().any(|r| r.data.is_empty()) || same.len() > 1 {
        // Several filtered rules accept a union, which one message's filter cannot say;
        // the data schema then names none and the description lists nothing narrower.
        return Vec::new();
    }
    rule.data
        .iter()
        .map(|f| (f.field.clone(), f.value.clone()))
        .collect()
}

fn describe_filters(filters: &[(String, String)]) -> String {
    if filters.is_empty() {
        return "whatever its data".to_owned();
    }
    let parts: Vec<String> = filters.iter().map(|(f, v)| format!("{f}={v}")).collect();
    format!("where {}", parts.join(" and "))
}

/// One message: the CloudEvent envelope with `source` and `type` fixed and `data` the type's
/// schema, narrowed by `filters`.
fn message(
    source: &str,
    ty: &str,
    filters: &[(String, String)],
    schemas: &[(String, Value)],
    limits: &Limits,
    summary: String,
) -> Value {
    let known = schemas.iter().any(|(t, _)| t == ty);
    let base = if known {
        json!({ "$ref": format!("#/components/schemas/{ty}") })
    } else {
        json!({ "type": "object" })
    };
    let data = if filters.is_empty() {
        base
    } else {
        let properties: Map<String, Value> = filters
            .iter()
            .map(|(field, value)| (field.clone(), filter_schema(value)))
            .collect();
        let required: Vec<&String> = filters.iter().map(|(f, _)| f).collect();
        json!({ "allOf": [base, { "type": "object", "required": required, "properties": properties }] })
    };
    let name_schema = |description: &str| {
        json!({
            "type": "string", "minLength": 1,
            "description": format!(
                "{description}; at most {} bytes of UTF-8, no control characters",
                limits.max_id_bytes
            ),
        })
    };
    let mut payload = json!({
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": { "const": "1.0" },
            "id": name_schema("Unique for ever, in every service"),
            "source": { "const": source },
            "type": { "const": ty },
            "time": { "type": "string", "format": "date-time", "description": format!(
                "RFC 3339; at most {} ms ahead of the receiver's clock",
                limits.max_skew_ms
            ) },
            "datacontenttype": { "type": "string", "description": "A JSON media type" },
            "sequence": { "type": "integer", "minimum": 1,
                          "description": "Only on served events: the position in the serving store" },
            "data": data,
        },
        "additionalProperties": { "type": ["string", "number", "boolean"] },
    });
    payload["description"] = json!(format!(
        "A CloudEvent of at most {} bytes of JSON, nesting at most {} levels",
        limits.max_event_bytes, limits.max_depth
    ));
    let mut message = json!({
        "name": ty,
        "title": format!("{ty} from {source}"),
        "summary": summary,
        "contentType": STRUCTURED,
        "payload": payload,
        "x-concord-source": source,
        "x-concord-type": ty,
    });
    if !filters.is_empty() {
        message["x-concord-filter"] = filters
            .iter()
            .map(|(field, value)| json!({ "field": field, "value": value }))
            .collect();
    }
    message
}

/// What a filter `field=value` admits: the string `value`, or the number or boolean whose
/// JSON text it is (filters compare non-strings by their JSON text).
fn filter_schema(value: &str) -> Value {
    match serde_json::from_str::<Value>(value) {
        Ok(parsed @ (Value::Number(_) | Value::Bool(_))) => {
            json!({ "anyOf": [{ "const": value }, { "const": parsed }] })
        }
        _ => json!({ "const": value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        let schemas = vec![
            (
                "noteWritten".to_owned(),
                json!({"type": "object", "required": ["noteId"]}),
            ),
            ("noteShared".to_owned(), json!({"type": "object"})),
        ];
        let policy = AcceptancePolicy::new(vec![
            AcceptanceRule::new("other", "noteWritten").with_data("group", "a"),
            AcceptanceRule::new("third", "noteShared"),
            AcceptanceRule::new("third", "unknownType"),
        ]);
        document("notes", &schemas, &policy, &Limits::default())
    }

    #[test]
    fn publishes_every_catalogue_type_and_every_accepted_kind() {
        let doc = doc();
        assert_eq!(doc["asyncapi"], "3.0.0");
        let published = doc["channels"]["getEvents"]["messages"]
            .as_object()
            .unwrap();
        let keys: Vec<&str> = published.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "accepted.other.noteWritten",
                "accepted.third.noteShared",
                "accepted.third.unknownType",
                "own.notes.noteShared",
                "own.notes.noteWritten",
            ]
        );
        let own = &doc["components"]["messages"]["own.notes.noteWritten"]["payload"];
        assert_eq!(own["properties"]["source"]["const"], "notes");
        assert_eq!(own["properties"]["type"]["const"], "noteWritten");
        assert_eq!(
            own["properties"]["data"]["$ref"],
            "#/components/schemas/noteWritten"
        );
        assert_eq!(
            doc["components"]["schemas"]["noteWritten"]["required"][0],
            "noteId"
        );
    }

    #[test]
    fn accepted_messages_carry_source_type_and_filters() {
        let doc = doc();
        let operation = &doc["operations"]["putEvents"];
        assert_eq!(operation["action"], "receive");
        assert_eq!(operation["messages"].as_array().unwrap().len(), 3);
        let filtered = &doc["components"]["messages"]["accepted.other.noteWritten"];
        assert_eq!(filtered["x-concord-source"], "other");
        assert_eq!(
            filtered["x-concord-filter"],
            json!([{"field": "group", "value": "a"}])
        );
        let data = &filtered["payload"]["properties"]["data"];
        assert_eq!(data["allOf"][1]["properties"]["group"]["const"], "a");
        // A type outside the catalogue: any data object.
        let unknown = &doc["components"]["messages"]["accepted.third.unknownType"];
        assert_eq!(unknown["payload"]["properties"]["data"]["type"], "object");
        // Every operation's message refers to a message of its channel.
        for (name, op) in doc["operations"].as_object().unwrap() {
            for reference in op["messages"].as_array().unwrap() {
                let path = reference["$ref"].as_str().unwrap();
                let key = path.rsplit('/').next().unwrap();
                assert!(
                    doc["channels"][name]["messages"].get(key).is_some(),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn a_numeric_filter_admits_the_number_and_its_text() {
        assert_eq!(
            filter_schema("5"),
            json!({"anyOf": [{"const": "5"}, {"const": 5}]})
        );
        assert_eq!(filter_schema("se"), json!({"const": "se"}));
    }
}
