//! Any JSON WebSocket server, speaking its own frames, as a [`Wire`]: the app declares where
//! things are in the server's frames (dotted paths) and how to build the frames the server
//! expects (templates with placeholders); nothing about syncline is assumed on the server.
//!
//! Decoding a frame, in this order:
//! 1. not JSON, or not an object: delivered raw on the channel `"message"` (text that is not
//!    JSON as a JSON string);
//! 2. the heartbeat's `pong` shape: the pong; its `ping` shape: answered with `pong`;
//! 3. an answer (its id names a publish or request this socket waits for, and it matches
//!    `answer.match`): the publish confirmed or refused, the request answered;
//! 4. a string at the event path: an event (channel, data, id, seq by their paths);
//! 5. anything else: raw on `"message"`.
//!
//! Encoding: `hello` (or nothing) and the session is open; `subscribe` (or `resume` on a
//! reconnect with a sequence) and the subscription is live once written, or at once without a
//! template; a durable publish confirmed by the answer, by its echo, or once written, as
//! `delivery` says; requests answered by id; the heartbeat's `ping`, its answer `pong`.

mod config;
mod path;
mod template;

pub use config::{
    AnswerSpec, EncodeFn, EncodeHook, HeartbeatShapes, JsonConfig, Kind, PLACEHOLDERS, Templates,
};
pub use template::{Out, Template, Vars, unknown_placeholder};

use std::collections::{HashMap, HashSet, VecDeque};

use path::{at, has_shape, holds, id_text, raw_at, text};

use crate::protocol::message::{Delivery, InEvent, Inbound, Outbound, Resumption, ServerError};
use crate::protocol::raw::RawJson;
use crate::protocol::value::Value;
use crate::protocol::wire::{Decoded, Encoded, Heartbeat, Wire, WireError};

/// The channel (and event name) of frames that match no declared shape.
pub const RAW_CHANNEL: &str = "message";

/// Why a durable publish cannot go out with delivery "ack": nothing would confirm it.
pub const NO_ANSWER: &str =
    "delivery \"ack\" needs options.json.answer (or choose delivery \"echo\" or \"sent\")";

/// Why a durable publish cannot go out with delivery "echo": its id could not be seen.
pub const NO_ECHO: &str =
    "delivery \"echo\" needs options.json.id, the path the publish id comes back at";

/// Ids awaited per socket at most (and publishes awaiting their echo); the oldest are
/// forgotten beyond it (their messages time out and are sent again).
const MAX_AWAITED: usize = 10_000;

/// What an answer's id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaited {
    Publish,
    Request,
}

/// The JSON side of one client: per socket, the ids awaiting an answer and the ping awaiting
/// its pong; across sockets, the publishes awaiting their echo.
#[derive(Debug)]
pub struct JsonWire {
    config: JsonConfig,
    publish: Template,
    request: Template,
    emit: Template,
    awaited: HashMap<String, Awaited>,
    order: VecDeque<String>,
    echoes: HashSet<String>,
    echo_order: VecDeque<String>,
    ping_ts: Option<u64>,
    transmit: VecDeque<String>,
}

impl JsonWire {
    /// A wire with these settings.
    pub fn new(config: JsonConfig) -> Self {
        let (publish, request, emit) = templates(&config);
        Self {
            config,
            publish,
            request,
            emit,
            awaited: HashMap::new(),
            order: VecDeque::new(),
            echoes: HashSet::new(),
            echo_order: VecDeque::new(),
            ping_ts: None,
            transmit: VecDeque::new(),
        }
    }

    fn await_answer(&mut self, id: String, what: Awaited) {
        if self.awaited.insert(id.clone(), what).is_none() {
            if self.order.len() >= MAX_AWAITED
                && let Some(old) = self.order.pop_front()
            {
                self.awaited.remove(&old);
            }
            self.order.push_back(id);
        }
    }

    fn take_answer(&mut self, id: &str) -> Option<Awaited> {
        let what = self.awaited.remove(id)?;
        self.order.retain(|o| o != id);
        Some(what)
    }

    fn await_echo(&mut self, id: String) {
        if self.echoes.insert(id.clone()) {
            if self.echo_order.len() >= MAX_AWAITED
                && let Some(old) = self.echo_order.pop_front()
            {
                self.echoes.remove(&old);
            }
            self.echo_order.push_back(id);
        }
    }

    fn take_echo(&mut self, id: &str) -> bool {
        let known = self.echoes.remove(id);
        if known {
            self.echo_order.retain(|o| o != id);
        }
        known
    }

