//! A JSON value tree, for the few places that must look inside a payload: merging documents
//! and reading a coalescing key. Numbers keep their text; objects keep their key order.

use super::envelope::RawJson;
use super::json::{self, JsonError};

/// A parsed JSON value. Objects compare equal whatever their key order (JSON objects are
/// unordered); arrays compare in order.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's JSON text, as written.
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
    /// Parses JSON text (depth is bounded by the scanner).
    pub fn from_text(text: &str) -> Result<Self, JsonError> {
        let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        Ok(match text.as_bytes().first() {
            None => return Err(JsonError::UnexpectedEnd),
            Some(b'{') => {
                let mut fields: Vec<(String, Value)> = Vec::new();
                for (key, raw) in json::object_fields(text)? {
                    if !fields.iter().any(|(k, _)| *k == key) {
                        fields.push((key.into_owned(), Self::from_text(raw)?));
                    }
                }
                Self::Object(fields)
            }
            Some(b'[') => Self::Array(
                json::array_elements(text)?
                    .into_iter()
                    .map(Self::from_text)
                    .collect::<Result<_, _>>()?,
            ),
            Some(b'"') => Self::String(json::as_str(text)?.into_owned()),
            Some(b't') | Some(b'f') => Self::Bool(json::as_bool(text)?),
            Some(b'n') if json::is_null(text) => Self::Null,
            Some(_) => {
                json::validate(text)?;
                Self::Number(text.to_owned())
            }
        })
    }

    /// Parses a validated document (never fails in practice; `Null` if it somehow does).
    pub fn from_raw(raw: &RawJson) -> Self {
        Self::from_text(raw.as_str()).unwrap_or(Self::Null)
    }

    /// Appends the value as JSON text.
    pub fn write(&self, out: &mut String) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Number(n) => out.push_str(n),
            Self::String(s) => json::write_str(out, s),
            Self::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Self::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json::write_str(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    /// The value as a JSON document.
    pub fn to_raw(&self) -> RawJson {
        let mut out = String::new();
        self.write(&mut out);
        // Written by `write`, which only produces valid JSON.
        RawJson::parse(out).unwrap_or_else(|_| RawJson::null())
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
            Self::Number(n) => json::as_u64(n).ok(),
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
