//! The sans-IO client: pure Rust state machines that take time as an argument and return
//! what to do as values. Nothing here touches the browser.

pub mod client;
mod commands;
mod config;
pub mod conn;
pub mod docs;
pub mod documents;
mod durable;
pub mod error;
pub mod id;
mod inbound;
mod leader;
mod lifecycle;
mod logout;
pub mod messaging;
pub mod metrics;
pub mod optimistic;
pub mod options;
pub mod outbox;
mod output;
pub mod rest;
pub mod rng;
pub mod state;
pub mod tabs;
pub mod timer;
pub mod view;

pub use crate::protocol::Protocol;
pub use client::{AckRule, Action, ClientCore, Event};
pub use config::Config;
pub use conn::backoff;
pub use docs::DocChange;
pub use error::{ClientError, RequestError, SendError};
pub use messaging::{Delivery, SubscribeSpec, gates, pending, router};
pub use outbox::{DeadLetter, OutboxConfig, OutboxEntry, StoreOp};
pub use state::{ConnectionState, OutboxStatus, Role, Snapshot, StorageState};
