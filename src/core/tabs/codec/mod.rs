//! Messages between the tabs of one origin (the tab bus), and their strict codec.
//!
//! Every message is one JSON object: `{"syncline":2,"ns":…,"from":…,"to":…,"k":…, …}`.
//! Anything that is not exactly that — another app's message, another namespace, a forged or
//! truncated one, a field of the wrong type — is rejected by [`TabMessage::decode`] with a
//! [`TabMessageError`] and counted by the caller, never used. The auth token never travels here.
//!
//! serde_json does the JSON. Decoding goes in two steps so that an error names its field: the
//! object is split into its known fields, each kept as raw text, then each field is read as
//! its type. Frames (`f`) travel as JSON strings and stay opaque text; a broadcast's `data` is
//! copied as the raw JSON it is.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::core::state::{ConnectionState, ErrorInfo, OutboxStatus, StorageState};
use crate::protocol::envelope::RawJson;

/// Version of the tab bus protocol. Version 2 added the leader's term to every message a
/// leader sends, and the cross-tab clear. Tabs of other versions ignore each other (and take
/// another leader's lock: each version's tabs share their own connection).
pub const TAB_PROTOCOL: u64 = 2;

/// What a tab message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TabBody {
    /// Follower → leader: an envelope frame the follower would have sent to the server.
    Up { frame: String },
    /// Leader → follower(s): an envelope frame as if from the server, in the leader's term.
    Down { frame: String, term: u64 },
    /// "I lead, in this term."
    Leader { term: u64 },
    /// "Who leads?" (a tab that just started, or whose leader went quiet); `term` is the
    /// highest term the asking tab knows, which the leader that answers outbids if need be.
    Who { term: u64 },
    /// The leader's connection and outbox, for every tab's snapshot, in the leader's term.
    State { state: SharedState, term: u64 },
    /// This tab is going away (closing, or stepping down as leader); `term`: the term it led
    /// or followed.
    Bye { term: u64 },
    /// Election without Web Locks: "I want to lead this term."
    Claim { term: u64 },
    /// An app-level message for the other tabs (`broadcast(topic, data)`).
    Broadcast { topic: String, data: RawJson },
    /// Logout: every tab forgets its unsent publishes (made at or before `at`, Unix ms) and
    /// answers the request `id` with [`TabBody::Cleared`].
    Clear { id: String, at: u64 },
    /// The answer to a clear request: this tab dropped `dropped` entries of its own; `tabs`
    /// (from a leader): the tabs linked to it, which the asking tab waits for too.
    Cleared {
        id: String,
        dropped: u64,
        tabs: Vec<String>,
    },
}

/// One message on the tab bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabMessage {
    /// The namespace (one per storage key): tabs of other namespaces ignore it.
    pub ns: String,
    /// Sending tab.
    pub from: String,
    /// Receiving tab, or every tab when `None`.
    pub to: Option<String>,
    pub body: TabBody,
}

/// The part of the leader's snapshot that every tab shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedState {
    pub state: ConnectionState,
    pub online: bool,
    pub attempt: u32,
    pub reconnects: u64,
    pub rtt_ms: Option<u64>,
    /// Unix ms of the leader's next attempt.
    pub retry_at: Option<u64>,
    pub last_error: Option<ErrorInfo>,
    pub session: Option<String>,
    pub recovered: Option<bool>,
    pub missed_after: Option<String>,
    pub outbox: OutboxStatus,
}

/// Why a bus message was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TabMessageError {
    #[error("not JSON (at column {column})")]
    NotJson { column: usize },
    #[error("not a syncline tab message")]
    Foreign,
    #[error("tab protocol version {0} is not supported")]
    Version(u64),
    #[error("message of another namespace")]
    OtherNamespace,
    #[error("invalid tab message: field {0:?}")]
    Invalid(&'static str),
}

/// Every error kind a snapshot can carry, so that one read from the bus maps back to the
/// same static name (an unknown kind becomes "unknown").
const KINDS: &[&str] = &[
    "malformed_frame",
    "unexpected_binary",
    "frame_too_large",
    "server",
    "auth_rejected",
    "auth_callback",
    "connect_timeout",
    "heartbeat_timeout",
    "unknown_answer",
    "storage",
    "socket_closed",
    "socket_open",
    "rejected",
    "rolled_back",
];

fn static_kind(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("unknown")
}

