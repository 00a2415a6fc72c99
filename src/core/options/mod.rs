//! The options an app passes (`new SynclineClient(options)`, `subscribe`, `publish`,
//! `request`, documents) as serde types, and their check into core settings: defaults,
//! ranges, and errors that name the field. The facade deserializes them from JS; native tests
//! from JSON.
//!
//! Numbers are read as `f64` (what JS has) and checked here, so that a wrong range is one
//! of this module's errors rather than the deserializer's.

use serde::Deserialize;

use super::backoff::Backoff;
use super::config::Config;
use super::docs::merge::Strategy;
use super::pending::AnswerPolicy;
use crate::protocol::url::is_insecure_remote;
use crate::protocol::value::Value;
use crate::protocol::{Protocol, ProtocolChoiceError};
pub use calls::{
    DocumentOptions, FlagOrPath, Ids, MsOrFlag, PublishMode, PublishOptions, RequestOptions,
    SubscribeOptions,
};
use http::{HttpOptions, http_settings};
use json::json_settings;
pub use json::{JsonAnswerOptions, JsonHeartbeatOptions, JsonOptions, JsonOptionsError};
use socketio::{SocketIoOptions, socket_io_settings};

mod calls;
mod http;
mod json;
mod socketio;

/// Why options were refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A field of the wrong type (from the deserializer): where, and what was wrong.
    #[error("{path}: {message}")]
    Type { path: String, message: String },
    #[error("options.url is required")]
    MissingUrl,
    #[error("options.url: {0}")]
    BadUrl(&'static str),
    #[error(
        "options.url must use wss:// (or https://) unless the server is on this machine; set allowInsecure: true to override"
    )]
    Insecure,
    #[error("options.protocol must be \"syncline\", \"socket.io\" or \"json\", not {0:?}")]
    Protocol(String),
    #[error("{0} must be a non-negative number")]
    NotWhole(&'static str),
    #[error("{0} must be between 0 and 1")]
    Jitter(&'static str),
    #[error("unknown conflict strategy {0:?}")]
    Strategy(String),
    #[error("priority must be a finite number")]
    Priority,
    #[error("batch publishes are memory-only: drop durable: true")]
    BatchDurable,
    #[error("choose one of throttleMs, debounceMs and coalesce")]
    Pace,
    #[error("{0} must be one of {1}")]
    OneOf(&'static str, &'static str),
    #[error("{0} applies to protocol: \"socket.io\" only")]
    SocketIoOnly(&'static str),
    #[error(
        "options.joins[{0}] must be a list whose first element is an event name, e.g. [\"join\", 42]"
    )]
    Join(usize),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0} applies to outbox.transport: \"http\" only")]
    HttpOnly(&'static str),
    #[error("{0} may use only the placeholders {1}")]
    Placeholder(&'static str, &'static str),
    #[error(
        "{0} must use https:// unless the server is on this machine; set allowInsecure: true to override"
    )]
    InsecureField(&'static str),
    #[error("{0} applies to protocol: \"socket.io\" or \"json\" only")]
    NotOnRelay(&'static str),
    #[error(transparent)]
    Json(#[from] JsonOptionsError),
}

/// Reconnect or retry delays (`reconnect`, `outbox.retry`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackoffOptions {
    pub initial_delay_ms: Option<f64>,
    pub max_delay_ms: Option<f64>,
    pub factor: Option<f64>,
    pub jitter: Option<f64>,
}

/// `heartbeat`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatOptions {
    pub interval_ms: Option<f64>,
    pub timeout_ms: Option<f64>,
}

/// `outbox`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxOptions {
    pub window: Option<f64>,
    pub ack_timeout_ms: Option<f64>,
    pub retention_ms: Option<f64>,
    pub max_entries: Option<f64>,
    pub max_attempts: Option<f64>,
    pub max_dead_letters: Option<f64>,
    #[serde(default)]
    pub retry: BackoffOptions,
    /// "socket" (default) or "http".
    pub transport: Option<String>,
    /// HTTP: one entry's URL (`{channel}`, `{event}`, `{id}` filled in).
    pub url: Option<String>,
    /// HTTP: one entry's method (default POST).
    pub method: Option<String>,
    /// HTTP: headers every request carries.
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// HTTP: entries go in batches (POST) to this URL instead.
    pub batch_url: Option<String>,
    /// HTTP: entries per batch (default 500).
    pub batch_size: Option<f64>,
}

