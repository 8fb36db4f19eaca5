//! `GET /api/openapi.json`: an OpenAPI 3.1 description of everything the service serves.
//!
//! Built by hand with `serde_json` from the same [`Api`] the router is built from, plus the
//! shell's fixed routes; a test checks both ways that the document and the router agree.
//! (A derive-based generator would add a large dependency for a document this small.)

use concord_core::event::Limits;
use concord_core::list::{DEFAULT_LIMIT, MAX_LIMIT, MAX_SEARCH};
use concord_core::service::{Handler, Route};
use concord_core::Api;
use serde_json::{json, Map, Value};

use crate::cloudevents_http::{BATCHED, STRUCTURED};

pub(crate) const PATH: &str = concord_core::wire::paths::OPENAPI;

/// The OpenAPI 3.1 document of service `name` whose domain routes are `api`, whose
/// catalogue describes the data of its event types with `event_schemas`, and which admits
/// events within `limits`.
pub fn document<M>(
    name: &str,
    api: &Api<M>,
    event_schemas: &[(String, Value)],
    limits: &Limits,
) -> Value {
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, operation: Value| {
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[method] = operation;
    };
    add(crate::gui::PATH, "get", page());
    add(crate::gui::COMMAND_PATH, "post", ui_command());
    add(crate::gui::SYNC_PATH, "post", ui_sync());
    add(crate::health::PATH, "get", health());
    add(crate::keys::PATH, "get", keys());
    add(crate::events::PATH, "get", get_events());
    add(crate::events::PATH, "post", put_events());
    add(crate::sync::PATH, "get", sync_status());
    add(crate::sync::PATH, "post", sync_now());
    add(PATH, "get", openapi());
    add(crate::asyncapi::PATH, "get", asyncapi());
    add(crate::auth::login::LOGIN_PATH, "get", login_page());
    add(crate::auth::login::LOGIN_PATH, "post", log_in());
    add(crate::auth::login::LOGOUT_PATH, "post", log_out());
    for route in &api.routes {
        add(
            route.path,
            &route.method().to_ascii_lowercase(),
            domain_operation(route),
        );
    }
    add_refusals(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": name,
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "The HTTP API of the Concord service {name}: its event store (getEvents, \
                 putEvents), sync links, and the domain's commands and queries. \
                 Every error answers {{\"error\": reason}}. Every operation but \
                 `GET /health` and the login page needs `Authorization: Bearer TOKEN` (the GUI \
                 also takes its session cookie)."
            ),
        },
        "paths": paths,
        "security": [{ "bearer": [] }],
        "components": {
            "schemas": schemas(event_schemas, limits),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator's token, or a peer service's (getEvents and \
                        putEvents only, within its scopes). A configuration lists SHA-256 hashes \
                        of tokens; `concord token` makes one.",
                },
            },
        },
    })
}

/// The refusals of the guard (`auth`), on every operation that needs a credential, and the
/// 415 of a POST under `/api/` that is not JSON.
fn add_refusals(paths: &mut Map<String, Value>) {
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            if operation.get("security") == Some(&json!([])) {
                continue;
            }
            let responses = &mut operation["responses"];
            // The GUI's refusals are its login page (HTML); the API's are JSON.
            if path == crate::gui::PATH || path.starts_with(crate::api::UI_PREFIX) {
                responses["401"] = html_response("No session nor credential: the login page");
                responses["403"] = html_response("A peer's credential: the login page");
            } else {
                responses["401"] = error("No credential, or one this service does not know");
                responses["403"] = error("The credential's principal may not do this");
            }
            if method == "post" && path.starts_with("/api/") {
                responses["415"] = error("The body is not JSON (nor CloudEvents)");
            }
        }
    }
}

fn login_page() -> Value {
    json!({
        "summary": "The GUI's login page: a form for the operator's token",
        "operationId": "getLogin",
        "tags": ["gui"],
        "security": [],
        "responses": { "200": html_response("The login page") },
    })
}

fn log_in() -> Value {
    json!({
        "summary": "Log in to the GUI with the operator's token; sets the session cookie",
        "operationId": "postLogin",
        "tags": ["gui"],
        "security": [],
        "requestBody": { "content": { "application/x-www-form-urlencoded": { "schema": {
            "type": "object", "required": ["token"], "properties": { "token": {"type": "string"} }
        } } } },
        "responses": {
            "303": { "description": "Logged in: the session cookie is set; on to the page" },
            "401": html_response("Not the operator's token: the login page again"),
            "403": html_response("A peer's token, or a form of another site"),
        },
    })
}