fn state_from(name: &str) -> Option<ConnectionState> {
    Some(match name {
        "idle" => ConnectionState::Idle,
        "connecting" => ConnectionState::Connecting,
        "open" => ConnectionState::Open,
        "waiting" => ConnectionState::Waiting,
        "offline" => ConnectionState::Offline,
        "closed" => ConnectionState::Closed,
        _ => return None,
    })
}

fn storage_from(name: &str) -> Option<StorageState> {
    Some(match name {
        "loading" => StorageState::Loading,
        "indexeddb" => StorageState::Durable,
        "memory" => StorageState::Memory,
        _ => return None,
    })
}

// ----- encoding: borrowed views of a message, in the wire's field order -----

#[derive(Serialize)]
struct MessageOut<'a> {
    syncline: u64,
    ns: &'a str,
    from: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    k: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    term: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<StateOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tabs: Option<&'a [String]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StateOut<'a> {
    state: &'static str,
    online: bool,
    attempt: u32,
    reconnects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<ErrorOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missed_after: Option<&'a str>,
    outbox: OutboxOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutboxOut<'a> {
    depth: usize,
    in_flight: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_created_at: Option<u64>,
    dead_letters: usize,
    storage: &'static str,
    breaker: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<ErrorOut<'a>>,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    kind: &'static str,
    message: &'a str,
}

fn error_out(e: Option<&ErrorInfo>) -> Option<ErrorOut<'_>> {
    e.map(|e| ErrorOut {
        kind: e.kind,
        message: &e.message,
    })
}

fn state_out(s: &SharedState) -> StateOut<'_> {
    StateOut {
        state: s.state.as_str(),
        online: s.online,
        attempt: s.attempt,
        reconnects: s.reconnects,
        rtt_ms: s.rtt_ms,
        retry_at: s.retry_at,
        last_error: error_out(s.last_error.as_ref()),
        session: s.session.as_deref(),
        recovered: s.recovered,
        missed_after: s.missed_after.as_deref(),
        outbox: OutboxOut {
            depth: s.outbox.depth,
            in_flight: s.outbox.in_flight,
            oldest_created_at: s.outbox.oldest_created_at,
            dead_letters: s.outbox.dead_letters,
            storage: s.outbox.storage.as_str(),
            breaker: s.outbox.breaker,
            last_error: error_out(s.outbox.last_error.as_ref()),
        },
    }
}

// ----- decoding: the known fields as raw text first, then each as its type -----

#[derive(Deserialize)]
struct MessageIn<'a> {
    #[serde(borrow)]
    syncline: Option<&'a RawValue>,
    #[serde(borrow)]
    ns: Option<&'a RawValue>,
    #[serde(borrow)]
    from: Option<&'a RawValue>,
    #[serde(borrow)]
    to: Option<&'a RawValue>,
    #[serde(borrow)]
    k: Option<&'a RawValue>,
    #[serde(borrow)]
    f: Option<&'a RawValue>,
    #[serde(borrow)]
    term: Option<&'a RawValue>,
    #[serde(borrow)]
    s: Option<&'a RawValue>,
    #[serde(borrow)]
    topic: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    at: Option<&'a RawValue>,
    #[serde(borrow)]
    n: Option<&'a RawValue>,
    #[serde(borrow)]
    tabs: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateIn<'a> {
    #[serde(borrow)]
    state: Option<&'a RawValue>,
    #[serde(borrow)]
    online: Option<&'a RawValue>,
    #[serde(borrow)]
    attempt: Option<&'a RawValue>,
    #[serde(borrow)]
    reconnects: Option<&'a RawValue>,
    #[serde(borrow)]
    rtt_ms: Option<&'a RawValue>,
    #[serde(borrow)]
    retry_at: Option<&'a RawValue>,
    #[serde(borrow)]
    last_error: Option<&'a RawValue>,
    #[serde(borrow)]
    session: Option<&'a RawValue>,
    #[serde(borrow)]
    recovered: Option<&'a RawValue>,
    #[serde(borrow)]
    missed_after: Option<&'a RawValue>,
    #[serde(borrow)]
    outbox: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutboxIn<'a> {
    #[serde(borrow)]
    depth: Option<&'a RawValue>,
    #[serde(borrow)]
    in_flight: Option<&'a RawValue>,
    #[serde(borrow)]
    oldest_created_at: Option<&'a RawValue>,
    #[serde(borrow)]
    dead_letters: Option<&'a RawValue>,
    #[serde(borrow)]
    storage: Option<&'a RawValue>,
    #[serde(borrow)]
    breaker: Option<&'a RawValue>,
    #[serde(borrow)]
    last_error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ErrorIn {
    kind: String,
    #[serde(default)]
    message: Option<String>,
}