    /// The frame of `kind` for `vars`: the app's encode callback's, else the template's;
    /// `None` when neither has one.
    fn build(&self, kind: Kind, vars: &Vars, template: Option<&Template>) -> Option<String> {
        if let Some(hook) = &self.config.encode
            && let Some(frame) = (hook.0)(kind.name(), &vars.to_object().to_json())
        {
            return Some(frame.into_string());
        }
        template.map(|t| t.fill(vars).to_json().into_string())
    }

    fn declared(&self, kind: Kind) -> Option<Template> {
        let t = &self.config.templates;
        let shape = match kind {
            Kind::Hello => &t.hello,
            Kind::Subscribe => &t.subscribe,
            Kind::Unsubscribe => &t.unsubscribe,
            Kind::Resume => &t.resume,
            Kind::Ping => {
                return self
                    .config
                    .heartbeat
                    .as_ref()
                    .map(|h| Template::Declared(h.ping.clone()));
            }
            Kind::Pong => {
                return self
                    .config
                    .heartbeat
                    .as_ref()
                    .map(|h| Template::Declared(h.pong.clone()));
            }
            Kind::Publish => return Some(self.publish.clone()),
            Kind::Request => return Some(self.request.clone()),
            Kind::Emit => return Some(self.emit.clone()),
        };
        shape.clone().map(Template::Declared)
    }

    /// The sequence to resume after: only a server's own numbers mean anything to it.
    fn since(&self, since: Option<u64>) -> Option<u64> {
        since.filter(|s| *s > 0 && self.config.seq.is_some())
    }

    fn decode_object(&mut self, value: &Value, raw: RawJson) -> Decoded {
        if let Some(beat) = self.heartbeat_frame(value) {
            return beat;
        }
        if let Some(answer) = self.answer(value, &raw) {
            return vec![Ok(answer)];
        }
        match at(value, &self.config.event) {
            Some(Value::String(name)) => self.event(name.clone(), value, raw),
            _ => vec![Ok(raw_message(raw))],
        }
    }

    /// A pong (the liveness), or a server's ping (answered); `None` for other frames.
    fn heartbeat_frame(&mut self, value: &Value) -> Option<Decoded> {
        let beat = self.config.heartbeat.as_ref()?;
        if has_shape(value, &beat.pong, &mut Vec::new()) {
            return Some(
                self.ping_ts
                    .take()
                    .map(|ts| Ok(Inbound::Pong { ts }))
                    .into_iter()
                    .collect(),
            );
        }
        let mut bound = Vec::new();
        if !has_shape(value, &beat.ping, &mut bound) {
            return None;
        }
        let vars = bound.into_iter().fold(Vars::default(), |vars, (name, v)| {
            vars.with(&name, Some(Out::Value(v)))
        });
        let pong = Template::Declared(beat.pong.clone());
        if let Some(frame) = self.build(Kind::Pong, &vars, Some(&pong)) {
            self.transmit.push_back(frame);
        }
        Some(Vec::new())
    }

    /// The answer to a publish or request this socket waits for, if the frame is one.
    fn answer(&mut self, value: &Value, raw: &RawJson) -> Option<Inbound> {
        let spec = self.config.answer.as_ref()?;
        let id = id_text(at(value, &spec.id)?)?;
        if !self.awaited.contains_key(&id) {
            return None;
        }
        if !spec.matches.is_empty() && !spec.matches.iter().any(|m| holds(value, m)) {
            return None;
        }
        let error = at(value, &spec.error)
            .filter(|e| **e != Value::Null)
            .cloned();
        let result = match &spec.result {
            Some(path) => raw_at(raw, path).unwrap_or_else(RawJson::null),
            None => raw.clone(),
        };
        let seq = self
            .config
            .seq
            .as_deref()
            .and_then(|p| at(value, p))
            .and_then(Value::as_u64);
        Some(match (self.take_answer(&id)?, error) {
            (Awaited::Publish, None) => Inbound::Ack {
                id,
                seq: seq.unwrap_or(0),
            },
            (Awaited::Publish, Some(error)) => Inbound::Refused {
                id,
                retryable: is_true(error.get("retryable")) || is_true(value.get("retryable")),
                reason: text(&error),
            },
            (Awaited::Request, None) => Inbound::Response {
                id,
                result: Ok(result),
            },
            (Awaited::Request, Some(error)) => Inbound::Response {
                id,
                result: Err(server_error(&error)),
            },
        })
    }

