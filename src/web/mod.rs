//! Browser adapters, one per web API. Each owns its closures and releases them on `Drop`;
//! `JsValue` stops here and never reaches the core.

pub mod bus;
pub mod clock;
pub mod events;
pub mod http;
pub mod locks;
pub mod network;
pub mod socket;
pub mod store;
