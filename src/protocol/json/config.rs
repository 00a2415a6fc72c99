//! What an app tells the JSON wire: where things are in the server's frames (dotted paths),
//! how an answer to a publish or request looks, the frames to build (templates with
//! placeholders), the app-level heartbeat's shapes, and an optional encode callback.

use std::rc::Rc;

use crate::protocol::message::Delivery;
use crate::protocol::raw::RawJson;
use crate::protocol::value::Value;

/// The placeholder names a template may use.
pub const PLACEHOLDERS: [&str; 8] = [
    "id", "channel", "event", "data", "since", "token", "client", "ts",
];

/// The kinds of frame a template or the encode callback builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Hello,
    Subscribe,
    Unsubscribe,
    Resume,
    Publish,
    Request,
    Emit,
    Ping,
    Pong,
}

impl Kind {
    /// The kind's name, as the encode callback gets it and the options spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Resume => "resume",
            Self::Publish => "publish",
            Self::Request => "request",
            Self::Emit => "emit",
            Self::Ping => "ping",
            Self::Pong => "pong",
        }
    }
}

/// How the server answers a publish or a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerSpec {
    /// Path of the id of the publish or request answered.
    pub id: String,
    /// A frame is an answer only if one of these (path → value objects) holds; empty: any.
    pub matches: Vec<Value>,
    /// Path of a request's result (`None`: the whole frame).
    pub result: Option<String>,
    /// Path of the error: present and not null refuses a publish or fails a request.
    pub error: String,
}

impl AnswerSpec {
    /// An answer whose id is at `id`, with the defaults otherwise.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            matches: Vec::new(),
            result: None,
            error: "error".to_owned(),
        }
    }
}

/// The app-level heartbeat: the client sends `ping` and expects a frame matching `pong`; a
/// server frame matching `ping` is answered with `pong`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatShapes {
    pub ping: Value,
    pub pong: Value,
}

/// The frames the app declared; `None`: not declared (the defaults of `publish`, `request`
/// and `emit` mirror the read paths).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Templates {
    pub hello: Option<Value>,
    pub subscribe: Option<Value>,
    pub unsubscribe: Option<Value>,
    pub resume: Option<Value>,
    pub publish: Option<Value>,
    pub request: Option<Value>,
    pub emit: Option<Value>,
}

/// The app's `encode(kind, message)`: a frame as JSON, or `None` to use the template.
pub type EncodeFn = dyn Fn(&str, &RawJson) -> Option<RawJson>;

/// The app's encode callback, compared by identity.
#[derive(Clone)]
pub struct EncodeHook(pub Rc<EncodeFn>);

impl std::fmt::Debug for EncodeHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncodeHook(..)")
    }
}

impl PartialEq for EncodeHook {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for EncodeHook {}

/// The JSON wire's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonConfig {
    /// Path of the event name (a string) in an event frame.
    pub event: String,
    /// Path of the channel (`None`, or missing in a frame: the event name is the channel).
    pub channel: Option<String>,
    /// Path of the event's data (`None`: the whole frame).
    pub data: Option<String>,
    /// Path of a message id (duplicate drop; the publish id coming back with echo delivery).
    pub id: Option<String>,
    /// Path of the server's per-channel sequence number.
    pub seq: Option<String>,
    pub answer: Option<AnswerSpec>,
    pub templates: Templates,
    /// `None`: no app-level heartbeat.
    pub heartbeat: Option<HeartbeatShapes>,
    pub delivery: Delivery,
    pub encode: Option<EncodeHook>,
}

impl JsonConfig {
    /// Events named at `event`, everything else undeclared, delivery on ack.
    pub fn new(event: &str) -> Self {
        Self {
            event: event.to_owned(),
            channel: None,
            data: None,
            id: None,
            seq: None,
            answer: None,
            templates: Templates::default(),
            heartbeat: None,
            delivery: Delivery::Ack,
            encode: None,
        }
    }
}

impl Default for JsonConfig {
    /// What `protocol: "json"` starts from before its options are read: events at `type`.
    fn default() -> Self {
        Self::new("type")
    }
}
