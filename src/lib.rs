//! syncline: a browser client that keeps a web app in real-time contact with its server and
//! loses nothing when the network, the server or the tab goes away.
//!
//! `core` and `protocol` are pure Rust and test natively; `web`, `driver` and `api` exist only
//! on `wasm32` and connect the core to the browser. `api` holds every wasm-bindgen export.

pub mod core;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod web;

#[cfg(target_arch = "wasm32")]
pub use api::SynclineClient;