    fn event(&mut self, name: String, value: &Value, raw: RawJson) -> Decoded {
        let read = |path: &Option<String>| path.as_deref().and_then(|p| at(value, p));
        let channel = read(&self.config.channel)
            .and_then(id_text)
            .unwrap_or_else(|| name.clone());
        let id = read(&self.config.id).and_then(id_text);
        let seq = read(&self.config.seq).and_then(Value::as_u64);
        let data = match &self.config.data {
            Some(path) => raw_at(&raw, path).unwrap_or_else(RawJson::null),
            None => raw,
        };
        let echoed = match &id {
            Some(id) if self.config.delivery == Delivery::Echo && self.take_echo(id) => {
                Some(id.clone())
            }
            _ => None,
        };
        let mut out = vec![Ok(Inbound::Event(InEvent {
            channel,
            event: name,
            seq,
            id,
            data,
            spread: false,
        }))];
        if let Some(id) = echoed {
            out.push(Ok(Inbound::Ack {
                id,
                seq: seq.unwrap_or(0),
            }));
        }
        out
    }

    fn encode_publish(
        &mut self,
        id: String,
        channel: &str,
        event: &str,
        data: RawJson,
        memory: bool,
    ) -> Encoded {
        let unanswerable = match self.config.delivery {
            Delivery::Ack => self.config.answer.is_none().then_some(NO_ANSWER),
            Delivery::Echo => self.config.id.is_none().then_some(NO_ECHO),
            Delivery::Sent => None,
        };
        if let (Some(reason), false) = (unanswerable, memory) {
            return Encoded::Answered(Inbound::Refused {
                id,
                reason: reason.to_owned(),
                retryable: false,
            });
        }
        let vars = Vars::default()
            .text("id", Some(&id))
            .text("channel", Some(channel))
            .text("event", Some(event))
            .with("data", Some(Out::Raw(data)));
        let template = self.publish.clone();
        let Some(frame) = self.build(Kind::Publish, &vars, Some(&template)) else {
            return Encoded::Nothing;
        };
        if memory {
            return Encoded::FrameThen(frame, Inbound::Sent { id });
        }
        match self.config.delivery {
            Delivery::Ack => {
                self.await_answer(id, Awaited::Publish);
                Encoded::Frame(frame)
            }
            Delivery::Echo => {
                self.await_echo(id);
                Encoded::Frame(frame)
            }
            Delivery::Sent => Encoded::FrameThen(frame, Inbound::Sent { id }),
        }
    }
}

/// The default `publish`, `request` and `emit`: each value at the path it is read by.
fn templates(config: &JsonConfig) -> (Template, Template, Template) {
    let t = &config.templates;
    let answer_id = config.answer.as_ref().map(|a| a.id.clone());
    let data = config.data.clone();
    let event = Some(config.event.clone());
    let channel = config.channel.clone();
    let entries = |fields: Vec<(Option<String>, &'static str)>| {
        let mut entries = vec![(data.clone(), "data")];
        entries.extend(fields.into_iter().filter(|(p, _)| p.is_some()));
        Template::Default(entries)
    };
    let publish_id = config.id.clone().or_else(|| answer_id.clone());
    let publish = t.publish.clone().map_or_else(
        || {
            entries(vec![
                (event.clone(), "event"),
                (channel.clone(), "channel"),
                (publish_id, "id"),
            ])
        },
        Template::Declared,
    );
    let request = t.request.clone().map_or_else(
        || {
            entries(vec![
                (event.clone(), "event"),
                (answer_id.or_else(|| config.id.clone()), "id"),
            ])
        },
        Template::Declared,
    );
    let emit = t.emit.clone().map_or_else(
        || entries(vec![(event, "event"), (channel, "channel")]),
        Template::Declared,
    );
    (publish, request, emit)
}

fn is_true(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
}

/// A request's error: a string, or an object's `message` (or `code`).
fn server_error(error: &Value) -> ServerError {
    let code = error.get("code").map(text);
    let message = error
        .get("message")
        .map(text)
        .or_else(|| code.clone())
        .unwrap_or_else(|| text(error));
    ServerError {
        code: code.unwrap_or_else(|| "error".to_owned()),
        message,
    }
}

/// A frame that matches no declared shape, for `on("message")`.
fn raw_message(data: RawJson) -> Inbound {
    Inbound::Event(InEvent {
        channel: RAW_CHANNEL.to_owned(),
        event: RAW_CHANNEL.to_owned(),
        seq: None,
        id: None,
        data,
        spread: false,
    })
}

impl Wire for JsonWire {
    fn reset(&mut self) {
        // Answers for a dead socket's messages cannot come; the publishes awaiting their echo
        // outlive the socket (the server may broadcast them later).
        self.awaited.clear();
        self.order.clear();
        self.ping_ts = None;
        self.transmit.clear();
    }

    fn decode(&mut self, frame: &str) -> Result<Decoded, WireError> {
        let Ok(raw) = RawJson::parse(frame) else {
            return Ok(vec![Ok(raw_message(RawJson::to_json(frame)))]);
        };
        Ok(match Value::from_text(frame) {
            Ok(value @ Value::Object(_)) => self.decode_object(&value, raw),
            // Another JSON value, or one nested deeper than a value tree is built for.
            _ => vec![Ok(raw_message(raw))],
        })
    }

