//! A JSON value tree, for the few places that must look inside a payload: merging documents
//! and reading a coalescing key. Objects keep their key order (no map type is needed).

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};

use super::raw::{JsonError, RawJson};

/// A parsed JSON value. Objects compare equal whatever their key order (JSON objects are
/// unordered); arrays compare in order.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number as JSON text (as serde_json reads it: `1.50` is `1.5`).
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Fields in their order; keys are unique (the first of duplicates is kept).
    Object(Vec<(String, Value)>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Null, Self::Null) => true,
            (Self::Bool(a), Self::Bool(b)) => a == b,
            (Self::Number(a), Self::Number(b)) => a == b,
            (Self::String(a), Self::String(b)) => a == b,
            (Self::Array(a), Self::Array(b)) => a == b,
            (Self::Object(a), Self::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
            }
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Value {
    /// Parses JSON text (nesting is bounded by serde_json).
    pub fn from_text(text: &str) -> Result<Self, JsonError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Parses a validated document (never fails in practice; `Null` if it somehow does).
    pub fn from_raw(raw: &RawJson) -> Self {
        Self::from_text(raw.as_str()).unwrap_or(Self::Null)
    }

    /// Appends the value as JSON text.
    pub fn write(&self, out: &mut String) {
        out.push_str(self.to_raw().as_str());
    }

    /// The value as a JSON document.
    pub fn to_raw(&self) -> RawJson {
        RawJson::to_json(self)
    }

    /// A field of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a dotted path (`"match.id"`), for coalescing keys.
    pub fn at_path(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(self, |v, key| v.get(key))
    }

    /// A non-negative integer value.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// A string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Number(n) => match n.parse::<serde_json::Number>() {
                Ok(number) => number.serialize(serializer),
                Err(_) => serializer.serialize_unit(),
            },
            Self::String(s) => serializer.serialize_str(s),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (key, value) in fields {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(serde_json::Number::from(n).to_string()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(serde_json::Number::from(n).to_string()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, |n| Value::Number(n.to_string())))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            // The first of duplicate keys wins.
            if !fields.iter().any(|(k, _)| *k == key) {
                fields.push((key, value));
            }
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_back() {
        for text in [
            "null",
            "true",
            "-1.5e3",
            "\"a\\u00e9\"",
            "[1,[2],{}]",
            r#"{"a":{"b":[1,"x",null]},"c":false}"#,
        ] {
            let v = Value::from_text(text).unwrap();
            let mut out = String::new();
            v.write(&mut out);
            assert_eq!(Value::from_text(&out).unwrap(), v, "{text}");
        }
        assert!(Value::from_text("[1,").is_err());
        assert!(Value::from_text("").is_err());
        assert_eq!(
            Value::from_text(r#"{"a":1,"a":2}"#).unwrap(),
            Value::Object(vec![("a".into(), Value::Number("1".into()))]),
            "first of duplicate keys"
        );
    }

    #[test]
    fn objects_are_equal_whatever_the_key_order() {
        assert_eq!(
            Value::from_text(r#"{"a":1,"b":[2]}"#).unwrap(),
            Value::from_text(r#"{"b":[2],"a":1}"#).unwrap()
        );
        assert_ne!(
            Value::from_text("[1,2]").unwrap(),
            Value::from_text("[2,1]").unwrap()
        );
        assert_ne!(
            Value::from_text(r#"{"a":1}"#).unwrap(),
            Value::from_text(r#"{"a":1,"b":2}"#).unwrap()
        );
    }

    #[test]
    fn reads_paths() {
        let v = Value::from_text(r#"{"match":{"id":"m7","n":3}}"#).unwrap();
        assert_eq!(v.at_path("match.id").and_then(Value::as_str), Some("m7"));
        assert_eq!(v.at_path("match.n").and_then(Value::as_u64), Some(3));
        assert_eq!(v.at_path("match.none"), None);
    }
}
