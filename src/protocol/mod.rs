//! Wire codecs, pure Rust: the syncline JSON envelope and the JSON scanner under it.

pub mod envelope;
pub mod json;
pub mod value;
