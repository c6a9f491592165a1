//! Tenant, database and collection objects, in the shape each client line expects.

use crate::line::ClientLine;
use chroma_types::metadata::{metadata_from_json, metadata_to_json};
use chroma_types::{Collection, Database, Error, IndexConfig, Result, Tenant};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The tenant object: `{"name"}`, plus `"resource_name": null` on API v2.
pub fn tenant_to_json(t: &Tenant, line: ClientLine) -> Value {
    if line.is_v2() {
        json!({"name": t.name, "resource_name": null})
    } else {
        json!({"name": t.name})
    }
}

/// Reads a tenant object of any line.
pub fn tenant_from_json(v: &Value) -> Result<Tenant> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal(format!("Unexpected tenant object from server: {v}")))?;
    Ok(Tenant { name: name.to_string() })
}

/// The database object (the same on every line).
pub fn database_to_json(d: &Database) -> Value {
    json!({"id": d.id.to_string(), "name": d.name, "tenant": d.tenant})
}

/// Reads a database object.
pub fn database_from_json(v: &Value) -> Result<Database> {
    let bad = || Error::internal(format!("Unexpected database object from server: {v}"));
    let id = v.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(bad)?;
    let name = v.get("name").and_then(Value::as_str).ok_or_else(bad)?;
    let tenant = v.get("tenant").and_then(Value::as_str).ok_or_else(bad)?;
    Ok(Database { id, name: name.to_string(), tenant: tenant.to_string() })
}

/// The collection object in the shape `line` expects: 0.4.x's five keys, 0.5.x's with
/// `configuration_json` (0.5.x form), or v2's with both configuration forms and `schema`
/// (without the 1.x keys and `schema` for [`ClientLine::V06`], whose clients reject them).
pub fn collection_to_json(c: &Collection, line: ClientLine) -> Value {
    let v04_shape = line == ClientLine::V04;
    let mut m = Map::new();
    m.insert("id".into(), Value::String(c.id.to_string()));
    m.insert("name".into(), Value::String(c.name.clone()));
    if !v04_shape {
        let mut cfg = c.config.to_v05_json();
        if line.is_v2() {
            // 1.x clients read `hnsw` and `embedding_function`; 0.5.16-0.6 read the `_type` form.
            if let (Some(o), Value::Object(v1)) = (cfg.as_object_mut(), c.config.to_v1x_json()) {
                o.extend(v1);
            }
        }
        m.insert("configuration_json".into(), cfg);
    }
    m.insert("metadata".into(), c.metadata.as_ref().map_or(Value::Null, metadata_to_json));
    if !v04_shape {
        m.insert("dimension".into(), c.dimension.map_or(Value::Null, Value::from));
    }
    m.insert("tenant".into(), Value::String(c.tenant.clone()));
    m.insert("database".into(), Value::String(c.database.clone()));
    if !v04_shape {
        m.insert("version".into(), Value::from(c.version));
        m.insert("log_position".into(), Value::from(c.log_position));
    }
    if line.is_v2() {
        m.insert("schema".into(), c.config.to_schema_json());
    }
    if line == ClientLine::V06 {
        // 0.5.16-0.6.x clients reject the 1.x keys ("Invalid parameter name: embedding_function").
        m.remove("schema");
        if let Some(cfg) = m.get_mut("configuration_json").and_then(Value::as_object_mut) {
            for k in ["hnsw", "spann", "embedding_function"] {
                cfg.remove(k);
            }
        }
    }
    Value::Object(m)
}

/// Reads a collection object of any shape (0.4.x, 0.5.x or 1.x server).
pub fn collection_from_json(v: &Value) -> Result<Collection> {
    let bad = |what: &str| Error::internal(format!("Unexpected collection object from server ({what}): {v}"));
    let id = v.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| bad("id"))?;
    let name = v.get("name").and_then(Value::as_str).ok_or_else(|| bad("name"))?.to_string();
    let metadata = match v.get("metadata") {
        None | Some(Value::Null) => None,
        Some(m) => Some(metadata_from_json(m).map_err(|e| bad(&e.message))?),
    };
    let mut config = IndexConfig::default()
        .apply_configuration(
            v.get("configuration_json").filter(|c| c.get("hnsw").is_some() || c.get("hnsw_configuration").is_some()),
        )
        .unwrap_or_default()
        .apply_metadata(metadata.as_ref())
        .unwrap_or_else(|_| IndexConfig::default());
    config.fts_disabled =
        v.pointer("/schema/keys/#document/string/fts_index/enabled").and_then(Value::as_bool) == Some(false);
    let str_or = |k: &str, d: &str| v.get(k).and_then(Value::as_str).unwrap_or(d).to_string();
    Ok(Collection {
        id,
        name,
        tenant: str_or("tenant", chroma_types::DEFAULT_TENANT),
        database: str_or("database", chroma_types::DEFAULT_DATABASE),
        metadata,
        dimension: v.get("dimension").and_then(Value::as_u64).map(|d| d as usize),
        config,
        version: v.get("version").and_then(Value::as_u64).unwrap_or(0),
        log_position: v.get("log_position").and_then(Value::as_u64).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection() -> Collection {
        Collection {
            id: Uuid::nil(),
            name: "abc".into(),
            tenant: "t".into(),
            database: "d".into(),
            metadata: None,
            dimension: Some(3),
            config: IndexConfig { num_threads: 2, ..IndexConfig::default() },
            version: 0,
            log_position: 0,
        }
    }

    #[test]
    fn collection_shapes() {
        let c = collection();
        let v = collection_to_json(&c, ClientLine::V04);
        assert_eq!(v.as_object().unwrap().len(), 5);
        let v = collection_to_json(&c, ClientLine::V1x);
        assert_eq!(v["configuration_json"]["_type"], "CollectionConfigurationInternal");
        assert!(v["configuration_json"].get("hnsw").is_some() && v.get("schema").is_some());
        assert_eq!(collection_from_json(&v).unwrap(), c);
        let v = collection_to_json(&c, ClientLine::V06);
        assert!(v["configuration_json"].get("hnsw").is_none() && v.get("schema").is_none());
        assert_eq!(v["configuration_json"]["_type"], "CollectionConfigurationInternal");
        assert_eq!(collection_from_json(&v).unwrap(), c);
    }
}
