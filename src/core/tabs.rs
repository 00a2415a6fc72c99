//! Messages between the tabs of one origin (the tab bus), and their strict codec.
//!
//! Every message is one JSON object: `{"syncline":1,"ns":…,"from":…,"to":…,"k":…, …}`.
//! Anything that is not exactly that — another app's message, another namespace, a forged or
//! truncated one — is rejected by [`TabMessage::decode`] and counted by the caller, never used.
//! The auth token never travels here.

use super::state::{ConnectionState, ErrorInfo, OutboxStatus, StorageState};
use crate::protocol::envelope::RawJson;
use crate::protocol::json::{self, JsonError};

/// Version of the tab bus protocol.
pub const TAB_PROTOCOL: u64 = 1;

/// What a tab message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TabBody {
    /// Follower → leader: an envelope frame the follower would have sent to the server.
    Up { frame: String },
    /// Leader → follower(s): an envelope frame as if from the server.
    Down { frame: String },
    /// "I lead, in this term."
    Leader { term: u64 },
    /// "Who leads?" (a tab that just started).
    Who,
    /// The leader's connection and outbox, for every tab's snapshot.
    State(SharedState),
    /// This tab is going away (closing, or stepping down as leader).
    Bye,
    /// Election without Web Locks: "I want to lead this term."
    Claim { term: u64 },
    /// An app-level message for the other tabs (`broadcast(topic, data)`).
    Broadcast { topic: String, data: RawJson },
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
    pub outbox: OutboxStatus,
}

/// Why a bus message was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TabMessageError {
    #[error("not JSON: {0}")]
    Json(#[from] JsonError),
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

/// Fields of one JSON object, for reading.
struct Obj<'a>(Vec<(std::borrow::Cow<'a, str>, &'a str)>);

impl<'a> Obj<'a> {
    fn parse(text: &'a str) -> Result<Self, TabMessageError> {
        Ok(Self(json::object_fields(text)?))
    }
    fn raw(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .filter(|v| !json::is_null(v))
    }
    fn str(&self, name: &'static str) -> Result<String, TabMessageError> {
        self.opt_str(name)?.ok_or(TabMessageError::Invalid(name))
    }
    fn opt_str(&self, name: &'static str) -> Result<Option<String>, TabMessageError> {
        self.raw(name)
            .map(|v| {
                json::as_str(v)
                    .map(|s| s.into_owned())
                    .map_err(|_| TabMessageError::Invalid(name))
            })
            .transpose()
    }
    fn u64(&self, name: &'static str) -> Result<u64, TabMessageError> {
        self.opt_u64(name)?.ok_or(TabMessageError::Invalid(name))
    }
    fn opt_u64(&self, name: &'static str) -> Result<Option<u64>, TabMessageError> {
        self.raw(name)
            .map(|v| json::as_u64(v).map_err(|_| TabMessageError::Invalid(name)))
            .transpose()
    }
    fn bool(&self, name: &'static str) -> Result<bool, TabMessageError> {
        self.raw(name)
            .map(|v| json::as_bool(v).map_err(|_| TabMessageError::Invalid(name)))
            .transpose()
            .map(|b| b.unwrap_or(false))
    }
    fn error(&self, name: &'static str) -> Result<Option<ErrorInfo>, TabMessageError> {
        let Some(raw) = self.raw(name) else {
            return Ok(None);
        };
        let e = Obj::parse(raw).map_err(|_| TabMessageError::Invalid(name))?;
        Ok(Some(ErrorInfo {
            kind: static_kind(&e.str("kind")?),
            message: e.opt_str("message")?.unwrap_or_default(),
        }))
    }
}

/// Builds one JSON object.
struct Out(String);

impl Out {
    fn new() -> Self {
        Self(String::from("{"))
    }
    fn key(&mut self, key: &str) -> &mut Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        json::write_str(&mut self.0, key);
        self.0.push(':');
        self
    }
    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        json::write_str(&mut self.0, value);
        self
    }
    fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        json::write_u64(&mut self.0, value);
        self
    }
    fn opt_u64(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        if let Some(v) = value {
            self.u64(key, v);
        }
        self
    }
    fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.0.push_str(if value { "true" } else { "false" });
        self
    }
    fn raw(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        self.0.push_str(value);
        self
    }
    fn error(&mut self, key: &str, value: Option<&ErrorInfo>) -> &mut Self {
        if let Some(e) = value {
            let mut inner = Out::new();
            inner.str("kind", e.kind).str("message", &e.message);
            self.raw(key, &inner.finish());
        }
        self
    }
    fn finish(&mut self) -> String {
        self.0.push('}');
        std::mem::take(&mut self.0)
    }
}

