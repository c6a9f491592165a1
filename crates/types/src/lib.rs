//! Data model, validation and filter language of chroma-rs: no I/O.
