//! How two values of one document combine: patches, and the conflict strategies.

use crate::protocol::value::Value;

/// How a conflict between the value the server already holds and a concurrent change is
/// settled. Every client applies the same rule to the same server order, so all converge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The change with the later timestamp wins (ties: the larger writer id).
    LastWriterWins,
    /// The value the server already holds stays.
    ServerWins,
    /// The later change replaces it.
    ClientWins,
    /// Arrays are unioned without duplicates, objects merged key by key, scalars by timestamp.
    Merge,
    /// A function the app gives decides (it must be deterministic for clients to converge).
    Custom,
}

impl Strategy {
    /// The name JS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LastWriterWins => "lww",
            Self::ServerWins => "server",
            Self::ClientWins => "client",
            Self::Merge => "merge",
            Self::Custom => "custom",
        }
    }

    /// The strategy of a JS name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "lww" => Self::LastWriterWins,
            "server" => Self::ServerWins,
            "client" => Self::ClientWins,
            "merge" => Self::Merge,
            "custom" => Self::Custom,
            _ => return None,
        })
    }
}

/// One side of a conflict: a value, when it was written and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side<'a> {
    pub value: &'a Value,
    pub ts: u64,
    pub by: &'a str,
}

/// True when `client` was written after `server` (timestamp, then writer id).
fn client_is_later(server: &Side<'_>, client: &Side<'_>) -> bool {
    (client.ts, client.by) > (server.ts, server.by)
}

/// Settles a conflict with one of the built-in strategies (`Custom` falls back to
/// last-writer-wins; the caller asks the app first).
pub fn resolve(strategy: Strategy, server: &Side<'_>, client: &Side<'_>) -> Value {
    match strategy {
        Strategy::ServerWins => server.value.clone(),
        Strategy::ClientWins => client.value.clone(),
        Strategy::Merge => merge(server, client),
        Strategy::LastWriterWins | Strategy::Custom => {
            if client_is_later(server, client) {
                client.value.clone()
            } else {
                server.value.clone()
            }
        }
    }
}

/// The merge strategy: arrays unioned (server's order first, no duplicates), objects merged
/// recursively, everything else by timestamp. The result holds no duplicate array elements
/// anywhere, even where only one side had the array, so merging again changes nothing.
pub fn merge(server: &Side<'_>, client: &Side<'_>) -> Value {
    without_duplicates(merge_sides(server, client))
}

/// Removes repeated elements from every array in `value`, keeping first occurrences.
pub fn without_duplicates(value: Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for item in items.into_iter().map(without_duplicates) {
                if !out.contains(&item) {
                    out.push(item);
                }
            }
            Value::Array(out)
        }
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, without_duplicates(v)))
                .collect(),
        ),
        other => other,
    }
}

fn merge_sides(server: &Side<'_>, client: &Side<'_>) -> Value {
    match (server.value, client.value) {
        (Value::Array(a), Value::Array(b)) => {
            let mut out: Vec<Value> = Vec::with_capacity(a.len() + b.len());
            for item in a.iter().chain(b) {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Value::Array(out)
        }
        (Value::Object(a), Value::Object(b)) => {
            let mut out: Vec<(String, Value)> = Vec::with_capacity(a.len() + b.len());
            for (key, sv) in a {
                let merged = match b.iter().find(|(k, _)| k == key) {
                    Some((_, cv)) => merge_sides(
                        &Side {
                            value: sv,
                            ..server.clone()
                        },
                        &Side {
                            value: cv,
                            ..client.clone()
                        },
                    ),
                    None => sv.clone(),
                };
                out.push((key.clone(), merged));
            }
            for (key, cv) in b {
                if !a.iter().any(|(k, _)| k == key) {
                    out.push((key.clone(), cv.clone()));
                }
            }
            Value::Object(out)
        }
        _ => {
            if client_is_later(server, client) {
                client.value.clone()
            } else {
                server.value.clone()
            }
        }
    }
}

/// Applies a JSON merge patch (RFC 7396): objects merge key by key, `null` removes a key,
/// anything else replaces.
pub fn apply_patch(base: &Value, patch: &Value) -> Value {
    let Value::Object(changes) = patch else {
        return patch.clone();
    };
    let mut fields = match base {
        Value::Object(fields) => fields.clone(),
        _ => Vec::new(),
    };
    for (key, change) in changes {
        let at = fields.iter().position(|(k, _)| k == key);
        match (change, at) {
            (Value::Null, Some(i)) => {
                fields.remove(i);
            }
            (Value::Null, None) => {}
            (change, Some(i)) => {
                if let Some(slot) = fields.get_mut(i) {
                    slot.1 = apply_patch(&slot.1, change);
                }
            }
            (change, None) => fields.push((key.clone(), apply_patch(&Value::Null, change))),
        }
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Value {
        Value::from_text(text).unwrap()
    }

    fn side<'a>(value: &'a Value, ts: u64, by: &'a str) -> Side<'a> {
        Side { value, ts, by }
    }

    #[test]
    fn strategies_pick_the_documented_side() {
        let (s, c) = (v(r#"{"n":1}"#), v(r#"{"n":2}"#));
        let (old, new) = (side(&s, 10, "a"), side(&c, 20, "b"));
        assert_eq!(resolve(Strategy::ServerWins, &old, &new), s);
        assert_eq!(resolve(Strategy::ClientWins, &old, &new), c);
        assert_eq!(resolve(Strategy::LastWriterWins, &old, &new), c);
        let (late_server, early_client) = (side(&s, 30, "a"), side(&c, 20, "b"));
        assert_eq!(
            resolve(Strategy::LastWriterWins, &late_server, &early_client),
            s
        );
        // Same timestamp: the larger writer id wins, on every client alike.
        assert_eq!(
            resolve(
                Strategy::LastWriterWins,
                &side(&s, 5, "b"),
                &side(&c, 5, "a")
            ),
            s
        );
    }

    #[test]
    fn merge_unions_arrays_and_merges_objects() {
        let s = v(r#"{"tags":["a","b"],"score":{"home":1,"away":0},"title":"old"}"#);
        let c = v(r#"{"tags":["b","c"],"score":{"home":2},"extra":true,"title":"new"}"#);
        let merged = merge(&side(&s, 1, "x"), &side(&c, 2, "y"));
        assert_eq!(
            merged,
            v(r#"{"tags":["a","b","c"],"score":{"home":2,"away":0},"title":"new","extra":true}"#)
        );
    }

    #[test]
    fn patches_follow_rfc_7396() {
        let base = v(r#"{"a":1,"b":{"c":2,"d":3}}"#);
        assert_eq!(
            apply_patch(&base, &v(r#"{"a":null,"b":{"c":9},"e":[1]}"#)),
            v(r#"{"b":{"c":9,"d":3},"e":[1]}"#)
        );
        assert_eq!(apply_patch(&base, &v("[1]")), v("[1]"));
        assert_eq!(
            apply_patch(&v("3"), &v(r#"{"x":{"y":null}}"#)),
            v(r#"{"x":{}}"#)
        );
    }
}