impl TabMessage {
    /// Encodes the message as one JSON object.
    pub fn encode(&self) -> String {
        let mut o = Out::new();
        o.u64("syncline", TAB_PROTOCOL)
            .str("ns", &self.ns)
            .str("from", &self.from);
        if let Some(to) = &self.to {
            o.str("to", to);
        }
        match &self.body {
            TabBody::Up { frame } => o.str("k", "up").str("f", frame),
            TabBody::Down { frame } => o.str("k", "down").str("f", frame),
            TabBody::Leader { term } => o.str("k", "leader").u64("term", *term),
            TabBody::Who => o.str("k", "who"),
            TabBody::State(s) => o.str("k", "state").raw("s", &encode_state(s)),
            TabBody::Bye => o.str("k", "bye"),
            TabBody::Claim { term } => o.str("k", "claim").u64("term", *term),
            TabBody::Broadcast { topic, data } => o
                .str("k", "bc")
                .str("topic", topic)
                .raw("data", data.as_str()),
        };
        o.finish()
    }

    /// Decodes and checks a message for namespace `ns`.
    pub fn decode(text: &str, ns: &str) -> Result<Self, TabMessageError> {
        let o = Obj::parse(text).map_err(|e| match e {
            TabMessageError::Json(JsonError::WrongType(_)) => TabMessageError::Foreign,
            other => other,
        })?;
        let version = o
            .opt_u64("syncline")
            .map_err(|_| TabMessageError::Foreign)?;
        match version {
            None => return Err(TabMessageError::Foreign),
            Some(TAB_PROTOCOL) => {}
            Some(other) => return Err(TabMessageError::Version(other)),
        }
        if o.str("ns")? != ns {
            return Err(TabMessageError::OtherNamespace);
        }
        let body = match o.str("k")?.as_str() {
            "up" => TabBody::Up { frame: o.str("f")? },
            "down" => TabBody::Down { frame: o.str("f")? },
            "leader" => TabBody::Leader {
                term: o.u64("term")?,
            },
            "who" => TabBody::Who,
            "state" => TabBody::State(decode_state(
                o.raw("s").ok_or(TabMessageError::Invalid("s"))?,
            )?),
            "bye" => TabBody::Bye,
            "claim" => TabBody::Claim {
                term: o.u64("term")?,
            },
            "bc" => TabBody::Broadcast {
                topic: o.str("topic")?,
                data: RawJson::parse(o.raw("data").unwrap_or("null"))
                    .map_err(|_| TabMessageError::Invalid("data"))?,
            },
            _ => return Err(TabMessageError::Invalid("k")),
        };
        let from = o.str("from")?;
        if from.is_empty() {
            return Err(TabMessageError::Invalid("from"));
        }
        Ok(Self {
            ns: ns.to_owned(),
            from,
            to: o.opt_str("to")?,
            body,
        })
    }
}

fn encode_state(s: &SharedState) -> String {
    let mut outbox = Out::new();
    outbox
        .u64("depth", s.outbox.depth as u64)
        .u64("inFlight", s.outbox.in_flight as u64)
        .opt_u64("oldestCreatedAt", s.outbox.oldest_created_at)
        .u64("deadLetters", s.outbox.dead_letters as u64)
        .str("storage", s.outbox.storage.as_str())
        .str("breaker", s.outbox.breaker)
        .error("lastError", s.outbox.last_error.as_ref());
    let outbox = outbox.finish();
    let mut o = Out::new();
    o.str("state", s.state.as_str())
        .bool("online", s.online)
        .u64("attempt", u64::from(s.attempt))
        .u64("reconnects", s.reconnects)
        .opt_u64("rttMs", s.rtt_ms)
        .opt_u64("retryAt", s.retry_at)
        .error("lastError", s.last_error.as_ref());
    if let Some(session) = &s.session {
        o.str("session", session);
    }
    o.raw("outbox", &outbox).finish()
}