/// `conflicts`; `F` is the app's resolver function (a JS function in the browser).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictOptions<F> {
    pub strategy: Option<String>,
    pub audit_size: Option<f64>,
    pub resolver: Option<F>,
}

impl<F> Default for ConflictOptions<F> {
    fn default() -> Self {
        Self {
            strategy: None,
            audit_size: None,
            resolver: None,
        }
    }
}

/// `batching`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchingOptions {
    pub max_messages: Option<f64>,
    pub max_delay_ms: Option<f64>,
}

/// `breaker`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerOptions {
    pub threshold: Option<f64>,
    pub cooldown_ms: Option<f64>,
}

/// The constructor's options (`ClientOptions` in the TypeScript declarations); `F` is the type
/// of the app's callbacks (`auth`, `conflicts.resolver`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "F: Deserialize<'de>"))]
pub struct ClientOptions<F> {
    pub url: Option<String>,
    pub protocol: Option<String>,
    pub allow_insecure: Option<bool>,
    pub namespace: Option<String>,
    pub path: Option<String>,
    pub client_id: Option<String>,
    pub auto_connect: Option<bool>,
    pub share_connection: Option<bool>,
    pub storage_key: Option<String>,
    pub auth: Option<F>,
    #[serde(default)]
    pub reconnect: BackoffOptions,
    #[serde(default)]
    pub heartbeat: HeartbeatOptions,
    #[serde(default)]
    pub outbox: OutboxOptions,
    #[serde(default)]
    pub conflicts: ConflictOptions<F>,
    #[serde(default)]
    pub batching: BatchingOptions,
    #[serde(default)]
    pub breaker: BreakerOptions,
    pub connect_timeout_ms: Option<f64>,
    pub request_timeout_ms: Option<f64>,
    pub request_retries: Option<f64>,
    pub publish_timeout_ms: Option<f64>,
    pub send_buffer_size: Option<f64>,
    pub max_message_bytes: Option<f64>,
    /// When a durable publish counts as delivered: "ack" (default), "echo", "sent".
    pub delivery: Option<String>,
    /// Socket.IO: the payload member that carries a publish's id (default "id").
    pub id_field: Option<String>,
    /// Socket.IO: "payload" (default) or "meta".
    pub publish_format: Option<String>,
    /// Socket.IO: events sent after every connection the server did not recover.
    pub joins: Option<Vec<Vec<Value>>>,
    /// Socket.IO: the server helper's replay event (opt-in).
    pub replay_event: Option<String>,
    /// How a server's answer to a publish is read: `(answer) => "ok" | "retry" | "refuse"`.
    pub ack_result: Option<F>,
    /// `protocol: "json"`: the server's frames as the app declares them.
    pub json: Option<JsonOptions<F>>,
}

/// What the client gets from its options: the core settings and what the driver needs.
#[derive(Debug)]
pub struct ClientSetup<F> {
    pub config: Config,
    /// Connect at once (`autoConnect`, default true).
    pub auto_connect: bool,
    /// One connection for all tabs of the origin (`shareConnection`, default true).
    pub share_connection: bool,
    /// Name of the IndexedDB database (from `storageKey`, default "default").
    pub database: String,
    pub auth: Option<F>,
    pub resolver: Option<F>,
    /// The app's `ackResult`.
    pub ack_result: Option<F>,
    /// The app's `json.encode`.
    pub json_encode: Option<F>,
}

/// What the options cannot say: ids and the jitter seed, chosen by the caller.
pub struct Identity {
    pub client_id: String,
    pub tab_id: String,
    pub seed: u64,
}

/// A non-negative whole number (of ms, or a count) from a JS number.
fn whole(name: &'static str, value: Option<f64>) -> Result<Option<u64>, OptionsError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && (0.0..=9_007_199_254_740_991.0).contains(&v) => {
            Ok(Some(v as u64))
        }
        Some(_) => Err(OptionsError::NotWhole(name)),
    }
}

