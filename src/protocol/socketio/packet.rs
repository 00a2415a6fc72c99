//! Engine.IO v4 over WebSocket and Socket.IO v5 packets, for apps that keep a Socket.IO server.
//!
//! Over the WebSocket transport each text frame is one Engine.IO packet: a type digit and a
//! payload (`0` open with the handshake, `1` close, `2` ping, `3` pong, `4` message, `5`
//! upgrade, `6` noop). A message's payload is one Socket.IO packet:
//! `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, where the namespace is written
//! only when it is not `/`. Both directions encode and decode, so tests round-trip every
//! packet and the hostile-input tests can forge any of them. Nothing here panics: every bad
//! frame is a [`SocketIoError`].

use serde::Deserialize;
use serde_json::value::RawValue;

pub use crate::protocol::error::SocketIoError;
use crate::protocol::raw::{JsonError, RawJson, write_str, write_u64};

/// Ping interval the server announces when the handshake does not say (Socket.IO's default).
pub const DEFAULT_PING_INTERVAL_MS: u64 = 25_000;
/// Time the server allows for a pong when the handshake does not say (Socket.IO's default).
pub const DEFAULT_PING_TIMEOUT_MS: u64 = 20_000;

/// Ack ids longer than this are refused rather than overflowing.
const MAX_ID_DIGITS: usize = 15;

/// The Engine.IO handshake: the session and the heartbeat the server keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub sid: String,
    /// The server pings this often…
    pub ping_interval_ms: u64,
    /// …and drops a client that has not answered within this.
    pub ping_timeout_ms: u64,
    /// Largest frame the server accepts (`maxHttpBufferSize`, 1 MB by default); the server
    /// closes a WebSocket that sends a bigger one.
    pub max_payload: Option<u64>,
}

impl Handshake {
    /// How long the client waits for the server's next ping before calling the connection dead.
    pub fn liveness_ms(&self) -> u64 {
        self.ping_interval_ms.saturating_add(self.ping_timeout_ms)
    }
}

/// One Engine.IO packet, as one WebSocket text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket<'a> {
    Open(Handshake),
    Close,
    Ping(&'a str),
    Pong(&'a str),
    /// A Socket.IO packet (still encoded).
    Message(&'a str),
    Upgrade,
    Noop,
}

impl EnginePacket<'_> {
    /// Decodes one WebSocket text frame.
    pub fn decode(frame: &str) -> Result<EnginePacket<'_>, SocketIoError> {
        let mut chars = frame.chars();
        let kind = chars.next().ok_or(SocketIoError::Empty)?;
        let rest = chars.as_str();
        Ok(match kind {
            '0' => EnginePacket::Open(decode_handshake(rest)?),
            '1' => EnginePacket::Close,
            '2' => EnginePacket::Ping(rest),
            '3' => EnginePacket::Pong(rest),
            '4' => EnginePacket::Message(rest),
            '5' => EnginePacket::Upgrade,
            '6' => EnginePacket::Noop,
            other => return Err(SocketIoError::UnknownEngineType(other)),
        })
    }

    /// Encodes the packet as a WebSocket text frame.
    pub fn encode(&self) -> String {
        match self {
            EnginePacket::Open(h) => {
                let shape = HandshakeShape {
                    sid: h.sid.clone(),
                    upgrades: Vec::new(),
                    ping_interval: Some(h.ping_interval_ms),
                    ping_timeout: Some(h.ping_timeout_ms),
                    max_payload: h.max_payload,
                };
                format_engine('0', &RawJson::to_json(&shape).into_string())
            }
            EnginePacket::Close => "1".to_owned(),
            EnginePacket::Ping(p) => format_engine('2', p),
            EnginePacket::Pong(p) => format_engine('3', p),
            EnginePacket::Message(p) => format_engine('4', p),
            EnginePacket::Upgrade => "5".to_owned(),
            EnginePacket::Noop => "6".to_owned(),
        }
    }
}

fn format_engine(kind: char, payload: &str) -> String {
    let mut out = String::with_capacity(payload.len() + 1);
    out.push(kind);
    out.push_str(payload);
    out
}

/// The Engine.IO open packet's JSON.
#[derive(serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HandshakeShape {
    sid: String,
    #[serde(default)]
    upgrades: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ping_interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ping_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_payload: Option<u64>,
}

fn decode_handshake(text: &str) -> Result<Handshake, SocketIoError> {
    if !text.trim_start().starts_with('{') {
        return Err(SocketIoError::Handshake("not a JSON object"));
    }
    let shape: HandshakeShape =
        serde_json::from_str(text).map_err(|e| match JsonError::from(e) {
            JsonError::WrongType(_) => {
                SocketIoError::Handshake("missing or invalid sid or ping settings")
            }
            other => SocketIoError::Json(other),
        })?;
    Ok(Handshake {
        sid: shape.sid,
        ping_interval_ms: shape.ping_interval.unwrap_or(DEFAULT_PING_INTERVAL_MS),
        ping_timeout_ms: shape.ping_timeout.unwrap_or(DEFAULT_PING_TIMEOUT_MS),
        max_payload: shape.max_payload,
    })
}

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