fn log_out() -> Value {
    json!({
        "summary": "End the GUI session; back to the login page",
        "operationId": "postLogout",
        "tags": ["gui"],
        "security": [],
        "responses": {
            "303": { "description": "The session is over and its cookie cleared" },
            "403": html_response("A form of another site"),
        },
    })
}

/// The `{name}` placeholders of a route path, in order.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn domain_operation<M>(route: &Route<M>) -> Value {
    let method = route.method();
    let is_list = matches!(&route.handler, Handler::Query(query) if query.is_list());
    let mut parameters: Vec<Value> = path_parameters(route.path)
        .into_iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if is_list {
        parameters.extend(list_parameters());
    }
    let operation_id: String = format!("{method}{}", route.path)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut operation = json!({
        "summary": route.summary,
        "operationId": operation_id,
        "tags": ["domain"],
        "parameters": parameters,
    });
    if method == "POST" {
        operation["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": route.schema } },
        });
        operation["responses"] = json!({
            "200": json_response("The events the command raised, once durable (empty if nothing changed)", schema_ref("CommandResult")),
            "400": error("The input is invalid"),
            "404": error("It names something this service does not know"),
            "409": error("It conflicts with the current state"),
            "413": error("The body is larger than 16 MiB"),
            "500": error("The service's domain code failed on it (a bug); nothing of it was stored"),
            "503": error("The event store failed or the service is stopping"),
        });
    } else if is_list {
        let mut page = json_response(
            "One page of the list, in no promised order across pages",
            route.schema.clone(),
        );
        page["headers"] = json!({ "Link": link_header() });
        operation["responses"] = json!({
            "200": page,
            "400": error("A malformed limit, cursor or q, a parameter given twice, or an unknown parameter (named in `parameter`)"),
            "404": error("Not known to this service"),
            "503": error("The service is stopping"),
        });
    } else {
        operation["responses"] = json!({
            "200": json_response("The answer", route.schema.clone()),
            "400": error("The request is invalid"),
            "404": error("Not known to this service"),
            "503": error("The service is stopping"),
        });
    }
    operation
}

/// The query parameters every list takes (`concord_core::list`).
fn list_parameters() -> [Value; 3] {
    [
        json!({
            "name": "limit", "in": "query", "required": false,
            "description": format!("Items per page, 1 to {MAX_LIMIT}."),
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        }),
        json!({
            "name": "cursor", "in": "query", "required": false,
            "description": "Where the page starts: copy it from a `Link` header of an earlier \
                answer (it is opaque; one this service did not hand out is refused with a 400). \
                Without it, the first page.",
            "schema": {"type": "string", "minLength": 2, "pattern": "^[A-Za-z0-9_-]+$"},
        }),
        json!({
            "name": "q", "in": "query", "required": false,
            "description": "Only items whose id or name contains this text, ignoring case.",
            "schema": {"type": "string", "maxLength": MAX_SEARCH},
        }),
    ]
}

fn link_header() -> Value {
    json!({
        "description": "RFC 8288 links to the neighbouring pages, relative to this URL: \
            `<…>; rel=\"next\"` while more remain, `<…>; rel=\"prev\"` after the first page. \
            A page may hold fewer than `limit` items — a search examines a bounded number of \
            entries per request, and items with long lists of their own end a page once they \
            list 10000 entries in all — even none: only an answer without `rel=\"next\"` is \
            the last.",
        "schema": {"type": "string"},
    })
}

fn page() -> Value {
    json!({
        "summary": "The service's GUI",
        "operationId": "getPage",
        "tags": ["shell"],
        "responses": { "200": { "description": "An HTML page", "content": { "text/html": { "schema": {"type": "string"} } } } },
    })
}

