//! Readers of Chroma data that predates chroma-rs: 0.3.x parquet and ClickHouse, Chroma >= 0.4 folders.
