//! Events the service under test will accept: read from a sample file (a JSON array of
//! CloudEvents) or generated from its AsyncAPI document, then given fresh ids and times for
//! each use, so that every run of the checker sends events no service has seen.

use serde_json::{json, Map, Value};

use crate::ConformanceError;

/// The kinds of event a service accepts: templates whose `id` and `time` are replaced.
#[derive(Clone, Debug)]
pub struct Samples {
    templates: Vec<Value>,
    run: String,
    made: usize,
}

impl Samples {
    /// Templates from a sample file's JSON: an array of CloudEvent objects, each with at least
    /// `source`, `type` and a `data` object (`id` and `time` may be anything: they are
    /// replaced).
    pub fn from_file_json(value: &Value, run: &str) -> Result<Self, ConformanceError> {
        let Some(items) = value.as_array() else {
            return Err(ConformanceError::Samples(
                "the sample file must hold a JSON array of CloudEvents".into(),
            ));
        };
        let mut templates = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let ok = item.get("source").is_some_and(Value::is_string)
                && item.get("type").is_some_and(Value::is_string)
                && item.get("data").is_some_and(Value::is_object);
            if !ok {
                return Err(ConformanceError::Samples(format!(
                    "sample {index} needs a string source and type and a data object"
                )));
            }
            let mut template = item.clone();
            template["specversion"] = json!("1.0");
            if let Some(object) = template.as_object_mut() {
                object.remove("sequence");
            }
            templates.push(template);
        }
        Self::new(templates, run)
    }

    /// Templates from an AsyncAPI 3.0 document: one per message of the `putEvents`
    /// operation (what the service accepts), its data generated from the message's schema.
    pub fn from_asyncapi(doc: &Value, run: &str) -> Result<Self, ConformanceError> {
        let references = doc
            .pointer("/operations/putEvents/messages")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ConformanceError::Samples(
                    "the AsyncAPI document has no operations.putEvents.messages".into(),
                )
            })?;
        let mut templates = Vec::new();
        for reference in references {
            let message = resolve(doc, reference, 0);
            let payload = resolve(doc, &message["payload"], 0);
            let constant = |name: &str| -> Option<String> {
                message[format!("x-concord-{name}")]
                    .as_str()
                    .or_else(|| {
                        payload
                            .pointer(&format!("/properties/{name}/const"))?
                            .as_str()
                    })
                    .map(str::to_owned)
            };
            let (Some(source), Some(ty)) = (constant("source"), constant("type")) else {
                return Err(ConformanceError::Samples(format!(
                    "a putEvents message names no source and type: {reference}"
                )));
            };
            let data = instance(doc, &payload["properties"]["data"], 0);
            if !data.is_object() {
                return Err(ConformanceError::Samples(format!(
                    "the data schema of {ty} from {source} is not an object"
                )));
            }
            templates.push(json!({
                "specversion": "1.0", "source": source, "type": ty,
                "datacontenttype": "application/json", "data": data,
            }));
        }
        Self::new(templates, run)
    }

    fn new(templates: Vec<Value>, run: &str) -> Result<Self, ConformanceError> {
        if templates.is_empty() {
            return Err(ConformanceError::Samples(
                "no sample events: the service accepts nothing the checker could send".into(),
            ));
        }
        Ok(Samples {
            templates,
            run: run.to_owned(),
            made: 0,
        })
    }

    /// How many kinds of event there are.
    pub fn kinds(&self) -> usize {
        self.templates.len()
    }

    /// `n` fresh events, cycling through the kinds: new ids, the time `now`.
    pub fn fresh(&mut self, n: usize, now: &str) -> Vec<Value> {
        (0..n)
            .map(|_| {
                let mut event = self.templates[self.made % self.templates.len()].clone();
                self.made += 1;
                event["id"] = json!(format!("{}-{}", self.run, self.made));
                event["time"] = json!(now);
                event
            })
            .collect()
    }
}

/// Follows a local `$ref` (`#/a/b`), a few levels deep at most.
fn resolve(doc: &Value, value: &Value, depth: usize) -> Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) if depth < 16 => {
            let target = reference
                .strip_prefix('#')
                .and_then(|pointer| doc.pointer(pointer))
                .cloned()
                .unwrap_or(Value::Null);
            resolve(doc, &target, depth + 1)
        }
        _ => value.clone(),
    }
}