fn ui_command() -> Value {
    json!({
        "summary": "The GUI's forms: run one of the domain's commands from form fields",
        "description": "The page's forms post here. `_action` names the command's path (its \
            `{name}` segments filled from the fields of that name); `_number` and `_bool` name \
            the fields sent as JSON numbers and booleans, every other field is a string. The \
            command runs through the same handler as its JSON route.",
        "operationId": "postUiCommand",
        "tags": ["gui"],
        "requestBody": { "required": true, "content": { "application/x-www-form-urlencoded": { "schema": {
            "type": "object",
            "required": ["_action"],
            "properties": {
                "_action": {"type": "string", "description": "The command's path, e.g. /api/students"},
                "_number": {"type": "string", "description": "Comma-separated names of the fields sent as numbers"},
                "_bool": {"type": "string", "description": "Comma-separated names of the fields sent as booleans"},
            },
            "additionalProperties": {"type": "string"},
        } } } },
        "responses": {
            "303": { "description": "Done: back to the page, with a message" },
            "400": html_response("The page again, showing why the command was refused"),
            "404": html_response("The page again: the command or what it names is unknown"),
            "409": html_response("The page again: the command conflicts with the state"),
        },
    })
}

fn ui_sync() -> Value {
    json!({
        "summary": "The GUI's \"Synchronize now\": run every link, then back to the page",
        "operationId": "postUiSync",
        "tags": ["gui"],
        "responses": { "303": { "description": "Back to the page's sync panel, with a summary" } },
    })
}

fn html_response(description: &str) -> Value {
    json!({ "description": description, "content": { "text/html": { "schema": {"type": "string"} } } })
}

fn health() -> Value {
    json!({
        "summary": "Liveness, and the number of stored events",
        "operationId": "getHealth",
        "tags": ["shell"],
        "security": [],
        "responses": {
            "200": json_response("The service is up and its store answers", schema_ref("Health")),
            "503": error("The event store failed"),
        },
    })
}

fn get_events() -> Value {
    let list = |name: &str, what: &str| {
        json!({
            "name": name, "in": "query", "required": false,
            "description": format!("{what}; repeatable, or comma-separated. Empty: all."),
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form", "explode": true,
        })
    };
    json!({
        "summary": "getEvents: read the event store",
        "description": "Events after `after` in ascending sequence, filtered by type, original \
            source and `data.FIELD=VALUE` (equality on a top-level data field; numbers and \
            booleans compare by their JSON text; any number of them, all must match). \
            `next_after` is the highest sequence examined: pass it as `after` next time. \
            Unknown parameters are refused.",
        "operationId": "getEvents",
        "tags": ["events"],
        "parameters": [
            list("type", "Event types to include"),
            list("source", "Original sources to include"),
            {"name": "after", "in": "query", "required": false, "description": "Read events with a larger sequence",
             "schema": {"type": "integer", "minimum": 0, "default": 0}},
            {"name": "limit", "in": "query", "required": false, "description": "At most this many events; above 10000 reads 10000",
             "schema": {"type": "integer", "minimum": 1, "default": 1000}},
        ],
        "responses": {
            "200": json_response("A page of events", schema_ref("EventPage")),
            "400": error("A malformed `after` or `limit`, or an unknown parameter"),
            "503": error("The event store failed"),
        },
    })
}

fn put_events() -> Value {
    let event = schema_ref("CloudEvent");
    let batch = json!({"type": "array", "items": schema_ref("CloudEvent")});
    json!({
        "summary": "putEvents: hand the service external events",
        "description": "CloudEvents 1.0 in any HTTP content mode: structured (one event), \
            batched (an array; plain application/json may carry one event or an array), or \
            binary (attributes as percent-encoded `ce-*` headers, the JSON `data` as the body). \
            One malformed event fails the whole request and nothing is stored. Events this \
            service does not accept, or whose type is outside its catalogue, are ignored; ids \
            it already stores are duplicates.",
        "operationId": "putEvents",
        "tags": ["events"],
        "requestBody": {
            "required": true,
            "content": {
                STRUCTURED: { "schema": event },
                BATCHED: { "schema": batch },
                "application/json": { "schema": {"oneOf": [event, batch]} },
            },
        },
        "responses": {
            "200": json_response("What happened to each event, in order", schema_ref("PutReport")),
            "400": error("A malformed event (named by its index), one the service's model \
                fails on, or a malformed body; nothing was stored"),
            "413": error("The body is larger than 16 MiB"),
            "415": error("The content type carries no CloudEvents"),
            "500": error("The service's domain code failed rebuilding its model (a bug); \
                nothing was stored"),
            "503": error("The event store failed or the service is stopping"),
        },
    })
}

