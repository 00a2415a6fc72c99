//! Building frames from templates: a string that is exactly `"{name}"` becomes the value
//! itself (any JSON; left out when there is none), a `{name}` inside other text becomes the
//! value as text. The defaults of `publish`, `request` and `emit` put each value at the path
//! the frames are read by.

use serde::ser::{SerializeMap, SerializeSeq};

use super::config::PLACEHOLDERS;
use super::path::{is_name, whole_placeholder};
use crate::protocol::raw::RawJson;
use crate::protocol::value::Value;

/// A frame being built: template values, and the app's payloads as they arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Value(Value),
    Raw(RawJson),
    Array(Vec<Out>),
    Object(Vec<(String, Out)>),
}

impl Out {
    /// The value as text: a string's own text, anything else as JSON.
    fn text(&self) -> String {
        match self {
            Self::Value(Value::String(s)) => s.clone(),
            Self::Raw(raw) => raw.as_text(),
            other => other.to_json().into_string(),
        }
    }

    /// The frame's JSON.
    pub fn to_json(&self) -> RawJson {
        RawJson::to_json(self)
    }

    /// The members of an object; `None` for anything else.
    fn into_members(self) -> Option<Vec<(String, Out)>> {
        match self {
            Self::Object(members) => Some(members),
            Self::Value(Value::Object(fields)) => Some(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, Self::Value(v)))
                    .collect(),
            ),
            Self::Raw(raw) if raw.is_object() => Self::Value(Value::from_raw(&raw)).into_members(),
            _ => None,
        }
    }
}

impl serde::Serialize for Out {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(value) => value.serialize(serializer),
            Self::Raw(raw) => raw.serialize(serializer),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

/// The values placeholders stand for in one frame.
#[derive(Debug, Default)]
pub struct Vars(Vec<(String, Out)>);

impl Vars {
    /// Adds `name` when it has a value.
    pub fn with(mut self, name: &str, value: Option<Out>) -> Self {
        if let Some(value) = value {
            self.0.push((name.to_owned(), value));
        }
        self
    }

    /// Adds a string.
    pub fn text(self, name: &str, value: Option<&str>) -> Self {
        self.with(name, value.map(|s| Out::Value(Value::String(s.to_owned()))))
    }

    /// Adds a whole number.
    pub fn number(self, name: &str, value: Option<u64>) -> Self {
        self.with(
            name,
            value.map(|n| {
                let mut text = String::new();
                crate::protocol::raw::write_u64(&mut text, n);
                Out::Value(Value::Number(text))
            }),
        )
    }

    fn get(&self, name: &str) -> Option<&Out> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// All values as one object (the encode callback's `message`).
    pub fn to_object(&self) -> Out {
        Out::Object(self.0.clone())
    }
}

/// A frame's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Template {
    /// As the app declared it.
    Declared(Value),
    /// Each placeholder at a path, in order (later ones nest into earlier objects); a `None`
    /// path puts the value's members at the top (data without a data path).
    Default(Vec<(Option<String>, &'static str)>),
}

impl Template {
    /// The frame for these values.
    pub fn fill(&self, vars: &Vars) -> Out {
        match self {
            Self::Declared(shape) => fill(shape, vars).unwrap_or(Out::Value(Value::Null)),
            Self::Default(entries) => {
                let mut members = Vec::new();
                for (path, name) in entries {
                    let Some(value) = vars.get(name).cloned() else {
                        continue;
                    };
                    match path {
                        Some(path) => set_path(&mut members, path, value),
                        None => match value.into_members() {
                            Some(top) => {
                                for (key, value) in top {
                                    set_path(&mut members, &key, value);
                                }
                            }
                            None => set_path(&mut members, "data", vars_value(vars, name)),
                        },
                    }
                }
                Out::Object(members)
            }
        }
    }
}

fn vars_value(vars: &Vars, name: &str) -> Out {
    vars.get(name).cloned().unwrap_or(Out::Value(Value::Null))
}

/// Sets the member at `path` (dotted; a key with dots in it is one step each), making
/// objects on the way.
fn set_path(members: &mut Vec<(String, Out)>, path: &str, value: Out) {
    let (key, rest) = match path.split_once('.') {
        Some((key, rest)) => (key, Some(rest)),
        None => (path, None),
    };
    let at = match members.iter().position(|(k, _)| k == key) {
        Some(at) => at,
        None => {
            members.push((key.to_owned(), Out::Object(Vec::new())));
            members.len() - 1
        }
    };
    let Some(slot) = members.get_mut(at) else {
        return;
    };
    match rest {
        None => slot.1 = value,
        Some(rest) => {
            let current = std::mem::replace(&mut slot.1, Out::Object(Vec::new()));
            let mut inner = current.into_members().unwrap_or_default();
            set_path(&mut inner, rest, value);
            slot.1 = Out::Object(inner);
        }
    }
}

/// A template value filled in; `None` when it is a whole placeholder with no value.
fn fill(shape: &Value, vars: &Vars) -> Option<Out> {
    Some(match shape {
        Value::String(s) => match whole_placeholder(s) {
            Some(name) if PLACEHOLDERS.contains(&name) => vars.get(name)?.clone(),
            _ => Out::Value(Value::String(substitute(s, vars))),
        },
        Value::Object(members) => Out::Object(
            members
                .iter()
                .filter_map(|(key, value)| Some((key.clone(), fill(value, vars)?)))
                .collect(),
        ),
        Value::Array(items) => Out::Array(
            items
                .iter()
                .map(|item| fill(item, vars).unwrap_or(Out::Value(Value::Null)))
                .collect(),
        ),
        other => Out::Value(other.clone()),
    })
}

/// `s` with each `{name}` replaced by the value's text (nothing when it has none).
fn substitute(s: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let (before, from) = rest.split_at(open);
        out.push_str(before);
        let name = from
            .get(1..)
            .and_then(|after| after.find('}').and_then(|close| after.get(..close)));
        match name {
            Some(name) if is_name(name) && PLACEHOLDERS.contains(&name) => {
                if let Some(value) = vars.get(name) {
                    out.push_str(&value.text());
                }
                rest = from.get(name.len() + 2..).unwrap_or("");
            }
            _ => {
                out.push('{');
                rest = from.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first placeholder in `shape` whose name syncline does not know.
pub fn unknown_placeholder(shape: &Value) -> Option<String> {
    match shape {
        Value::String(s) => names_in(s)
            .find(|name| !PLACEHOLDERS.contains(name))
            .map(str::to_owned),
        Value::Object(members) => members.iter().find_map(|(_, v)| unknown_placeholder(v)),
        Value::Array(items) => items.iter().find_map(unknown_placeholder),
        _ => None,
    }
}

/// The `{name}`s in a string.
fn names_in(s: &str) -> impl Iterator<Item = &str> {
    s.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .filter(|name| is_name(name))
}
