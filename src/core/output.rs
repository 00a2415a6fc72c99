//! What the core asks of the browser ([`Action`]) and tells the app ([`Event`]).

use super::docs::DocChange;
use super::error::{ClientError, RequestError};
use super::messaging::Delivery;
use super::outbox::{DeadLetter, StoreOp};
use super::tabs::{SharedState, TabAction};
use crate::protocol::RawJson;

/// What the browser must do for the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Call the app's `auth` callback and report with `ClientCore::handle_auth`.
    RequestAuth { attempt: u64 },
    /// Open a WebSocket to `url`; report its events with this `attempt`.
    OpenSocket { attempt: u64, url: String },
    /// Send a text frame on the open socket.
    Send(String),
    /// Close the socket of `attempt` (if it still exists).
    CloseSocket {
        attempt: u64,
        code: u16,
        reason: &'static str,
    },
    /// Apply these storage changes, in order (one transaction is fine), then report with
    /// `ClientCore::handle_stored` or `ClientCore::handle_store_failed`.
    Store(Vec<StoreOp>),
    /// Leader: send an envelope frame to one follower tab, or to all (`None`), on the tab bus.
    ToTab { to: Option<String>, frame: String },
    /// Leader: tell every tab the connection's state.
    ShareState(SharedState),
    /// Call `ClientCore::handle_animation_frame` at the next animation frame.
    RequestFrame,
    /// Something for the tab bus, the leader's lock or the shared outbox (see [`TabAction`]).
    Tab(TabAction),
    /// Make this HTTP request (the outbox over HTTP) and report with `ClientCore::handle_http`.
    Http(super::rest::HttpRequest),
}

/// What the app must hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An event for subscribers.
    Message(Delivery),
    /// A request was answered or failed.
    RequestDone {
        id: String,
        result: Result<RawJson, RequestError>,
    },
    /// A publish was acked (with its sequence; `None`: written to the socket, where no
    /// answer comes) or failed.
    PublishDone {
        id: String,
        result: Result<Option<u64>, RequestError>,
    },
    /// A durable publish is stored locally and will be sent: its promise resolves as queued.
    PublishQueued { id: String },
    /// A durable publish is kept in memory only (storage is unavailable) and will be sent:
    /// its promise resolves as held, not as queued.
    PublishHeld { id: String },
    /// A durable publish reached the server (whether or not anyone still waits for it).
    Delivered { id: String, seq: Option<u64> },
    /// A durable publish was given up: refused for good, or past its retention.
    DeadLetter(DeadLetter),
    /// The server could not take up the previous session: events after `last_offset` may be
    /// missing (the app may fetch what it missed). Joins were sent again.
    Gap { last_offset: Option<String> },
    /// Events `from..=to` of `channel` can never be delivered: the server's history no longer
    /// has them (it said so), or asking for them again brought nothing. The stream goes on.
    Missed { channel: String, from: u64, to: u64 },
    /// Documents whose visible value changed (at most once per key per animation frame).
    DocsChanged(Vec<DocChange>),
    /// Something went wrong; the client carries on (or reconnects).
    Error(ClientError),
    /// A logout asked in this tab ended: every known tab obeyed, or some did not answer in
    /// time (`missing`); see `ClientCore::clear_all_tabs`.
    ClearDone(super::tabs::clear::ClearOutcome),
}
