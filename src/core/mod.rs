//! The sans-IO client: pure Rust state machines that take time as an argument and return
//! what to do as values. Nothing here touches the browser.

pub mod backoff;
pub mod breaker;
pub mod client;
mod config;
pub mod docs;
pub mod documents;
mod durable;
pub mod error;
pub mod gates;
pub mod id;
mod inbound;
mod leader;
mod lifecycle;
pub mod metrics;
pub mod outbox;
pub mod pending;
pub mod rng;
pub mod router;
pub mod socketio;
pub mod state;
pub mod tabs;
pub mod timer;

pub use client::{Action, ClientCore, Delivery, DocChange, Event};
pub use config::Config;
pub use error::{ClientError, RequestError, SendError};
pub use outbox::{DeadLetter, OutboxConfig, OutboxEntry, StoreOp};
pub use socketio::Protocol;
pub use state::{ConnectionState, OutboxStatus, Role, Snapshot, StorageState};