/// A value valid under a JSON Schema — the simple schemas a data catalogue uses: objects
/// with required properties, strings with a minimum length, enums and constants, numbers
/// with bounds, `allOf`/`anyOf`/`oneOf`. Optional properties are left out.
pub fn instance(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema, 0);
    if depth > 16 {
        return Value::Null;
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        // Merge objects; otherwise the last part decides.
        let mut merged = Map::new();
        let mut last = Value::Null;
        for part in parts {
            match instance(doc, part, depth + 1) {
                Value::Object(fields) => merged.extend(fields),
                other => last = other,
            }
        }
        return if merged.is_empty() {
            last
        } else {
            Value::Object(merged)
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return instance(doc, first, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(ty)) => ty.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_owned(),
        _ if schema.get("properties").is_some() => "object".to_owned(),
        _ => "object".to_owned(),
    };
    match ty.as_str() {
        "object" => {
            let mut fields = Map::new();
            let properties = schema.get("properties").cloned().unwrap_or(json!({}));
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let property = properties.get(name).cloned().unwrap_or(json!({}));
                fields.insert(name.to_owned(), instance(doc, &property, depth + 1));
            }
            Value::Object(fields)
        }
        "string" => {
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            let mut text = "conformance-sample".to_owned();
            while text.len() < min {
                text.push('x');
            }
            json!(text)
        }
        "integer" | "number" => {
            let minimum = schema.get("minimum").and_then(Value::as_f64);
            let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_f64);
            let value = match (minimum, exclusive) {
                (_, Some(e)) => e.floor() + 1.0,
                (Some(m), None) => m.ceil(),
                (None, None) => 1.0,
            };
            json!(value as i64)
        }
        "boolean" => json!(true),
        "array" => json!([]),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_from_an_asyncapi_document() {
        let doc = json!({
            "operations": {"putEvents": {"messages": [{"$ref": "#/channels/putEvents/messages/m"}]}},
            "channels": {"putEvents": {"messages": {"m": {"$ref": "#/components/messages/m"}}}},
            "components": {
                "messages": {"m": {
                    "x-concord-source": "office", "x-concord-type": "enrolled",
                    "payload": {"properties": {"data": {"allOf": [
                        {"$ref": "#/components/schemas/enrolled"},
                        {"type": "object", "required": ["group"], "properties": {"group": {"const": "se"}}}
                    ]}}},
                }},
                "schemas": {"enrolled": {"type": "object", "required": ["studentId", "points", "grade", "group"],
                    "properties": {"studentId": {"type": "string", "minLength": 1},
                                   "points": {"type": "integer", "exclusiveMinimum": 0},
                                   "grade": {"type": "number", "enum": [1.0, 1.3]},
                                   "group": {"type": "string", "enum": ["theory", "se"]},
                                   "note": {"type": "string"}}}},
            },
        });
        let mut samples = Samples::from_asyncapi(&doc, "run").unwrap();
        let events = samples.fresh(2, "2026-11-30T10:00:00Z");
        assert_eq!(events[0]["source"], "office");
        assert_eq!(events[0]["type"], "enrolled");
        assert_eq!(
            events[0]["data"],
            json!({"studentId": "conformance-sample", "points": 1, "grade": 1.0, "group": "se"})
        );
        assert_eq!(
            (&events[0]["id"], &events[1]["id"]),
            (&json!("run-1"), &json!("run-2"))
        );
        assert_eq!(events[1]["time"], "2026-11-30T10:00:00Z");
    }

    #[test]
    fn a_sample_file_needs_source_type_and_data() {
        let good = json!([{"source": "s", "type": "t", "data": {}, "sequence": 4}]);
        let mut samples = Samples::from_file_json(&good, "r").unwrap();
        let event = &samples.fresh(1, "2026-11-30T10:00:00Z")[0];
        assert!(event.get("sequence").is_none());
        assert_eq!(event["specversion"], "1.0");
        for bad in [json!({}), json!([{"source": "s", "type": "t"}]), json!([])] {
            assert!(Samples::from_file_json(&bad, "r").is_err(), "{bad}");
        }
    }
}
