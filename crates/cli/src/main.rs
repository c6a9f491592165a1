//! The chroma-rs binary.
fn main() {}
