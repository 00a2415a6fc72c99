//! `new SynclineClient(options)`: JS options into a core [`Config`] and an auth hook.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::convert::invalid_argument;
use super::read::{self, Fields};
use crate::core::backoff::Backoff;
use crate::core::docs::merge::Strategy;
use crate::core::documents::SubscribeSpec;
use crate::core::gates::Pace;
use crate::core::pending::AnswerPolicy;
use crate::core::{Config, Protocol};
use crate::driver::AuthFuture;
use crate::protocol::socketio::engine_url;
use crate::web::socket::describe;

#[derive(Default)]
struct ReconnectOptions {
    initial_delay_ms: Option<f64>,
    max_delay_ms: Option<f64>,
    factor: Option<f64>,
    jitter: Option<f64>,
}

impl ReconnectOptions {
    fn read(f: &Fields) -> Result<Self, JsValue> {
        Ok(Self {
            initial_delay_ms: f.number("initialDelayMs")?,
            max_delay_ms: f.number("maxDelayMs")?,
            factor: f.number("factor")?,
            jitter: f.number("jitter")?,
        })
    }
}

struct HeartbeatOptions {
    interval_ms: Option<f64>,
    timeout_ms: Option<f64>,
}

struct OutboxOptions {
    window: Option<f64>,
    ack_timeout_ms: Option<f64>,
    retention_ms: Option<f64>,
    max_entries: Option<f64>,
    retry: ReconnectOptions,
}

struct ConflictOptions {
    strategy: Option<String>,
    audit_size: Option<f64>,
}

struct BatchingOptions {
    max_messages: Option<f64>,
    max_delay_ms: Option<f64>,
}

struct BreakerOptions {
    threshold: Option<f64>,
    cooldown_ms: Option<f64>,
}

/// A number of milliseconds, or `true` for the default.
pub enum MsOrTrue {
    Ms(f64),
    Flag(bool),
}

impl MsOrTrue {
    fn read(f: &Fields, key: &str) -> Result<Option<Self>, JsValue> {
        let Some(v) = f.value(key) else {
            return Ok(None);
        };
        if let Some(ms) = v.as_f64() {
            Ok(Some(Self::Ms(ms)))
        } else if let Some(flag) = v.as_bool() {
            Ok(Some(Self::Flag(flag)))
        } else {
            Err(f.no_variant("MsOrTrue"))
        }
    }
}

/// `true` (coalesce by event name) or a dotted path into the data to coalesce by.
pub enum FlagOrPath {
    Flag(bool),
    Path(String),
}

impl FlagOrPath {
    fn read(f: &Fields, key: &str) -> Result<Option<Self>, JsValue> {
        let Some(v) = f.value(key) else {
            return Ok(None);
        };
        if let Some(flag) = v.as_bool() {
            Ok(Some(Self::Flag(flag)))
        } else if let Some(path) = v.as_string() {
            Ok(Some(Self::Path(path)))
        } else {
            Err(f.no_variant("FlagOrPath"))
        }
    }
}

struct ClientOptions {
    conflicts: ConflictOptions,
    batching: BatchingOptions,
    breaker: BreakerOptions,
    storage_key: Option<String>,
    share_connection: Option<bool>,
    outbox: OutboxOptions,
    url: Option<String>,
    protocol: Option<String>,
    allow_insecure: Option<bool>,
    namespace: Option<String>,
    path: Option<String>,
    client_id: Option<String>,
    auto_connect: Option<bool>,
    reconnect: ReconnectOptions,
    heartbeat: HeartbeatOptions,
    connect_timeout_ms: Option<f64>,
    request_timeout_ms: Option<f64>,
    request_retries: Option<f64>,
    publish_timeout_ms: Option<f64>,
    send_buffer_size: Option<f64>,
    max_message_bytes: Option<f64>,
}

