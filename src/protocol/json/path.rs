//! Dotted paths into a server's frames (`"payload.unit.id"`), and whether a frame has a
//! declared shape (`{ type: "pong" }`, placeholders matching anything).

use crate::protocol::raw::RawJson;
use crate::protocol::value::Value;

/// The value at `path` in `value`, if every step is an object member.
pub fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// The value at `path` in the JSON document `raw`, as the text it arrived as.
pub fn raw_at(raw: &RawJson, path: &str) -> Option<RawJson> {
    let mut segments = path.split('.');
    let first = raw.field(segments.next()?)?;
    segments.try_fold(first, |inner, key| inner.field(key))
}

/// A string or a number as text (ids come as either); `None` for anything else.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.clone()),
        _ => None,
    }
}

/// A value as text: a string's own text, anything else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_raw().into_string(),
    }
}

/// The name of a placeholder that is the whole string (`"{since}"` → `since`).
pub fn whole_placeholder(s: &str) -> Option<&str> {
    let name = s.strip_prefix('{')?.strip_suffix('}')?;
    is_name(name).then_some(name)
}

/// A placeholder's name: letters, digits and `_`, not starting with a digit.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Equal as JSON, numbers by value (`1` and `1.0` are one number).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // serde_json reads the numbers: `str::parse::<f64>` would add core's float parser
        // and its table of powers (about 10 KB gzip) to the wasm for this one comparison.
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((number(x), number(y)), (Some(x), Some(y)) if x == y)
        }
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.iter().any(|(k2, y)| k == k2 && same(x, y)))
        }
        _ => a == b,
    }
}

fn number(text: &str) -> Option<f64> {
    serde_json::from_str(text).ok()
}

/// True when `frame` has `shape`: each member of the shape (nested objects member by member)
/// is in the frame with the same value; a member whose value is a whole placeholder
/// (`"{ts}"`) matches anything, and what it matched is added to `bound`.
pub fn has_shape(frame: &Value, shape: &Value, bound: &mut Vec<(String, Value)>) -> bool {
    match shape {
        Value::String(s) => match whole_placeholder(s) {
            Some(name) => {
                bound.push((name.to_owned(), frame.clone()));
                true
            }
            None => same(frame, shape),
        },
        Value::Object(members) => members.iter().all(|(key, want)| match frame.get(key) {
            Some(got) => has_shape(got, want, bound),
            None => matches!(want, Value::String(s) if whole_placeholder(s).is_some()),
        }),
        other => same(frame, other),
    }
}

/// True when each `path → value` member of `conditions` holds in `frame`.
pub fn holds(frame: &Value, conditions: &Value) -> bool {
    match conditions {
        Value::Object(members) => members
            .iter()
            .all(|(path, want)| at(frame, path).is_some_and(|got| same(got, want))),
        _ => false,
    }
}
