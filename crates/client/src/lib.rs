//! The chroma-rs Rust client: one API over the embedded engine (ephemeral or persistent) and HTTP.

pub mod wire;