impl ClientOptions {
    fn read(f: &Fields) -> Result<Self, JsValue> {
        let conflicts = f.nested("conflicts", "ConflictOptions")?;
        let conflicts = ConflictOptions {
            strategy: conflicts.string("strategy")?,
            audit_size: conflicts.number("auditSize")?,
        };
        let batching = f.nested("batching", "BatchingOptions")?;
        let batching = BatchingOptions {
            max_messages: batching.number("maxMessages")?,
            max_delay_ms: batching.number("maxDelayMs")?,
        };
        let breaker = f.nested("breaker", "BreakerOptions")?;
        let breaker = BreakerOptions {
            threshold: breaker.number("threshold")?,
            cooldown_ms: breaker.number("cooldownMs")?,
        };
        let storage_key = f.string("storageKey")?;
        let share_connection = f.boolean("shareConnection")?;
        let outbox = f.nested("outbox", "OutboxOptions")?;
        let outbox = OutboxOptions {
            window: outbox.number("window")?,
            ack_timeout_ms: outbox.number("ackTimeoutMs")?,
            retention_ms: outbox.number("retentionMs")?,
            max_entries: outbox.number("maxEntries")?,
            retry: ReconnectOptions::read(&outbox.nested("retry", "ReconnectOptions")?)?,
        };
        let url = f.string("url")?;
        let protocol = f.string("protocol")?;
        let allow_insecure = f.boolean("allowInsecure")?;
        let namespace = f.string("namespace")?;
        let path = f.string("path")?;
        let client_id = f.string("clientId")?;
        let auto_connect = f.boolean("autoConnect")?;
        let reconnect = ReconnectOptions::read(&f.nested("reconnect", "ReconnectOptions")?)?;
        let heartbeat = f.nested("heartbeat", "HeartbeatOptions")?;
        let heartbeat = HeartbeatOptions {
            interval_ms: heartbeat.number("intervalMs")?,
            timeout_ms: heartbeat.number("timeoutMs")?,
        };
        Ok(Self {
            conflicts,
            batching,
            breaker,
            storage_key,
            share_connection,
            outbox,
            url,
            protocol,
            allow_insecure,
            namespace,
            path,
            client_id,
            auto_connect,
            reconnect,
            heartbeat,
            connect_timeout_ms: f.number("connectTimeoutMs")?,
            request_timeout_ms: f.number("requestTimeoutMs")?,
            request_retries: f.number("requestRetries")?,
            publish_timeout_ms: f.number("publishTimeoutMs")?,
            send_buffer_size: f.number("sendBufferSize")?,
            max_message_bytes: f.number("maxMessageBytes")?,
        })
    }
}

/// Per-call options of `request()`.
pub struct RequestOptions {
    timeout_ms: Option<f64>,
    retries: Option<f64>,
}

/// Per-call options of `publish()`.
pub struct PublishOptions {
    /// Through the outbox (default true), or memory only.
    pub durable: Option<bool>,
    /// Memory only, held with other batched publishes (up to 10 or 2 s by default).
    pub batch: Option<bool>,
    /// Higher goes first across channels (default 0).
    pub priority: Option<f64>,
}

/// Per-call options of `subscribe()`.
pub struct SubscribeOptions {
    /// Only this event name.
    pub event: Option<String>,
    /// Higher runs first (default 0).
    pub priority: Option<f64>,
    /// Resume after this channel sequence.
    pub since: Option<f64>,
    /// At most one delivery per this many ms (`true`: 1000).
    pub throttle_ms: Option<MsOrTrue>,
    /// The latest delivery once events stop for this many ms (`true`: 1000).
    pub debounce_ms: Option<MsOrTrue>,
    /// Once per animation frame, the latest event per key (`true`: per event name, or a
    /// dotted path into the data such as "id").
    pub coalesce: Option<FlagOrPath>,
}

/// What the constructor needs: the core settings, whether to connect now, the auth callback.
pub struct Parsed {
    pub config: Config,
    /// The app's conflict resolver (`conflicts.resolver`).
    pub resolver: Option<js_sys::Function>,
    /// One connection for all tabs of the origin (default true).
    pub share_connection: bool,
    /// Name of the outbox's IndexedDB database.
    pub database: String,
    pub auto_connect: bool,
    pub auth: Option<js_sys::Function>,
}

/// A non-negative whole number of milliseconds (or count) from a JS number.
fn whole(name: &str, value: Option<f64>) -> Result<Option<u64>, JsValue> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 && v <= 9_007_199_254_740_991.0 => Ok(Some(v as u64)),
        Some(_) => Err(invalid_argument(&format!(
            "{name} must be a non-negative number"
        ))),
    }
}