/// Splits one JSON object into the fields of `T`. Only an object is accepted: serde would also
/// fill a struct from an array, which is not a tab message.
fn object<'a, T: Deserialize<'a>>(text: &'a str, name: &'static str) -> Result<T, TabMessageError> {
    if !text.trim_start().starts_with('{') {
        return Err(TabMessageError::Invalid(name));
    }
    serde_json::from_str(text).map_err(|_| TabMessageError::Invalid(name))
}

/// Reads an optional field as `T`; JSON `null` counts as absent.
fn opt<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    name: &'static str,
) -> Result<Option<T>, TabMessageError> {
    match raw {
        None => Ok(None),
        Some(raw) => {
            serde_json::from_str::<Option<T>>(raw.get()).map_err(|_| TabMessageError::Invalid(name))
        }
    }
}

/// Reads a required field as `T`.
fn req<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    name: &'static str,
) -> Result<T, TabMessageError> {
    opt(raw, name)?.ok_or(TabMessageError::Invalid(name))
}

/// A count read from the bus, saturated to this platform's `usize`.
fn count(raw: Option<&RawValue>, name: &'static str) -> Result<usize, TabMessageError> {
    req::<u64>(raw, name).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

fn error_in(
    raw: Option<&RawValue>,
    name: &'static str,
) -> Result<Option<ErrorInfo>, TabMessageError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let e: ErrorIn = object(raw.get(), name)?;
    Ok(Some(ErrorInfo {
        kind: static_kind(&e.kind),
        message: e.message.unwrap_or_default(),
    }))
}

impl TabMessage {
    /// Encodes the message as one JSON object. Fails only when a broadcast's data is not
    /// JSON that serde_json accepts (a [`RawJson`] always is).
    pub fn encode(&self) -> Result<String, TabMessageError> {
        let mut out = MessageOut {
            syncline: TAB_PROTOCOL,
            ns: &self.ns,
            from: &self.from,
            to: self.to.as_deref(),
            k: "",
            f: None,
            term: None,
            s: None,
            topic: None,
            data: None,
            id: None,
            at: None,
            n: None,
            tabs: None,
        };
        match &self.body {
            TabBody::Up { frame } => (out.k, out.f) = ("up", Some(frame.as_str())),
            TabBody::Down { frame, term } => {
                (out.k, out.f, out.term) = ("down", Some(frame.as_str()), Some(*term))
            }
            TabBody::Leader { term } => (out.k, out.term) = ("leader", Some(*term)),
            TabBody::Who { term } => (out.k, out.term) = ("who", Some(*term)),
            TabBody::State { state, term } => {
                (out.k, out.s, out.term) = ("state", Some(state_out(state)), Some(*term))
            }
            TabBody::Bye { term } => (out.k, out.term) = ("bye", Some(*term)),
            TabBody::Clear { id, at } => {
                (out.k, out.id, out.at) = ("clear", Some(id.as_str()), Some(*at))
            }
            TabBody::Cleared { id, dropped, tabs } => {
                (out.k, out.id, out.n) = ("cleared", Some(id.as_str()), Some(*dropped));
                out.tabs = Some(tabs.as_slice());
            }
            TabBody::Claim { term } => (out.k, out.term) = ("claim", Some(*term)),
            TabBody::Broadcast { topic, data } => {
                let data = serde_json::from_str::<&RawValue>(data.as_str())
                    .map_err(|_| TabMessageError::Invalid("data"))?;
                (out.k, out.topic, out.data) = ("bc", Some(topic.as_str()), Some(data));
            }
        }
        serde_json::to_string(&out).map_err(|_| TabMessageError::Invalid("data"))
    }