impl PacketType {
    fn digit(self) -> char {
        match self {
            Self::Connect => '0',
            Self::Disconnect => '1',
            Self::Event => '2',
            Self::Ack => '3',
            Self::ConnectError => '4',
            Self::BinaryEvent => '5',
            Self::BinaryAck => '6',
        }
    }

    fn from_digit(c: char) -> Option<Self> {
        Some(match c {
            '0' => Self::Connect,
            '1' => Self::Disconnect,
            '2' => Self::Event,
            '3' => Self::Ack,
            '4' => Self::ConnectError,
            '5' => Self::BinaryEvent,
            '6' => Self::BinaryAck,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Disconnect => "DISCONNECT",
            Self::Event => "EVENT",
            Self::Ack => "ACK",
            Self::ConnectError => "CONNECT_ERROR",
            Self::BinaryEvent => "BINARY_EVENT",
            Self::BinaryAck => "BINARY_ACK",
        }
    }

    fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// One Socket.IO packet, its payload kept as validated JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub kind: PacketType,
    /// `/` for the main namespace.
    pub namespace: String,
    /// The ack id: on an EVENT the sender wants an ACK with it; on an ACK, what it answers.
    pub ack: Option<u64>,
    /// Binary attachments that follow as separate frames (binary packets only).
    pub attachments: u64,
    pub data: Option<RawJson>,
}

impl Packet {
    /// A packet of `kind` on `namespace` with no ack id and no payload.
    pub fn new(kind: PacketType, namespace: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_owned(),
            ack: None,
            attachments: 0,
            data: None,
        }
    }

    /// CONNECT with an optional auth payload (a JSON object).
    pub fn connect(namespace: &str, auth: Option<RawJson>) -> Self {
        Self {
            data: auth,
            ..Self::new(PacketType::Connect, namespace)
        }
    }

    /// EVENT `name` with `args`, asking for an ack with `ack` when given.
    pub fn event(namespace: &str, ack: Option<u64>, name: &str, args: &[&RawJson]) -> Self {
        let mut out = String::with_capacity(name.len() + 16);
        out.push('[');
        write_str(&mut out, name);
        for arg in args {
            out.push(',');
            out.push_str(arg.as_str());
        }
        out.push(']');
        Self {
            ack,
            data: Some(RawJson::from_validated(out)),
            ..Self::new(PacketType::Event, namespace)
        }
    }