/// Reads the constructor options.
pub fn parse_client(
    options: &JsValue,
    client_id: String,
    tab_id: String,
    seed: u64,
) -> Result<Parsed, JsValue> {
    let o = ClientOptions::read(&Fields::top(options, "options", "ClientOptions")?)?;
    let url = o
        .url
        .ok_or_else(|| invalid_argument("options.url is required"))?;
    let (url, protocol) = match o.protocol.as_deref() {
        None | Some("syncline") => (url, Protocol::Envelope),
        Some("socket.io") => {
            let path = o.path.as_deref().unwrap_or("/socket.io/");
            let (url, namespace) = engine_url(&url, path, o.namespace.as_deref())
                .map_err(|e| invalid_argument(&format!("options.url: {e}")))?;
            (url, Protocol::SocketIo { namespace })
        }
        Some(other) => {
            return Err(invalid_argument(&format!(
                "options.protocol must be \"syncline\" or \"socket.io\", not {other:?}"
            )));
        }
    };
    if crate::protocol::url::is_insecure_remote(&url) && o.allow_insecure != Some(true) {
        return Err(invalid_argument(
            "options.url must use wss:// (or https://) unless the server is on this machine; set allowInsecure: true to override",
        ));
    }
    let mut config = Config::new(url, o.client_id.unwrap_or(client_id));
    if matches!(protocol, Protocol::SocketIo { .. }) {
        // A Socket.IO handler runs once per event it receives and has no id to dedup a
        // resent request by: requests are not retried unless the app asks.
        config.request.retries = 0;
    }
    config.protocol = protocol;
    config.seed = seed;
    config.tab_id = tab_id;
    config.reconnect = backoff("reconnect", &o.reconnect, config.reconnect)?;
    let b = &o.outbox;
    let outbox = &mut config.outbox;
    outbox.window =
        whole("outbox.window", b.window)?.map_or(outbox.window, |n| n.clamp(1, 10_000) as usize);
    outbox.ack_timeout_ms =
        whole("outbox.ackTimeoutMs", b.ack_timeout_ms)?.unwrap_or(outbox.ack_timeout_ms);
    outbox.retention_ms =
        whole("outbox.retentionMs", b.retention_ms)?.unwrap_or(outbox.retention_ms);
    outbox.max_entries =
        whole("outbox.maxEntries", b.max_entries)?.map_or(outbox.max_entries, |n| n as usize);
    outbox.retry = backoff("outbox.retry", &b.retry, outbox.retry)?;
    if let Some(name) = &o.conflicts.strategy {
        config.conflict_strategy = Strategy::from_name(name)
            .ok_or_else(|| invalid_argument(&format!("unknown conflict strategy {name:?}")))?;
    }
    config.audit_size = whole("conflicts.auditSize", o.conflicts.audit_size)?
        .map_or(config.audit_size, |n| n as usize);
    config.batch_max = whole("batching.maxMessages", o.batching.max_messages)?
        .map_or(config.batch_max, |n| n.max(1) as usize);
    config.batch_delay_ms =
        whole("batching.maxDelayMs", o.batching.max_delay_ms)?.unwrap_or(config.batch_delay_ms);
    config.breaker_threshold = whole("breaker.threshold", o.breaker.threshold)?
        .map_or(config.breaker_threshold, |n| n.clamp(1, 1_000) as u32);
    config.breaker_cooldown_ms =
        whole("breaker.cooldownMs", o.breaker.cooldown_ms)?.unwrap_or(config.breaker_cooldown_ms);
    let h = &o.heartbeat;
    config.heartbeat_interval_ms =
        whole("heartbeat.intervalMs", h.interval_ms)?.unwrap_or(config.heartbeat_interval_ms);
    config.heartbeat_timeout_ms =
        whole("heartbeat.timeoutMs", h.timeout_ms)?.unwrap_or(config.heartbeat_timeout_ms);
    config.connect_timeout_ms =
        whole("connectTimeoutMs", o.connect_timeout_ms)?.unwrap_or(config.connect_timeout_ms);
    config.request = AnswerPolicy {
        timeout_ms: whole("requestTimeoutMs", o.request_timeout_ms)?
            .unwrap_or(config.request.timeout_ms),
        retries: whole("requestRetries", o.request_retries)?
            .map_or(config.request.retries, |n| n.min(100) as u32),
    };
    config.publish_timeout_ms =
        whole("publishTimeoutMs", o.publish_timeout_ms)?.unwrap_or(config.publish_timeout_ms);
    config.send_buffer =
        whole("sendBufferSize", o.send_buffer_size)?.map_or(config.send_buffer, |n| n as usize);
    config.max_message_bytes = whole("maxMessageBytes", o.max_message_bytes)?
        .map_or(config.max_message_bytes, |n| n as usize);
    let auth = js_sys::Reflect::get(options, &JsValue::from_str("auth"))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null());
    let auth = match auth {
        None => None,
        Some(f) => Some(
            f.dyn_into::<js_sys::Function>()
                .map_err(|_| invalid_argument("options.auth must be a function"))?,
        ),
    };
    config.use_auth = auth.is_some();
    let key = o.storage_key.unwrap_or_else(|| "default".to_owned());
    let resolver = js_sys::Reflect::get(options, &JsValue::from_str("conflicts"))
        .ok()
        .filter(JsValue::is_object)
        .and_then(|c| js_sys::Reflect::get(&c, &JsValue::from_str("resolver")).ok())
        .filter(|r| !r.is_undefined() && !r.is_null());
    let resolver = match resolver {
        None => None,
        Some(f) => Some(
            f.dyn_into::<js_sys::Function>()
                .map_err(|_| invalid_argument("conflicts.resolver must be a function"))?,
        ),
    };
    Ok(Parsed {
        resolver,
        share_connection: o.share_connection.unwrap_or(true),
        database: format!("syncline:{key}"),
        config,
        auto_connect: o.auto_connect.unwrap_or(true),
        auth,
    })
}