    fn encode(&mut self, message: Outbound) -> Result<Encoded, WireError> {
        Ok(match message {
            Outbound::Hello { client, token, .. } => {
                let vars = Vars::default()
                    .text("client", Some(&client))
                    .text("token", token.as_deref());
                let session = Inbound::Session {
                    session: client,
                    resumed: Resumption::Fresh,
                };
                match self.build(Kind::Hello, &vars, self.declared(Kind::Hello).as_ref()) {
                    Some(frame) => Encoded::FrameThen(frame, session),
                    None => Encoded::Answered(session),
                }
            }
            Outbound::Subscribe { channel, since } => {
                let live = Inbound::Subscribed {
                    channel: channel.clone(),
                    seq: None,
                    since: None,
                };
                if channel == RAW_CHANNEL {
                    return Ok(Encoded::Answered(live));
                }
                let since = self.since(since);
                let kind = match (since, &self.config.templates.resume) {
                    (Some(_), Some(_)) => Kind::Resume,
                    _ => Kind::Subscribe,
                };
                let vars = Vars::default()
                    .text("channel", Some(&channel))
                    .number("since", since);
                match self.build(kind, &vars, self.declared(kind).as_ref()) {
                    Some(frame) => Encoded::FrameThen(frame, live),
                    None => Encoded::Answered(live),
                }
            }
            Outbound::Unsubscribe { channel } => {
                if channel == RAW_CHANNEL {
                    return Ok(Encoded::Nothing);
                }
                let vars = Vars::default().text("channel", Some(&channel));
                let template = self.declared(Kind::Unsubscribe);
                self.build(Kind::Unsubscribe, &vars, template.as_ref())
                    .map_or(Encoded::Nothing, Encoded::Frame)
            }
            Outbound::Publish {
                id,
                channel,
                event,
                data,
                memory,
                ..
            } => self.encode_publish(id, &channel, &event, data, memory),
            Outbound::Request {
                id, event, data, ..
            } => {
                if self.config.answer.is_none() {
                    return Ok(Encoded::Answered(Inbound::Response {
                        id,
                        result: Err(ServerError {
                            code: "unsupported".to_owned(),
                            message: "options.json.answer is not declared: requests get no answer"
                                .to_owned(),
                        }),
                    }));
                }
                let vars = Vars::default()
                    .text("id", Some(&id))
                    .text("event", Some(&event))
                    .text("channel", Some(&event))
                    .with("data", Some(Out::Raw(data)));
                let template = self.request.clone();
                match self.build(Kind::Request, &vars, Some(&template)) {
                    Some(frame) => {
                        self.await_answer(id, Awaited::Request);
                        Encoded::Frame(frame)
                    }
                    None => Encoded::Nothing,
                }
            }
            Outbound::Emit { event, data, .. } => {
                let vars = Vars::default()
                    .text("event", Some(&event))
                    .text("channel", Some(&event))
                    .with("data", Some(Out::Raw(data)));
                let template = self.emit.clone();
                self.build(Kind::Emit, &vars, Some(&template))
                    .map_or(Encoded::Nothing, Encoded::Frame)
            }
            Outbound::Ping { ts } => {
                let Some(template) = self.declared(Kind::Ping) else {
                    return Ok(Encoded::Nothing);
                };
                let vars = Vars::default().number("ts", Some(ts));
                self.ping_ts = Some(ts);
                self.build(Kind::Ping, &vars, Some(&template))
                    .map_or(Encoded::Nothing, Encoded::Frame)
            }
            Outbound::Pong { ts } => {
                let template = self.declared(Kind::Pong);
                let vars = Vars::default().number("ts", Some(ts));
                match template {
                    Some(template) => self
                        .build(Kind::Pong, &vars, Some(&template))
                        .map_or(Encoded::Nothing, Encoded::Frame),
                    None => Encoded::Nothing,
                }
            }
        })
    }

    fn poll_transmit(&mut self) -> Option<String> {
        self.transmit.pop_front()
    }

    fn heartbeat(&self) -> Heartbeat {
        if self.config.heartbeat.is_some() {
            Heartbeat::ClientPings
        } else {
            // No app-level heartbeat: no liveness timer, the socket's own close ends it.
            Heartbeat::ServerPings { liveness_ms: None }
        }
    }

    fn dedups_requests(&self) -> bool {
        // Nothing is known of the server: a request sent again may run again.
        false
    }

    fn carries_emits(&self) -> bool {
        // An emit template, or the default one beside the default publish; a declared
        // publish without an emit: emits go as memory-only publishes in its shape.
        self.config.templates.emit.is_some() || self.config.templates.publish.is_none()
    }
}

#[cfg(test)]
mod tests;
