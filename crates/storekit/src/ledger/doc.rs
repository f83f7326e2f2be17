//! [`Doc`]: a JSON object of the ledger (a decoded transaction, a renewal info, an app
//! transaction, the scheduler's state) kept as the compact text the database stores, parsed
//! only by whoever reads a field of it.
//!
//! A simulated day holds tens of thousands of ledger rows in memory (crates/storekit
//! `ledger::overlay`); as `serde_json::Value` trees they took about five times the bytes of their
//! text, were parsed when read from the database and serialized again when written back. As
//! text they are read and written as they are, and a clone of a row shares its documents.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A JSON object as its compact text, shared by clones (see the module comment).
#[derive(Clone, Default)]
pub struct Doc(Arc<Inner>);

#[derive(Default)]
struct Inner {
    text: Box<str>,
    /// The parsed document, once [`Doc::json`] was asked (the reports read many fields of
    /// every row); never filled by [`Doc::get`] (the simulator's day reads one field of a row
    /// it keeps in memory).
    parsed: OnceLock<Value>,
}

impl PartialEq for Doc {
    fn eq(&self, other: &Doc) -> bool {
        self.text() == other.text()
    }
}

impl Eq for Doc {}

impl Doc {
    /// The document of `v` (a payload struct, a `Value`).
    pub fn of<T: Serialize + ?Sized>(v: &T) -> serde_json::Result<Doc> {
        Ok(Doc::from_text(serde_json::to_string(v)?))
    }

    /// A document from its stored text (the ledger's own column: not checked here; a text that
    /// does not parse reads as `null`).
    pub fn from_text(text: String) -> Doc {
        Doc(Arc::new(Inner {
            text: text.into(),
            parsed: OnceLock::new(),
        }))
    }

    /// The stored text.
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// Whether the document is a JSON object.
    pub fn is_object(&self) -> bool {
        self.text().starts_with('{')
    }

    /// The document parsed (`null` if the stored text is not JSON), a copy of its own.
    pub fn value(&self) -> Value {
        match self.0.parsed.get() {
            Some(v) => v.clone(),
            None => serde_json::from_str(self.text()).unwrap_or(Value::Null),
        }
    }

    /// The document parsed once and kept with it (and its clones): for a reader of many
    /// fields of many rows.
    pub fn json(&self) -> &Value {
        self.0
            .parsed
            .get_or_init(|| serde_json::from_str(self.text()).unwrap_or(Value::Null))
    }

    /// The document read as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.text())
    }

    /// One top-level field (parses the document: read several fields from [`Doc::value`]).
    pub fn get(&self, key: &str) -> Option<Value> {
        match self.value() {
            Value::Object(mut m) => m.remove(key),
            _ => None,
        }
    }

    /// Changes the object's fields in place (keys keep their order; new keys go last).
    pub fn edit(&mut self, f: impl FnOnce(&mut Map<String, Value>)) {
        if let Value::Object(mut m) = self.value() {
            f(&mut m);
            *self = Doc::of(&m).expect("a JSON map serializes");
        }
    }

    /// The text with the top-level `signedDate` set to `at`: in place where the document has
    /// one, else appended last (a JWS payload's `signedDate`; the stored documents have none).
    pub fn signed_at(&self, at: i64) -> String {
        let t = self.text();
        if t.contains("\"signedDate\"") {
            let mut v = self.value();
            if let Value::Object(m) = &mut v {
                if let Some(d) = m.get_mut("signedDate") {
                    *d = at.into();
                } else {
                    m.insert("signedDate".into(), at.into());
                }
            }
            return v.to_string();
        }
        match t.strip_suffix('}') {
            Some("{") => format!("{{\"signedDate\":{at}}}"),
            Some(head) => format!("{head},\"signedDate\":{at}}}"),
            None => t.to_string(),
        }
    }
}

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// `doc["field"]`: a field of the parsed document ([`Doc::json`]; `null` when absent).
impl std::ops::Index<&str> for Doc {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        &self.json()[key]
    }
}

/// Embedded in another document as the JSON it holds (the admin API's answers).
impl Serialize for Doc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl From<Value> for Doc {
    fn from(v: Value) -> Doc {
        Doc::from_text(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signed_date_goes_last_or_in_place_as_the_value_path_puts_it() {
        let plain = Doc::from(json!({"transactionId": "1", "price": 4990}));
        assert_eq!(
            plain.signed_at(7),
            r#"{"transactionId":"1","price":4990,"signedDate":7}"#
        );
        assert_eq!(Doc::from(json!({})).signed_at(7), r#"{"signedDate":7}"#);
        let had = Doc::from(json!({"signedDate": 1, "a": {"signedDate": 2}}));
        assert_eq!(had.signed_at(7), r#"{"signedDate":7,"a":{"signedDate":2}}"#);
    }

    #[test]
    fn an_edit_keeps_the_order_of_the_keys_and_the_text_is_what_serde_writes() {
        let mut d = Doc::from(json!({"b": 1, "a": 2}));
        d.edit(|m| {
            m.insert("a".into(), 3.into());
            m.insert("c".into(), true.into());
        });
        assert_eq!(d.text(), r#"{"b":1,"a":3,"c":true}"#);
        assert_eq!(d.get("a"), Some(json!(3)));
        assert_eq!(d.json()["c"], json!(true));
        assert_eq!(d.clone().json()["b"], json!(1));
        let shared = d.clone();
        assert_eq!(
            (d.text(), shared["a"].clone()),
            (r#"{"b":1,"a":3,"c":true}"#, json!(3))
        );
        assert_eq!(Doc::from_text("not json".into()).value(), Value::Null);
    }
}
