//! JSON text that stays text: an app's payload, validated once by serde_json and then carried
//! as it arrived, never parsed into values or re-serialised by syncline.

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// Why a piece of text is not the JSON that was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text ended inside a value.
    #[error("unexpected end of JSON input")]
    UnexpectedEnd,
    /// Not JSON's grammar (or, where values are built, nested deeper than serde_json's 128
    /// levels) at this column.
    #[error("invalid JSON at column {0}")]
    Syntax(usize),
    /// Valid JSON of another shape than the one asked for, at this column.
    #[error("JSON of an unexpected shape at column {0}")]
    WrongType(usize),
}

impl From<serde_json::Error> for JsonError {
    fn from(error: serde_json::Error) -> Self {
        match error.classify() {
            serde_json::error::Category::Eof => Self::UnexpectedEnd,
            serde_json::error::Category::Data => Self::WrongType(error.column()),
            _ => Self::Syntax(error.column()),
        }
    }
}

/// A JSON document kept as text; it was validated when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(String);

impl RawJson {
    /// Validates `text` as one JSON value.
    pub fn parse(text: impl Into<String>) -> Result<Self, JsonError> {
        let text = text.into();
        serde_json::from_str::<IgnoredAny>(&text)?;
        Ok(Self(text))
    }

    /// JSON `null`.
    pub fn null() -> Self {
        Self("null".to_owned())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Wraps text made only of validated JSON pieces (an array of raw arguments).
    pub(crate) fn from_validated(text: String) -> Self {
        Self(text)
    }

    /// Serialises `value` (small values syncline writes itself: metadata, tokens).
    pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Self {
        // Serialising plain structs, strings and numbers into a String cannot fail.
        Self(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
    }

    /// Deserialises the text into `T`.
    pub fn read<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, JsonError> {
        Ok(serde_json::from_str(&self.0)?)
    }

    /// The elements of a JSON array, each as raw text; `None` when this is not an array.
    pub fn elements(&self) -> Option<Vec<RawJson>> {
        let items: Vec<&RawValue> = serde_json::from_str(&self.0).ok()?;
        Some(items.into_iter().map(RawJson::from).collect())
    }

    /// The member `name` of a JSON object, as raw text; `None` when this is not an object or
    /// has no such member.
    pub fn field(&self, name: &str) -> Option<RawJson> {
        let members: std::collections::HashMap<String, &RawValue> =
            serde_json::from_str(&self.0).ok()?;
        members.get(name).map(|raw| RawJson::from(*raw))
    }

    /// True when this is a JSON object.
    pub fn is_object(&self) -> bool {
        self.0.trim_start().starts_with('{')
    }

    /// This object with the member `name: value` added in front; `None` when this is not an
    /// object. The caller checks that `name` is not there yet.
    pub fn with_field(&self, name: &str, value: &RawJson) -> Option<RawJson> {
        let rest = self.0.trim_start().strip_prefix('{')?;
        let mut out = String::with_capacity(self.0.len() + name.len() + value.0.len() + 4);
        out.push('{');
        write_str(&mut out, name);
        out.push(':');
        out.push_str(&value.0);
        if !rest.trim_start().starts_with('}') {
            out.push(',');
        }
        out.push_str(rest);
        Some(Self(out))
    }

    /// The text of a JSON string, or of any other value as JSON (for ids and reasons).
    pub fn as_text(&self) -> String {
        self.read::<String>().unwrap_or_else(|_| self.0.clone())
    }

    /// A JSON array of `items`.
    pub fn list(items: &[RawJson]) -> Self {
        let mut out = String::with_capacity(2 + items.iter().map(|i| i.0.len() + 1).sum::<usize>());
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&item.0);
        }
        out.push(']');
        Self(out)
    }
}

impl From<&RawValue> for RawJson {
    fn from(raw: &RawValue) -> Self {
        Self(raw.get().to_owned())
    }
}

impl serde::Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Validated text: written as it is, not re-encoded.
        match serde_json::from_str::<&RawValue>(&self.0) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => serializer.serialize_unit(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self(String::from(raw.get())))
    }
}

/// Appends `value` as a JSON string.
pub fn write_str(out: &mut String, value: &str) {
    // A &str always serialises.
    if let Ok(text) = serde_json::to_string(value) {
        out.push_str(&text);
    }
}

/// A whole number as decimal text.
pub fn decimal(value: u64) -> String {
    let mut out = String::new();
    write_u64(&mut out, value);
    out
}

/// Appends `value` in decimal.
pub fn write_u64(out: &mut String, value: u64) {
    // A u64 always serialises.
    if let Ok(text) = serde_json::to_string(&value) {
        out.push_str(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_keeps_text() {
        let raw = RawJson::parse(r#"{"b": [1, 2.50], "a":"\u00e9"}"#).unwrap();
        assert_eq!(raw.as_str(), r#"{"b": [1, 2.50], "a":"\u00e9"}"#);
        assert_eq!(RawJson::parse("[1,"), Err(JsonError::UnexpectedEnd));
        assert!(matches!(RawJson::parse("[1,]"), Err(JsonError::Syntax(_))));
        assert!(RawJson::parse("1 2").is_err());
        // Validation walks without recursion: any depth is fine and cannot overflow a stack;
        // building a value tree of it is refused instead.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(RawJson::parse(deep.as_str()).is_ok());
        assert!(crate::protocol::value::Value::from_text(&deep).is_err());
    }

    #[test]
    fn lists_and_elements_round_trip() {
        let items = vec![RawJson::null(), RawJson::parse(r#"{"x":1}"#).unwrap()];
        let list = RawJson::list(&items);
        assert_eq!(list.as_str(), r#"[null,{"x":1}]"#);
        assert_eq!(list.elements(), Some(items));
        assert_eq!(RawJson::null().elements(), None);
    }

    #[test]
    fn writes_numbers_and_strings() {
        for n in [0, 7, 10, 12345, u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
        let mut out = String::new();
        write_str(&mut out, "a\"\n");
        assert_eq!(out, r#""a\"\n""#);
    }
}
