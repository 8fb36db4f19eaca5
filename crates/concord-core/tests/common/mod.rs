//! A toy domain for the framework's own tests: items with a name, a price and tags.
//!
//! It is built only from the public building blocks, the way a real domain would be, so the
//! tests below check what a domain author gets for free.

#![allow(dead_code)]

use concord_core::event::sample_event;
use concord_core::event::{CloudEvent, EventError, Timestamp};
use concord_core::model::{Envelope, GrowSet, Lww, Model, Registry};
use concord_core::runtime::{Catalogue, CommandError, EventDraft};
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

/// The toy domain's events, decoded: what its model matches on.
#[derive(Clone, Debug, PartialEq)]
pub enum InventoryEvent {
    Named { item: String, name: String },
    Priced { item: String, price: i64 },
    Tagged { item: String, tag: String },
}

impl Model for Inventory {
    type Event = InventoryEvent;

    fn apply(&mut self, event: &InventoryEvent, envelope: &Envelope<'_>) {
        let stamp = &envelope.stamp;
        match event {
            InventoryEvent::Named { item, name } => {
                let item = self.items.get_or_create(item.clone());
                if !name.is_empty() {
                    item.name.set(name.clone(), stamp);
                }
            }
            InventoryEvent::Priced { item, price } => {
                self.items
                    .get_or_create(item.clone())
                    .price
                    .set(*price, stamp);
            }
            InventoryEvent::Tagged { item, tag } => {
                self.items
                    .get_or_create(item.clone())
                    .tags
                    .insert(tag.clone());
            }
        }
    }
}

pub struct InventoryCatalogue;

impl Catalogue for InventoryCatalogue {
    type Event = InventoryEvent;

    fn decode(&self, event: &CloudEvent) -> Option<Result<InventoryEvent, EventError>> {
        let (field, check): (&str, fn(&Value) -> bool) = match event.ty.as_str() {
            "itemNamed" => ("name", Value::is_string),
            "itemPriced" => ("price", Value::is_i64),
            "itemTagged" => ("tag", Value::is_string),
            _ => return None,
        };
        let item = match event.data_str("itemId") {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                return Some(Err(EventError::new(
                    "data.itemId",
                    "must be a non-empty string",
                )))
            }
        };
        let Some(value) = event.data.get(field).filter(|v| check(v)) else {
            return Some(Err(EventError::new(
                format!("data.{field}"),
                "is missing or of the wrong kind",
            )));
        };
        Some(Ok(match event.ty.as_str() {
            "itemNamed" => InventoryEvent::Named {
                item,
                name: value.as_str().unwrap_or_default().to_owned(),
            },
            "itemPriced" => InventoryEvent::Priced {
                item,
                price: value.as_i64().unwrap_or_default(),
            },
            _ => InventoryEvent::Tagged {
                item,
                tag: value.as_str().unwrap_or_default().to_owned(),
            },
        }))
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
