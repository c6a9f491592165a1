//! User settings. chroma-rs sends no telemetry at all: `anonymized_telemetry` is accepted so
//! existing configurations keep working, and ignored.

use crate::error::{Error, Result};

/// Settings of a client or server.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `reset()` wipes everything; refused unless this is true.
    pub allow_reset: bool,
    /// Accepted and ignored: chroma-rs never sends telemetry.
    pub anonymized_telemetry: bool,
    /// Largest write batch accepted.
    pub max_batch_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { allow_reset: false, anonymized_telemetry: false, max_batch_size: crate::DEFAULT_MAX_BATCH_SIZE }
    }
}

/// Values that name Chroma 0.3.x storage or API implementations.
const LEGACY_VALUES: &[&str] = &[
    "duckdb",
    "duckdb+parquet",
    "clickhouse",
    "local",
    "rest",
    "chromadb.db.duckdb.DuckDB",
    "chromadb.db.duckdb.PersistentDuckDB",
    "chromadb.db.clickhouse.Clickhouse",
    "chromadb.api.local.LocalAPI",
];

/// The error for a Chroma 0.3.x-style configuration.
pub fn deprecated_configuration(key: &str, value: &str) -> Error {
    Error::invalid(format!(
        "You are using a deprecated configuration of Chroma ({key} = {value}). chroma-rs stores data in its own \
         format (SQLite + HNSW). If you have data from Chroma 0.3.x (duckdb+parquet or ClickHouse), move it with \
         `chroma-rs migrate --from <old folder or clickhouse://host:8123> --to <new folder>`, then open the new folder."
    ))
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(Error::invalid(format!("Setting {key} expects true or false, got {value:?}"))),
    }
}

impl Settings {
    /// Sets one setting by its Chroma name (case-insensitive, as Chroma's environment
    /// variables). Unknown keys are ignored; legacy implementations are refused.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let k = key.to_ascii_lowercase();
        if k == "chroma_db_impl" || LEGACY_VALUES.contains(&value) {
            return Err(deprecated_configuration(&k, value));
        }
        match k.as_str() {
            "allow_reset" => self.allow_reset = parse_bool(&k, value)?,
            "anonymized_telemetry" => self.anonymized_telemetry = parse_bool(&k, value)?,
            "max_batch_size" => {
                self.max_batch_size = value.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::invalid(format!("Setting max_batch_size expects a positive integer, got {value:?}"))
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Settings from the environment variables Chroma users already set
    /// (`ALLOW_RESET`, `ANONYMIZED_TELEMETRY`, `CHROMA_DB_IMPL`, `CHROMA_API_IMPL`, ...).
    pub fn from_env() -> Result<Settings> {
        Self::from_pairs(std::env::vars())
    }

    /// Settings from `(name, value)` pairs, as [`Settings::from_env`] reads them.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Settings> {
        let mut s = Settings::default();
        for (k, v) in pairs {
            let lk = k.to_ascii_lowercase();
            if lk == "chroma_db_impl" && !v.is_empty() {
                return Err(deprecated_configuration(&lk, &v));
            }
            if matches!(
                lk.as_str(),
                "allow_reset" | "anonymized_telemetry" | "chroma_api_impl" | "chroma_max_batch_size"
            ) {
                let key = if lk == "chroma_max_batch_size" { "max_batch_size" } else { lk.as_str() };
                s.set(key, &v)?;
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_is_refused() {
        let e = Settings::from_pairs([("CHROMA_DB_IMPL".to_string(), "duckdb+parquet".to_string())]).unwrap_err();
        assert!(e.message.contains("deprecated configuration"));
        assert!(e.message.contains("chroma-rs migrate"));
        let mut s = Settings::default();
        assert!(s.set("chroma_api_impl", "rest").is_err());
        s.set("ALLOW_RESET", "TRUE").unwrap();
        assert!(s.allow_reset);
        assert!(s.set("allow_reset", "maybe").is_err());
    }
}