fn sync_status() -> Value {
    json!({
        "summary": "The sync links of this service and their state",
        "operationId": "getSync",
        "tags": ["sync"],
        "responses": { "200": json_response("Every link", schema_ref("SyncStatus")) },
    })
}

fn sync_now() -> Value {
    json!({
        "summary": "Run every pull and push of this service once, now",
        "operationId": "postSync",
        "tags": ["sync"],
        "requestBody": {
            "required": true,
            "description": "Any JSON (it is not read): like every POST under /api/, this one \
                needs a JSON content type (415 otherwise).",
            "content": { "application/json": { "schema": {} } },
        },
        "responses": { "200": json_response("A summary per link", schema_ref("SyncStatus")) },
    })
}

fn openapi() -> Value {
    json!({
        "summary": "This document",
        "operationId": "getOpenApi",
        "tags": ["shell"],
        "responses": { "200": json_response("OpenAPI 3.1", json!({"type": "object"})) },
    })
}

fn keys() -> Value {
    json!({
        "summary": "The public keys this service signs the events it raises with",
        "description": "Ed25519 keys (32 bytes, standard Base64) under their key ids \
            (`SERVICE/vN`), as the `keyid` of a `dssematerial` envelope names them \
            (CloudEvents Verifiability extension). Empty when the service does not sign. \
            Operators copy these into the configurations of the service's peers.",
        "operationId": "getKeys",
        "tags": ["shell"],
        "responses": { "200": json_response("The service's public keys", json!({
            "type": "object",
            "required": ["keys"],
            "properties": { "keys": { "type": "array", "items": {
                "type": "object",
                "required": ["keyid", "alg", "public"],
                "properties": {
                    "keyid": {"type": "string"},
                    "alg": {"const": "ed25519"},
                    "public": {"type": "string", "contentEncoding": "base64"},
                },
            }}},
        })) },
    })
}

