//! chroma-rs migrate: copy legacy Chroma data into chroma-rs, with checks, a report and verification.