fn decode_state(text: &str) -> Result<SharedState, TabMessageError> {
    let o = Obj::parse(text).map_err(|_| TabMessageError::Invalid("s"))?;
    let b = Obj::parse(o.raw("outbox").ok_or(TabMessageError::Invalid("outbox"))?)
        .map_err(|_| TabMessageError::Invalid("outbox"))?;
    let count = |obj: &Obj<'_>, name| {
        obj.u64(name)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    Ok(SharedState {
        state: state_from(&o.str("state")?).ok_or(TabMessageError::Invalid("state"))?,
        online: o.bool("online")?,
        attempt: u32::try_from(o.u64("attempt")?).unwrap_or(u32::MAX),
        reconnects: o.u64("reconnects")?,
        rtt_ms: o.opt_u64("rttMs")?,
        retry_at: o.opt_u64("retryAt")?,
        last_error: o.error("lastError")?,
        session: o.opt_str("session")?,
        outbox: OutboxStatus {
            depth: count(&b, "depth")?,
            in_flight: count(&b, "inFlight")?,
            oldest_created_at: b.opt_u64("oldestCreatedAt")?,
            dead_letters: count(&b, "deadLetters")?,
            storage: storage_from(&b.str("storage")?).ok_or(TabMessageError::Invalid("storage"))?,
            last_error: b.error("lastError")?,
            breaker: match b.opt_str("breaker")?.as_deref() {
                Some("open") => "open",
                Some("half-open") => "half-open",
                _ => "closed",
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: TabBody) -> TabMessage {
        TabMessage {
            ns: "syncline:default".into(),
            from: "tab-a".into(),
            to: Some("tab-b".into()),
            body,
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let state = SharedState {
            state: ConnectionState::Waiting,
            online: true,
            attempt: 3,
            reconnects: 2,
            rtt_ms: Some(4),
            retry_at: Some(1_700_000_000_000),
            last_error: Some(ErrorInfo {
                kind: "heartbeat_timeout",
                message: "heartbeat timed out".into(),
            }),
            session: Some("s1".into()),
            outbox: OutboxStatus {
                depth: 5,
                in_flight: 1,
                oldest_created_at: Some(9),
                dead_letters: 1,
                storage: StorageState::Durable,
                last_error: None,
                breaker: "open",
            },
        };
        for body in [
            TabBody::Up {
                frame: r#"{"t":"ping","ts":1}"#.into(),
            },
            TabBody::Down {
                frame: "[{\"t\":\"pong\",\"ts\":1}]".into(),
            },
            TabBody::Leader { term: 7 },
            TabBody::Who,
            TabBody::State(state),
            TabBody::Bye,
            TabBody::Claim { term: 8 },
            TabBody::Broadcast {
                topic: "filters".into(),
                data: RawJson::parse(r#"{"team":"home"}"#).unwrap(),
            },
        ] {
            let m = message(body);
            assert_eq!(TabMessage::decode(&m.encode(), "syncline:default"), Ok(m));
        }
    }

    #[test]
    fn foreign_and_malformed_messages_are_refused() {
        let ns = "syncline:default";
        let good = message(TabBody::Who).encode();
        assert_eq!(
            TabMessage::decode(&good, "syncline:other"),
            Err(TabMessageError::OtherNamespace)
        );
        for (text, expected) in [
            ("\"hello\"", TabMessageError::Foreign),
            ("[1]", TabMessageError::Foreign),
            (r#"{"type":"other-lib"}"#, TabMessageError::Foreign),
            (r#"{"syncline":"1"}"#, TabMessageError::Foreign),
            (
                r#"{"syncline":2,"ns":"syncline:default"}"#,
                TabMessageError::Version(2),
            ),
            (
                r#"{"syncline":1,"ns":"syncline:default","from":"a","k":"warp"}"#,
                TabMessageError::Invalid("k"),
            ),
            (
                r#"{"syncline":1,"ns":"syncline:default","from":"","k":"who"}"#,
                TabMessageError::Invalid("from"),
            ),
            (
                r#"{"syncline":1,"ns":"syncline:default","from":"a","k":"up"}"#,
                TabMessageError::Invalid("f"),
            ),
            (
                r#"{"syncline":1,"ns":"syncline:default","from":"a","k":"leader","term":-1}"#,
                TabMessageError::Invalid("term"),
            ),
            (
                r#"{"syncline":1,"ns":"syncline:default","from":"a","k":"state","s":{"state":"exploded","outbox":{}}}"#,
                TabMessageError::Invalid("state"),
            ),
        ] {
            assert_eq!(TabMessage::decode(text, ns), Err(expected), "{text}");
        }
        assert!(TabMessage::decode("{\"syncline\":1,", ns).is_err());
        assert!(TabMessage::decode(&good[..good.len() - 1], ns).is_err());
    }
}
