//! Storage engine of chroma-rs: SQLite schema and migrations, vector files, the engine behind every client.