fn priority(value: Option<f64>) -> Result<i32, OptionsError> {
    match value {
        None => Ok(0),
        Some(p) if p.is_finite() => Ok(p.clamp(-1_000_000.0, 1_000_000.0) as i32),
        Some(_) => Err(OptionsError::Priority),
    }
}

/// The field names of one backoff option, for its errors.
struct BackoffNames {
    initial: &'static str,
    max: &'static str,
    factor: &'static str,
    jitter: &'static str,
}

impl BackoffOptions {
    fn into_backoff(self, n: &BackoffNames, defaults: Backoff) -> Result<Backoff, OptionsError> {
        Ok(Backoff {
            initial_ms: whole(n.initial, self.initial_delay_ms)?.unwrap_or(defaults.initial_ms),
            max_ms: whole(n.max, self.max_delay_ms)?.unwrap_or(defaults.max_ms),
            factor: whole(n.factor, self.factor)?
                .map_or(defaults.factor, |f| f.clamp(1, 100) as u32),
            jitter_permille: match self.jitter {
                None => defaults.jitter_permille,
                Some(j) if (0.0..=1.0).contains(&j) => (j * 1000.0) as u32,
                Some(_) => return Err(OptionsError::Jitter(n.jitter)),
            },
        })
    }
}

impl<F> ClientOptions<F> {
    /// Checks the options and applies them over [`Config::new`]'s defaults.
    pub fn into_setup(self, id: Identity) -> Result<ClientSetup<F>, OptionsError> {
        let http = http_settings(HttpOptions {
            transport: self.outbox.transport.as_deref(),
            url: self.outbox.url.as_deref(),
            method: self.outbox.method.as_deref(),
            headers: self.outbox.headers.as_ref(),
            batch_url: self.outbox.batch_url.as_deref(),
            batch_size: self.outbox.batch_size,
            allow_insecure: self.allow_insecure == Some(true),
        })?;
        // With the outbox over HTTP a socket is optional: no `url`, no socket.
        let url = match (self.url, &http) {
            (Some(url), _) => url,
            (None, Some(_)) if self.protocol.is_none() => String::new(),
            (None, _) => return Err(OptionsError::MissingUrl),
        };
        let (url, protocol) = Protocol::choose(
            self.protocol.as_deref(),
            url,
            self.path.as_deref(),
            self.namespace.as_deref(),
        )
        .map_err(|e| match e {
            ProtocolChoiceError::BadUrl(why) => OptionsError::BadUrl(why),
            ProtocolChoiceError::Unknown => {
                OptionsError::Protocol(self.protocol.clone().unwrap_or_default())
            }
        })?;
        let mut protocol = protocol;
        socket_io_settings(
            &mut protocol,
            SocketIoOptions {
                delivery: self.delivery.as_deref(),
                id_field: self.id_field.as_deref(),
                publish_format: self.publish_format.as_deref(),
                joins: self.joins.as_deref(),
                replay_event: self.replay_event.as_deref(),
            },
        )?;
        let json_encode = json_settings(&mut protocol, self.json)?;
        if is_insecure_remote(&url) && self.allow_insecure != Some(true) {
            return Err(OptionsError::Insecure);
        }
        let mut config = Config::new(url, self.client_id.unwrap_or(id.client_id));
        if !protocol.retries_requests() {
            // Requests are not retried unless the app asks where nothing drops a resent one.
            config.request.retries = 0;
        }
        config.protocol = protocol;
        config.http = http;
        config.seed = id.seed;
        config.tab_id = id.tab_id;
        let names = BackoffNames {
            initial: "options.reconnect.initialDelayMs",
            max: "options.reconnect.maxDelayMs",
            factor: "options.reconnect.factor",
            jitter: "options.reconnect.jitter",
        };
        config.reconnect = self.reconnect.into_backoff(&names, config.reconnect)?;
        let b = self.outbox;
        let outbox = &mut config.outbox;
        outbox.window = whole("options.outbox.window", b.window)?
            .map_or(outbox.window, |n| n.clamp(1, 10_000) as usize);

        outbox.ack_timeout_ms = whole("options.outbox.ackTimeoutMs", b.ack_timeout_ms)?
            .unwrap_or(outbox.ack_timeout_ms);
        outbox.retention_ms =
            whole("options.outbox.retentionMs", b.retention_ms)?.unwrap_or(outbox.retention_ms);
        outbox.max_entries = whole("options.outbox.maxEntries", b.max_entries)?
            .map_or(outbox.max_entries, |n| n as usize);
        outbox.max_attempts = whole("options.outbox.maxAttempts", b.max_attempts)?
            .map_or(outbox.max_attempts, |n| n.clamp(1, 1_000_000) as u32);
        outbox.max_dead_letters = whole("options.outbox.maxDeadLetters", b.max_dead_letters)?
            .map_or(outbox.max_dead_letters, |n| n.min(1_000_000) as usize);
        let names = BackoffNames {
            initial: "options.outbox.retry.initialDelayMs",
            max: "options.outbox.retry.maxDelayMs",
            factor: "options.outbox.retry.factor",
            jitter: "options.outbox.retry.jitter",
        };
        outbox.retry = b.retry.into_backoff(&names, outbox.retry)?;
        let c = self.conflicts;
        if let Some(name) = c.strategy {
            config.conflict_strategy =
                Strategy::from_name(&name).ok_or(OptionsError::Strategy(name))?;
        }
        config.audit_size = whole("options.conflicts.auditSize", c.audit_size)?
            .map_or(config.audit_size, |n| n as usize);
        let g = self.batching;
        config.batch_max = whole("options.batching.maxMessages", g.max_messages)?
            .map_or(config.batch_max, |n| n.max(1) as usize);
        config.batch_delay_ms =
            whole("options.batching.maxDelayMs", g.max_delay_ms)?.unwrap_or(config.batch_delay_ms);
        let k = self.breaker;
        config.breaker_threshold = whole("options.breaker.threshold", k.threshold)?
            .map_or(config.breaker_threshold, |n| n.clamp(1, 1_000) as u32);
        config.breaker_cooldown_ms = whole("options.breaker.cooldownMs", k.cooldown_ms)?
            .unwrap_or(config.breaker_cooldown_ms);
        let h = self.heartbeat;
        config.heartbeat_interval_ms = whole("options.heartbeat.intervalMs", h.interval_ms)?
            .unwrap_or(config.heartbeat_interval_ms);
        config.heartbeat_timeout_ms = whole("options.heartbeat.timeoutMs", h.timeout_ms)?
            .unwrap_or(config.heartbeat_timeout_ms);
        config.connect_timeout_ms = whole("options.connectTimeoutMs", self.connect_timeout_ms)?
            .unwrap_or(config.connect_timeout_ms);
        config.request = AnswerPolicy {
            timeout_ms: whole("options.requestTimeoutMs", self.request_timeout_ms)?
                .unwrap_or(config.request.timeout_ms),
            retries: whole("options.requestRetries", self.request_retries)?
                .map_or(config.request.retries, |n| n.min(100) as u32),
        };
        config.publish_timeout_ms = whole("options.publishTimeoutMs", self.publish_timeout_ms)?
            .unwrap_or(config.publish_timeout_ms);
        config.send_buffer = whole("options.sendBufferSize", self.send_buffer_size)?
            .map_or(config.send_buffer, |n| n as usize);
        config.max_message_bytes = whole("options.maxMessageBytes", self.max_message_bytes)?
            .map_or(config.max_message_bytes, |n| n as usize);
        config.use_auth = self.auth.is_some();
        let key = self.storage_key.as_deref().unwrap_or("default");
        Ok(ClientSetup {
            config,
            auto_connect: self.auto_connect.unwrap_or(true),
            share_connection: self.share_connection.unwrap_or(true),
            database: ["syncline:", key].concat(),
            auth: self.auth,
            resolver: c.resolver,
            ack_result: self.ack_result,
            json_encode,
        })
    }
}