fn backoff(name: &str, r: &ReconnectOptions, defaults: Backoff) -> Result<Backoff, JsValue> {
    Ok(Backoff {
        initial_ms: whole(&format!("{name}.initialDelayMs"), r.initial_delay_ms)?
            .unwrap_or(defaults.initial_ms),
        max_ms: whole(&format!("{name}.maxDelayMs"), r.max_delay_ms)?.unwrap_or(defaults.max_ms),
        factor: whole(&format!("{name}.factor"), r.factor)?
            .map_or(defaults.factor, |f| f.clamp(1, 100) as u32),
        jitter_permille: match r.jitter {
            None => defaults.jitter_permille,
            Some(j) if (0.0..=1.0).contains(&j) => (j * 1000.0) as u32,
            Some(_) => {
                return Err(invalid_argument(&format!(
                    "{name}.jitter must be between 0 and 1"
                )));
            }
        },
    })
}

/// How a publish goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    Durable,
    Memory,
    Batched,
}

/// Reads `publish()` options: durable (default true), batch, and priority.
pub fn parse_publish(options: &JsValue) -> Result<(PublishMode, i32), JsValue> {
    let f = Fields::top(options, "publish options", "PublishOptions")?;
    let o = PublishOptions {
        durable: f.boolean("durable")?,
        batch: f.boolean("batch")?,
        priority: f.number("priority")?,
    };
    let priority = match o.priority {
        None => 0,
        Some(p) if p.is_finite() => p.clamp(-1_000_000.0, 1_000_000.0) as i32,
        Some(_) => return Err(invalid_argument("priority must be a finite number")),
    };
    let mode = match (o.batch.unwrap_or(false), o.durable) {
        (true, Some(true)) => {
            return Err(invalid_argument(
                "batch publishes are memory-only: drop durable: true",
            ));
        }
        (true, _) => PublishMode::Batched,
        (false, Some(false)) => PublishMode::Memory,
        (false, _) => PublishMode::Durable,
    };
    Ok((mode, priority))
}

/// Reads a list of dead-letter ids (`undefined`: all of them).
pub fn parse_ids(ids: &JsValue) -> Result<Option<Vec<String>>, JsValue> {
    if ids.is_undefined() || ids.is_null() {
        return Ok(None);
    }
    read::strings(ids)
        .map(Some)
        .ok_or_else(|| invalid_argument("ids must be an array of strings"))
}