    /// ACK `id` with `args`.
    pub fn ack(namespace: &str, id: u64, args: &[&RawJson]) -> Self {
        let mut out = String::from("[");
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(arg.as_str());
        }
        out.push(']');
        Self {
            ack: Some(id),
            data: Some(RawJson::from_validated(out)),
            ..Self::new(PacketType::Ack, namespace)
        }
    }

    /// The packet as an Engine.IO message frame (`4…`).
    pub fn encode(&self) -> String {
        let data = self.data.as_ref().map_or("", RawJson::as_str);
        let mut out = String::with_capacity(data.len() + self.namespace.len() + 8);
        out.push('4');
        out.push(self.kind.digit());
        if self.kind.is_binary() {
            write_u64(&mut out, self.attachments);
            out.push('-');
        }
        if self.namespace != "/" && !self.namespace.is_empty() {
            out.push_str(&self.namespace);
            out.push(',');
        }
        if let Some(id) = self.ack {
            write_u64(&mut out, id);
        }
        out.push_str(data);
        out
    }

    /// Decodes a Socket.IO packet (the payload of an Engine.IO message) and checks that its
    /// payload has the shape its type requires.
    pub fn decode(text: &str) -> Result<Self, SocketIoError> {
        let mut chars = text.char_indices();
        let (_, first) = chars.next().ok_or(SocketIoError::Empty)?;
        let kind = PacketType::from_digit(first).ok_or(SocketIoError::UnknownType(first))?;
        let mut rest = text.get(first.len_utf8()..).unwrap_or("");
        let mut attachments = 0;
        if kind.is_binary() {
            let dash = rest.find('-').ok_or(SocketIoError::Attachments)?;
            let count = rest.get(..dash).ok_or(SocketIoError::Attachments)?;
            attachments = digits(count).ok_or(SocketIoError::Attachments)?;
            rest = rest.get(dash + 1..).unwrap_or("");
        }
        let mut namespace = "/".to_owned();
        if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            namespace = rest.get(..end).unwrap_or("/").to_owned();
            rest = rest.get(end + 1..).unwrap_or("");
        }
        let id_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack = if id_len > 0 {
            let id = rest
                .get(..id_len)
                .and_then(digits)
                .ok_or(SocketIoError::AckId)?;
            rest = rest.get(id_len..).unwrap_or("");
            Some(id)
        } else {
            None
        };
        let data = if rest.is_empty() {
            None
        } else {
            Some(RawJson::parse(rest)?)
        };
        let packet = Self {
            kind,
            namespace,
            ack,
            attachments,
            data,
        };
        packet.check()?;
        Ok(packet)
    }

    fn check(&self) -> Result<(), SocketIoError> {
        let bad = || SocketIoError::Payload(self.kind.name());
        let data = self.data.as_ref().map(RawJson::as_str);
        let is_object = |raw: &str| raw.starts_with('{');
        match self.kind {
            PacketType::Connect => {
                if data.is_some_and(|d| !is_object(d)) {
                    return Err(bad());
                }
            }
            PacketType::Disconnect => {
                if data.is_some() {
                    return Err(bad());
                }
            }
            PacketType::ConnectError => {
                if !data.is_some_and(|d| is_object(d) || d.starts_with('"')) {
                    return Err(bad());
                }
            }
            PacketType::Event | PacketType::BinaryEvent => {
                if self.event_parts().is_none() {
                    return Err(bad());
                }
            }
            PacketType::Ack | PacketType::BinaryAck => {
                if !data.is_some_and(|d| d.starts_with('[')) || self.ack.is_none() {
                    return Err(bad());
                }
            }
        }
        Ok(())
    }

    /// An EVENT's name and arguments; `None` for other packets.
    pub fn event_parts(&self) -> Option<(String, Vec<RawJson>)> {
        if !matches!(self.kind, PacketType::Event | PacketType::BinaryEvent) {
            return None;
        }
        let items: Vec<&RawValue> = serde_json::from_str(self.data.as_ref()?.as_str()).ok()?;
        let (name, args) = items.split_first()?;
        let name: String = serde_json::from_str(name.get()).ok()?;
        Some((name, args.iter().map(|a| RawJson::from(*a)).collect()))
    }

    /// An ACK's arguments (empty for other packets).
    pub fn ack_args(&self) -> Vec<RawJson> {
        self.data
            .as_ref()
            .and_then(RawJson::elements)
            .unwrap_or_default()
    }

    /// A CONNECT answer's session id (`{"sid": …}`).
    pub fn sid(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Sid {
            sid: String,
        }
        let sid: Sid = self.data.as_ref()?.read().ok()?;
        Some(sid.sid)
    }

    /// A CONNECT answer's session id for recovery (`{"pid": …}`), from servers that recover
    /// sessions.
    pub fn pid(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Pid {
            pid: Option<String>,
        }
        let pid: Pid = self.data.as_ref()?.read().ok()?;
        pid.pid
    }

    /// A CONNECT_ERROR's message: `{"message": …}`, or the bare string older servers send.
    pub fn error_message(&self) -> String {
        #[derive(Deserialize)]
        struct Shape {
            #[serde(default)]
            message: Option<String>,
        }
        let Some(data) = self.data.as_ref() else {
            return String::new();
        };
        if data.as_str().starts_with('"') {
            return data.read().unwrap_or_default();
        }
        data.read::<Shape>()
            .ok()
            .and_then(|shape| shape.message)
            .unwrap_or_default()
    }
}

/// A whole number of at most [`MAX_ID_DIGITS`] ASCII digits.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > MAX_ID_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// The Engine.IO WebSocket URL for a server `url` (`http(s)://` or `ws(s)://`, any path),
/// and the namespace: the URL's path unless `namespace` names one. `path` is the server's
/// Engine.IO path (Socket.IO's default is `/socket.io/`).
pub fn engine_url(
    url: &str,
    path: &str,
    namespace: Option<&str>,
) -> Result<(String, String), &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("url needs a scheme")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err("url must start with http://, https://, ws:// or wss://"),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest.get(..end).unwrap_or("");
    if host.is_empty() {
        return Err("url has no host");
    }
    let tail = rest.get(end..).unwrap_or("");
    let url_path = tail.split(['?', '#']).next().unwrap_or("");
    let query = tail
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .filter(|q| !q.is_empty());
    let namespace = match namespace {
        Some(ns) => ns.to_owned(),
        None => url_path.trim_end_matches('/').to_owned(),
    };
    let namespace = if namespace.is_empty() || namespace == "/" {
        "/".to_owned()
    } else if namespace.starts_with('/') {
        namespace
    } else {
        let mut ns = String::from("/");
        ns.push_str(&namespace);
        ns
    };
    if namespace.contains(',') {
        return Err("namespace must not contain ','");
    }
    let mut path = path.trim_matches('/').to_owned();
    path.insert(0, '/');
    path.push('/');
    let mut out = String::with_capacity(url.len() + 40);
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    out.push_str(&path);
    out.push_str("?EIO=4&transport=websocket");
    if let Some(q) = query {
        out.push('&');
        out.push_str(q);
    }
    Ok((out, namespace))
}
