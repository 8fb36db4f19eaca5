//! A toy domain for the framework's own tests: items with a name, a price and tags.
//!
//! It is built only from the public building blocks, the way a real domain would be, so the
//! tests below check what a domain author gets for free.

#![allow(dead_code)]

use concord_core::event::{CloudEvent, EventError, Timestamp};
use concord_core::model::{GrowSet, Lww, Model, Registry};
use concord_core::runtime::{Catalogue, CommandError, EventDraft};
use concord_core::store::conformance::sample_event;
use serde_json::{json, Value};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Item {
    pub name: Lww<String>,
    pub price: Lww<i64>,
    pub tags: GrowSet<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    pub items: Registry<String, Item>,
}

impl Model for Inventory {
    fn apply(&mut self, event: &CloudEvent) {
        let Some(item_id) = event.data_str("itemId") else {
            return;
        };
        let item = self.items.get_or_create(item_id.to_owned());
        let stamp = event.stamp();
        match event.ty.as_str() {
            "itemNamed" => {
                if let Some(name) = event.data_str("name").filter(|n| !n.is_empty()) {
                    item.name.set(name.to_owned(), &stamp);
                }
            }
            "itemPriced" => {
                if let Some(price) = event.data.get("price").and_then(Value::as_i64) {
                    item.price.set(price, &stamp);
                }
            }
            "itemTagged" => {
                if let Some(tag) = event.data_str("tag") {
                    item.tags.insert(tag.to_owned());
                }
            }
            _ => {}
        }
    }
}

pub struct InventoryCatalogue;

impl Catalogue for InventoryCatalogue {
    fn validate(&self, event: &CloudEvent) -> Option<Result<(), EventError>> {
        let (field, check): (&str, fn(&Value) -> bool) = match event.ty.as_str() {
            "itemNamed" => ("name", Value::is_string),
            "itemPriced" => ("price", Value::is_i64),
            "itemTagged" => ("tag", Value::is_string),
            _ => return None,
        };
        let id_ok = event.data_str("itemId").is_some_and(|id| !id.is_empty());
        Some(if !id_ok {
            Err(EventError::new("data.itemId", "must be a non-empty string"))
        } else if !event.data.get(field).is_some_and(check) {
            Err(EventError::new(
                format!("data.{field}"),
                "is missing or of the wrong kind",
            ))
        } else {
            Ok(())
        })
    }

    fn overwrite_key(&self, event: &CloudEvent) -> Option<String> {
        let id = event.data_str("itemId")?;
        match event.ty.as_str() {
            "itemNamed" | "itemPriced" => Some(format!("{}:{id}", event.ty)),
            "itemTagged" => Some(format!("itemTagged:{id}:{}", event.data_str("tag")?)),
            _ => None,
        }
    }
}

/// The command a domain would write: name an item, refusing empty names and unknown-price
/// items… kept tiny.
pub fn name_item(
    model: &Inventory,
    item_id: &str,
    name: &str,
) -> Result<Vec<EventDraft>, CommandError> {
    if name.is_empty() {
        return Err(CommandError::Invalid("name must not be empty".into()));
    }
    let current = model.items.get(item_id).and_then(|i| i.name.get());
    if current.map(String::as_str) == Some(name) {
        return Ok(vec![]);
    }
    Ok(vec![EventDraft::new(
        "itemNamed",
        json!({"itemId": item_id, "name": name}),
    )])
}

pub fn price_item(
    model: &Inventory,
    item_id: &str,
    price: i64,
) -> Result<Vec<EventDraft>, CommandError> {
    if !model.items.contains(item_id) {
        return Err(CommandError::NotFound(format!("item {item_id} is unknown")));
    }
    Ok(vec![EventDraft::new(
        "itemPriced",
        json!({"itemId": item_id, "price": price}),
    )])
}

/// An external event with an explicit time (milliseconds after an arbitrary origin).
pub fn external(id: &str, source: &str, ty: &str, millis: i64, data: Value) -> CloudEvent {
    let mut event = sample_event(id, source, ty, data);
    event = CloudEvent::new(
        event.id.clone(),
        event.source.clone(),
        event.ty.clone(),
        Timestamp::from_unix_nanos(1_790_000_000_000_000_000 + i128::from(millis) * 1_000_000),
        event.data.clone(),
    );
    event
}