fn asyncapi() -> Value {
    json!({
        "summary": "The events this service hands out (getEvents) and takes (putEvents)",
        "description": "AsyncAPI 3.0, generated from the service's event catalogue (the JSON \
            Schema of each type's data) and its acceptance rules (sources, types, data filters).",
        "operationId": "getAsyncApi",
        "tags": ["shell"],
        "responses": { "200": json_response("AsyncAPI 3.0", json!({"type": "object"})) },
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn error(description: &str) -> Value {
    json_response(description, schema_ref("Error"))
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// `text` as a regular expression that matches it in any letter case (JSON Schema's
/// patterns have no case-insensitive flag).
fn any_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else if c == '+' {
                "\\+".to_owned()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Control characters (Unicode `Cc`), which no attribute value may hold.
const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";

/// The schema components name each event type's data schema `data.TYPE` (with characters a
/// component name may not hold replaced).
fn data_schema_name(ty: &str) -> String {
    let safe: String = ty
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("data.{safe}")
}

fn schemas(event_schemas: &[(String, Value)], limits: &Limits) -> Value {
    let count = json!({"type": "integer", "minimum": 0});
    let name = |what: &str| {
        json!({
            "type": "string", "minLength": 1, "maxLength": limits.max_id_bytes,
            "pattern": format!("^[^{CONTROL}]*$"),
            "description": format!("{what}; at most {} bytes of UTF-8, no control characters", limits.max_id_bytes),
        })
    };
    // What `datacontenttype` may be: a JSON media type, with parameters, in any case.
    let json_media_type = format!(
        "^ *(?:{}|{}|[^;{CONTROL}]*{}) *(?:;[^{CONTROL}]*)?$",
        any_case("application/json"),
        any_case("text/json"),
        any_case("+json")
    );
    let envelope = json!({
        "type": "object",
        "description": format!(
            "A CloudEvents 1.0 event in JSON; Concord requires time and a data object. Other \
             members are extension attributes; a `dssematerial` (CloudEvents Verifiability: \
             a signature) must verify against the keys this service trusts for the event's \
             source, and a source that signs must sign (but for the operator). At most {} \
             bytes of JSON, nesting at most {} levels; a time at most {} ms ahead of this \
             service's clock.",
            limits.max_event_bytes, limits.max_depth, limits.max_skew_ms
        ),
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": name("Names one event for ever"),
            "source": name("The service that raised the event"),
            "type": name("The event type"),
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"anyOf": [
                {"type": "string", "pattern": json_media_type, "description": "A JSON media type"},
                {"type": "null"},
            ]},
            "sequence": {"description": "Any value, ignored: the receiver assigns its own"},
            "data": {"type": "object"},
        },
        "propertyNames": {"pattern": "^[a-z0-9]+$"},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    });
    let mut components = Map::new();
    // An event of a catalogue type must carry that type's data; any other type is ignored
    // whatever its data (but still needs the envelope).
    let event = if event_schemas.is_empty() {
        schema_ref("CloudEventEnvelope")
    } else {
        let mut branches: Vec<Value> = Vec::new();
        for (ty, schema) in event_schemas {
            let component = data_schema_name(ty);
            components.insert(component.clone(), schema.clone());
            branches.push(json!({
                "type": "object",
                "properties": {"type": {"const": ty}, "data": schema_ref(&component)},
            }));
        }
        let known: Vec<&String> = event_schemas.iter().map(|(ty, _)| ty).collect();
        branches.push(json!({
            "type": "object",
            "properties": {"type": {"not": {"enum": known}}},
        }));
        json!({"allOf": [schema_ref("CloudEventEnvelope"), {"anyOf": branches}]})
    };
    let mut all = json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "Why the request failed"},
                "index": {"type": "integer", "description": "The malformed event's position in the batch"},
                "attribute": {"type": "string", "description": "The malformed event's attribute at fault"},
                "parameter": {"type": "string", "description": "The query or path parameter at fault"},
            },
        },
        "CloudEventEnvelope": envelope,
        "CloudEvent": event,
        "StoredEvent": {
            "allOf": [
                schema_ref("CloudEvent"),
                {
                    "type": "object",
                    "required": ["sequence"],
                    "properties": {"sequence": {"type": "integer", "minimum": 1, "description": "Position in this service's store"}},
                },
            ],
        },
        "EventPage": {
            "type": "object",
            "required": ["events", "next_after", "has_more"],
            "properties": {
                "events": {"type": "array", "items": schema_ref("StoredEvent")},
                "next_after": {"type": "integer", "minimum": 0, "description": "The highest sequence examined"},
                "has_more": {"type": "boolean", "description": "Whether the store holds events after next_after"},
                "last_sequence": {"type": "integer", "minimum": 0, "description": "The store's highest sequence when the page was read"},
                "store_id": {"type": "string", "description": "The identity of this store: a cursor belongs to one store"},
            },
        },
        "PutReport": {
            "type": "object",
            "required": ["accepted", "duplicates", "conflicts", "ignored", "results", "store_id"],
            "properties": {
                "accepted": count,
                "duplicates": count,
                "conflicts": count,
                "ignored": count,
                "store_id": {"type": "string", "description": "The identity of this store"},
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "status"],
                        "properties": {
                            "id": {"type": "string"},
                            "status": {"enum": ["accepted", "duplicate", "conflict", "ignored"]},
                            "reason": {"type": "string"},
                        },
                    },
                },
            },
        },
        "CommandResult": {
            "type": "object",
            "required": ["events"],
            "properties": {"events": {"type": "array", "items": schema_ref("StoredEvent")}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "service", "events"],
            "properties": {
                "status": {"const": "ok"},
                "service": {"type": "string"},
                "events": count,
                "lastSequence": count,
            },
        },
        "SyncStatus": {
            "type": "object",
            "required": ["links"],
            "properties": {
                "links": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "peer": {"type": "string"},
                            "direction": {"enum": ["pull", "push"]},
                            "types": {"type": "array", "items": {"type": "string"}},
                            "filter": {"type": "array", "items": {"type": "string"},
                                       "description": "Data filters in query form, e.g. data.group=se-group"},
                            "cursor": count,
                            "lastSuccess": {"type": ["string", "null"]},
                            "lastError": {"type": ["string", "null"]},
                            "pending": {"type": ["integer", "null"], "minimum": 0},
                            "rejected": count,
                            "recentRejections": {
                                "type": "array",
                                "items": {"type": "object", "properties": {"id": {"type": "string"}, "reason": {"type": "string"}}},
                            },
                        },
                    },
                },
            },
        },
    });
    if let Some(map) = all.as_object_mut() {
        map.extend(components);
    }
    all
}
