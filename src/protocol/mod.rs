//! Wire codecs, pure Rust: the syncline JSON envelope, Engine.IO/Socket.IO packets, and the
//! JSON scanner under them.

pub mod envelope;
pub mod json;
pub mod socketio;
pub mod url;
pub mod value;