    /// Decodes and checks a message for namespace `ns`.
    pub fn decode(text: &str, ns: &str) -> Result<Self, TabMessageError> {
        let m: MessageIn<'_> = serde_json::from_str(text).map_err(|e| match e.classify() {
            // Valid JSON, but not an object with these fields.
            serde_json::error::Category::Data => TabMessageError::Foreign,
            _ => TabMessageError::NotJson { column: e.column() },
        })?;
        if !text.trim_start().starts_with('{') {
            return Err(TabMessageError::Foreign);
        }
        match opt::<u64>(m.syncline, "syncline") {
            Ok(Some(TAB_PROTOCOL)) => {}
            Ok(Some(other)) => return Err(TabMessageError::Version(other)),
            Ok(None) | Err(_) => return Err(TabMessageError::Foreign),
        }
        if req::<std::borrow::Cow<'_, str>>(m.ns, "ns")? != ns {
            return Err(TabMessageError::OtherNamespace);
        }
        let kind: std::borrow::Cow<'_, str> = req(m.k, "k")?;
        let body = match kind.as_ref() {
            "up" => TabBody::Up {
                frame: req(m.f, "f")?,
            },
            "down" => TabBody::Down {
                frame: req(m.f, "f")?,
                term: req(m.term, "term")?,
            },
            "leader" => TabBody::Leader {
                term: req(m.term, "term")?,
            },
            "who" => TabBody::Who {
                term: req(m.term, "term")?,
            },
            "state" => TabBody::State {
                state: decode_state(m.s.ok_or(TabMessageError::Invalid("s"))?.get())?,
                term: req(m.term, "term")?,
            },
            "bye" => TabBody::Bye {
                term: req(m.term, "term")?,
            },
            "clear" => TabBody::Clear {
                id: req(m.id, "id")?,
                at: req(m.at, "at")?,
            },
            "cleared" => TabBody::Cleared {
                id: req(m.id, "id")?,
                dropped: req(m.n, "n")?,
                tabs: opt(m.tabs, "tabs")?.unwrap_or_default(),
            },
            "claim" => TabBody::Claim {
                term: req(m.term, "term")?,
            },
            "bc" => TabBody::Broadcast {
                topic: req(m.topic, "topic")?,
                // serde_json checked it while splitting the object; absent or null is null.
                data: m.data.map_or_else(RawJson::null, |raw| {
                    RawJson::from_validated(raw.get().to_owned())
                }),
            },
            _ => return Err(TabMessageError::Invalid("k")),
        };
        let from: String = req(m.from, "from")?;
        if from.is_empty() {
            return Err(TabMessageError::Invalid("from"));
        }
        Ok(Self {
            ns: ns.to_owned(),
            from,
            to: opt(m.to, "to")?,
            body,
        })
    }
}

fn decode_state(text: &str) -> Result<SharedState, TabMessageError> {
    let o: StateIn<'_> = object(text, "s")?;
    let b: OutboxIn<'_> = object(
        o.outbox.ok_or(TabMessageError::Invalid("outbox"))?.get(),
        "outbox",
    )?;
    let state: std::borrow::Cow<'_, str> = req(o.state, "state")?;
    let state = state_from(&state).ok_or(TabMessageError::Invalid("state"))?;
    let storage: std::borrow::Cow<'_, str> = req(b.storage, "storage")?;
    Ok(SharedState {
        state,
        online: opt(o.online, "online")?.unwrap_or(false),
        attempt: u32::try_from(req::<u64>(o.attempt, "attempt")?).unwrap_or(u32::MAX),
        reconnects: req(o.reconnects, "reconnects")?,
        rtt_ms: opt(o.rtt_ms, "rttMs")?,
        retry_at: opt(o.retry_at, "retryAt")?,
        last_error: error_in(o.last_error, "lastError")?,
        session: opt(o.session, "session")?,
        recovered: opt(o.recovered, "recovered")?,
        missed_after: opt(o.missed_after, "missedAfter")?,
        outbox: OutboxStatus {
            depth: count(b.depth, "depth")?,
            in_flight: count(b.in_flight, "inFlight")?,
            oldest_created_at: opt(b.oldest_created_at, "oldestCreatedAt")?,
            dead_letters: count(b.dead_letters, "deadLetters")?,
            storage: storage_from(&storage).ok_or(TabMessageError::Invalid("storage"))?,
            last_error: error_in(b.last_error, "lastError")?,
            breaker: match opt::<std::borrow::Cow<'_, str>>(b.breaker, "breaker")?.as_deref() {
                Some("open") => "open",
                Some("half-open") => "half-open",
                _ => "closed",
            },
        },
    })
}

#[cfg(test)]
mod tests;