/// Reads `request()` options into a policy (defaults from the client).
pub fn parse_request(options: &JsValue, defaults: AnswerPolicy) -> Result<AnswerPolicy, JsValue> {
    let f = Fields::top(options, "request options", "RequestOptions")?;
    let o = RequestOptions {
        timeout_ms: f.number("timeoutMs")?,
        retries: f.number("retries")?,
    };
    Ok(AnswerPolicy {
        timeout_ms: whole("timeoutMs", o.timeout_ms)?.unwrap_or(defaults.timeout_ms),
        retries: whole("retries", o.retries)?.map_or(defaults.retries, |n| n.min(100) as u32),
    })
}

fn ms_or_default(name: &str, value: Option<MsOrTrue>) -> Result<Option<u64>, JsValue> {
    match value {
        None | Some(MsOrTrue::Flag(false)) => Ok(None),
        Some(MsOrTrue::Flag(true)) => Ok(Some(1_000)),
        Some(MsOrTrue::Ms(ms)) => whole(name, Some(ms)),
    }
}

/// Reads `subscribe()` options.
pub fn parse_subscribe(options: &JsValue, channel: String) -> Result<SubscribeSpec, JsValue> {
    let f = Fields::top(options, "subscribe options", "SubscribeOptions")?;
    let o = SubscribeOptions {
        event: f.string("event")?,
        priority: f.number("priority")?,
        since: f.number("since")?,
        throttle_ms: MsOrTrue::read(&f, "throttleMs")?,
        debounce_ms: MsOrTrue::read(&f, "debounceMs")?,
        coalesce: FlagOrPath::read(&f, "coalesce")?,
    };
    let priority = match o.priority {
        None => 0,
        Some(p) if p.is_finite() => p.clamp(-1_000_000.0, 1_000_000.0) as i32,
        Some(_) => return Err(invalid_argument("priority must be a finite number")),
    };
    let throttle = ms_or_default("throttleMs", o.throttle_ms)?;
    let debounce = ms_or_default("debounceMs", o.debounce_ms)?;
    let pace = match (throttle, debounce, o.coalesce) {
        (Some(ms), None, None | Some(FlagOrPath::Flag(false))) => Some(Pace::Throttle(ms)),
        (None, Some(ms), None | Some(FlagOrPath::Flag(false))) => Some(Pace::Debounce(ms)),
        (None, None, Some(FlagOrPath::Flag(true))) => Some(Pace::Frame(None)),
        (None, None, Some(FlagOrPath::Path(path))) => Some(Pace::Frame(Some(path))),
        (None, None, None | Some(FlagOrPath::Flag(false))) => None,
        _ => {
            return Err(invalid_argument(
                "choose one of throttleMs, debounceMs and coalesce",
            ));
        }
    };
    Ok(SubscribeSpec {
        channel,
        event: o.event,
        priority,
        since: whole("since", o.since)?,
        pace,
    })
}

/// Wraps the app's `auth` callback: it may return a token, `{ token }`, null, or a Promise of one.
pub fn auth_hook(auth: js_sys::Function) -> Box<dyn Fn() -> AuthFuture> {
    Box::new(move || {
        let returned = auth.call0(&JsValue::NULL);
        Box::pin(async move {
            let value = returned.map_err(|e| describe(&e))?;
            let value = if value.has_type::<js_sys::Promise>() {
                let promise: js_sys::Promise = value.unchecked_into();
                wasm_bindgen_futures::JsFuture::from(promise)
                    .await
                    .map_err(|e| describe(&e))?
            } else {
                value
            };
            token_of(&value)
        })
    })
}

fn token_of(value: &JsValue) -> Result<Option<String>, String> {
    if value.is_null() || value.is_undefined() {
        return Ok(None);
    }
    if let Some(token) = value.as_string() {
        return Ok(Some(token));
    }
    let token =
        js_sys::Reflect::get(value, &JsValue::from_str("token")).unwrap_or(JsValue::UNDEFINED);
    if token.is_null() || token.is_undefined() {
        return Ok(None);
    }
    token
        .as_string()
        .map(Some)
        .ok_or_else(|| "auth must return a string, { token }, or null".to_owned())
}
