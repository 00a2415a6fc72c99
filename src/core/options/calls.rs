//! The options of single calls — `request()`, `publish()`, `subscribe()` (and `on()`),
//! `mutate()`/`watchDocument()`, `retryDeadLetters()` — and their check into core settings.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{OptionsError, priority, whole};
use crate::core::documents::SubscribeSpec;
use crate::core::gates::Pace;
use crate::core::pending::AnswerPolicy;

/// Per-call options of `request()`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    pub timeout_ms: Option<f64>,
    pub retries: Option<f64>,
}

impl RequestOptions {
    /// The policy of this request, from the client's defaults.
    pub fn policy(self, defaults: AnswerPolicy) -> Result<AnswerPolicy, OptionsError> {
        Ok(AnswerPolicy {
            timeout_ms: whole("options.timeoutMs", self.timeout_ms)?.unwrap_or(defaults.timeout_ms),
            retries: whole("options.retries", self.retries)?
                .map_or(defaults.retries, |n| n.min(100) as u32),
        })
    }
}

/// How a publish goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    /// Through the durable outbox.
    Durable,
    /// Memory only, sent when open or buffered.
    Memory,
    /// Memory only, held with other batched publishes.
    Batched,
}

/// Per-call options of `publish()`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishOptions {
    /// Through the outbox (default true), or memory only.
    pub durable: Option<bool>,
    /// Memory only, held with other batched publishes.
    pub batch: Option<bool>,
    /// Higher goes first across channels (default 0).
    pub priority: Option<f64>,
}

impl PublishOptions {
    /// The publish's mode and priority.
    pub fn mode(self) -> Result<(PublishMode, i32), OptionsError> {
        let priority = priority(self.priority)?;
        let mode = match (self.batch.unwrap_or(false), self.durable) {
            (true, Some(true)) => return Err(OptionsError::BatchDurable),
            (true, _) => PublishMode::Batched,
            (false, Some(false)) => PublishMode::Memory,
            (false, _) => PublishMode::Durable,
        };
        Ok((mode, priority))
    }
}

/// A number of milliseconds, or a flag (`true`: the default of 1 s, `false`: off).
#[derive(Debug, Clone, PartialEq)]
pub enum MsOrFlag {
    Ms(f64),
    Flag(bool),
}

/// `true` (coalesce by event name), `false`, or a dotted path into the data to coalesce by.
#[derive(Debug, Clone, PartialEq)]
pub enum FlagOrPath {
    Flag(bool),
    Path(String),
}

struct MsOrFlagVisitor;

impl Visitor<'_> for MsOrFlagVisitor {
    type Value = MsOrFlag;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number of milliseconds or a boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<MsOrFlag, E> {
        Ok(MsOrFlag::Flag(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<MsOrFlag, E> {
        Ok(MsOrFlag::Ms(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<MsOrFlag, E> {
        Ok(MsOrFlag::Ms(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MsOrFlag, E> {
        Ok(MsOrFlag::Ms(v as f64))
    }
}

impl<'de> Deserialize<'de> for MsOrFlag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MsOrFlagVisitor)
    }
}

struct FlagOrPathVisitor;

impl Visitor<'_> for FlagOrPathVisitor {
    type Value = FlagOrPath;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean or a path such as \"id\"")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<FlagOrPath, E> {
        Ok(FlagOrPath::Flag(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<FlagOrPath, E> {
        Ok(FlagOrPath::Path(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<FlagOrPath, E> {
        Ok(FlagOrPath::Path(v))
    }
}

impl<'de> Deserialize<'de> for FlagOrPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FlagOrPathVisitor)
    }
}

/// Per-call options of `subscribe()` (and of `on(event, …)`, with none set).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeOptions {
    /// Only this event name.
    pub event: Option<String>,
    /// Higher runs first (default 0).
    pub priority: Option<f64>,
    /// Resume after this channel sequence.
    pub since: Option<f64>,
    /// At most one delivery per this many ms (`true`: 1000).
    pub throttle_ms: Option<MsOrFlag>,
    /// The latest delivery once events stop for this many ms (`true`: 1000).
    pub debounce_ms: Option<MsOrFlag>,
    /// Once per animation frame, the latest event per key.
    pub coalesce: Option<FlagOrPath>,
}

fn ms_or_default(name: &'static str, value: Option<MsOrFlag>) -> Result<Option<u64>, OptionsError> {
    match value {
        None | Some(MsOrFlag::Flag(false)) => Ok(None),
        Some(MsOrFlag::Flag(true)) => Ok(Some(1_000)),
        Some(MsOrFlag::Ms(ms)) => whole(name, Some(ms)),
    }
}

impl SubscribeOptions {
    /// The subscription to `channel` these options describe.
    pub fn into_spec(self, channel: String) -> Result<SubscribeSpec, OptionsError> {
        let priority = priority(self.priority)?;
        let throttle = ms_or_default("options.throttleMs", self.throttle_ms)?;
        let debounce = ms_or_default("options.debounceMs", self.debounce_ms)?;
        let coalesce = match self.coalesce {
            None | Some(FlagOrPath::Flag(false)) => None,
            Some(FlagOrPath::Flag(true)) => Some(None),
            Some(FlagOrPath::Path(path)) => Some(Some(path)),
        };
        let pace = match (throttle, debounce, coalesce) {
            (Some(ms), None, None) => Some(Pace::Throttle(ms)),
            (None, Some(ms), None) => Some(Pace::Debounce(ms)),
            (None, None, Some(key)) => Some(Pace::Frame(key)),
            (None, None, None) => None,
            _ => return Err(OptionsError::Pace),
        };
        Ok(SubscribeSpec {
            channel,
            event: self.event,
            priority,
            since: whole("options.since", self.since)?,
            pace,
        })
    }
}

/// Options of `mutate()` and `watchDocument()`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentOptions {
    /// The documents' channel (default "docs").
    pub channel: Option<String>,
    /// The event name of a change (default "doc").
    pub event: Option<String>,
    /// `change` is the whole value rather than a merge patch.
    pub replace: Option<bool>,
    /// `watchDocument`: follow the key only, no channel (documents changed by
    /// `optimistic()` and `setDocument()`).
    pub local: Option<bool>,
}

impl DocumentOptions {
    /// The channel, or "docs".
    pub fn channel(&self) -> &str {
        self.channel.as_deref().unwrap_or("docs")
    }

    /// The event name, or "doc".
    pub fn event(&self) -> &str {
        self.event.as_deref().unwrap_or("doc")
    }
}

/// Dead-letter ids (`retryDeadLetters(ids)`); absent means all.
pub type Ids = Option<Vec<String>>;
