//! [`Client`]: a tenant and database on one backend (embedded engine, HTTP server, or any
//! [`ChromaApi`]).

use crate::args::CollectionOptions;
use crate::collection::Collection;
use chroma_types::metadata::metadata_from_json;
use chroma_types::{ChromaApi, CreateCollection, Database, Result, Tenant};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

#[cfg(feature = "http")]
use crate::http::{HttpApi, HttpOptions};
#[cfg(feature = "http")]
use chroma_types::Error;
#[cfg(feature = "embedded")]
use chroma_types::Settings;

/// Entry point: a tenant and database on one backend.
#[derive(Clone)]
pub struct Client {
    api: Arc<dyn ChromaApi>,
    tenant: String,
    database: String,
}

// The backend is left out: `dyn ChromaApi` has no `Debug`.
#[allow(clippy::missing_fields_in_debug)]
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("tenant", &self.tenant).field("database", &self.database).finish()
    }
}

#[cfg(feature = "embedded")]
impl Client {
    /// An in-memory database that disappears with the client (default settings).
    pub fn ephemeral() -> Result<Client> {
        Self::ephemeral_with(Settings::default())
    }

    /// An in-memory database with these settings.
    pub fn ephemeral_with(settings: Settings) -> Result<Client> {
        Ok(Self::from_api(Arc::new(chroma_store::Engine::ephemeral(settings)?)))
    }

    /// Opens (or creates) a data folder.
    pub fn persistent(path: impl AsRef<std::path::Path>) -> Result<Client> {
        Self::persistent_with(path, Settings::default())
    }

    /// Opens (or creates) a data folder with these settings.
    pub fn persistent_with(path: impl AsRef<std::path::Path>, settings: Settings) -> Result<Client> {
        Ok(Self::from_api(Arc::new(chroma_store::Engine::open(path.as_ref(), settings)?)))
    }
}

#[cfg(feature = "http")]
impl Client {
    /// A server at `url` (e.g. `http://localhost:8000`), API v2 (or v1 on older Chroma servers,
    /// see [`HttpApi`]). Checks that the default
    /// tenant and database exist, as Chroma's `HttpClient` does.
    pub fn http(url: &str) -> Result<Client> {
        Self::http_with(HttpOptions::new(url))
    }

    /// A server with headers / token / basic auth / timeout.
    pub fn http_with(options: HttpOptions) -> Result<Client> {
        let client = Self::from_api(Arc::new(HttpApi::new(options)?));
        client.check_scope()?;
        Ok(client)
    }

    fn check_scope(&self) -> Result<()> {
        self.api.get_tenant(&self.tenant).map_err(|e| {
            Error::new(e.kind, format!("Could not connect to tenant {}. Are you sure it exists? ({e})", self.tenant))
                .with_source(e)
        })?;
        self.api.get_database(&self.tenant, &self.database).map_err(|e| {
            Error::new(
                e.kind,
                format!(
                    "Could not connect to database {} for tenant {}. Are you sure it exists? ({e})",
                    self.database, self.tenant
                ),
            )
            .with_source(e)
        })?;
        Ok(())
    }
}

impl Client {
    /// Any implementation of the API (an engine shared with other code, a test double, ...).
    pub fn from_api(api: Arc<dyn ChromaApi>) -> Client {
        Client { api, tenant: chroma_types::DEFAULT_TENANT.into(), database: chroma_types::DEFAULT_DATABASE.into() }
    }

    /// The same backend, scoped to another tenant (database reset to the default).
    #[must_use]
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Client {
        self.tenant = tenant.into();
        self
    }

    /// The same backend, scoped to another database.
    #[must_use]
    pub fn with_database(mut self, database: impl Into<String>) -> Client {
        self.database = database.into();
        self
    }

    /// The tenant this client works in.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The database this client works in.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The backend.
    pub fn api(&self) -> &Arc<dyn ChromaApi> {
        &self.api
    }

    /// Nanoseconds since the Unix epoch, from the backend.
    pub fn heartbeat(&self) -> Result<u128> {
        self.api.heartbeat()
    }

    /// The backend's version.
    pub fn version(&self) -> Result<String> {
        self.api.version()
    }

    /// The largest number of records one write may carry.
    pub fn get_max_batch_size(&self) -> Result<usize> {
        self.api.max_batch_size()
    }

    /// Deletes everything (only when the settings allow reset).
    pub fn reset(&self) -> Result<()> {
        self.api.reset()
    }

    // ---- tenants and databases

    /// Creates a tenant.
    pub fn create_tenant(&self, name: &str) -> Result<()> {
        self.api.create_tenant(name)
    }

    /// Looks a tenant up.
    pub fn get_tenant(&self, name: &str) -> Result<Tenant> {
        self.api.get_tenant(name)
    }

    /// Tenants, in creation order.
    pub fn list_tenants(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>> {
        self.api.list_tenants(limit, offset)
    }

    /// Deletes a tenant with its databases and collections.
    pub fn delete_tenant(&self, name: &str) -> Result<()> {
        self.api.delete_tenant(name)
    }

    /// Creates a database in this client's tenant.
    pub fn create_database(&self, name: &str) -> Result<Database> {
        self.api.create_database(&self.tenant, name)
    }

    /// Looks a database of this client's tenant up.
    pub fn get_database(&self, name: &str) -> Result<Database> {
        self.api.get_database(&self.tenant, name)
    }

    /// Databases of this client's tenant, in creation order.
    pub fn list_databases(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Database>> {
        self.api.list_databases(&self.tenant, limit, offset)
    }

    /// Deletes a database of this client's tenant with its collections.
    pub fn delete_database(&self, name: &str) -> Result<()> {
        self.api.delete_database(&self.tenant, name)
    }

    // ---- collections

    fn handle(&self, c: chroma_types::Collection) -> Collection {
        Collection::new(self.api.clone(), c)
    }

    fn create(&self, name: &str, options: CollectionOptions, get_or_create: bool) -> Result<Collection> {
        let metadata = match options.metadata {
            None | Some(Value::Null) => None,
            Some(v) => Some(metadata_from_json(&v)?),
        };
        #[cfg(feature = "embed")]
        let configuration = with_embedding_function(options.configuration, options.embedding_function.as_deref())?;
        #[cfg(not(feature = "embed"))]
        let configuration = options.configuration;
        let req =
            CreateCollection { name: name.to_string(), metadata, configuration, get_or_create, schema: None, id: None };
        let handle = self.api.create_collection(&self.tenant, &self.database, req).map(|c| self.handle(c))?;
        #[cfg(feature = "embed")]
        let handle = match options.embedding_function {
            Some(ef) => handle.with_embedding_function(ef),
            None => handle,
        };
        Ok(handle)
    }

    /// Creates a collection; an existing name is an error (`AlreadyExists`).
    pub fn create_collection(&self, name: &str, options: CollectionOptions) -> Result<Collection> {
        self.create(name, options, false)
    }

    /// Returns the collection named `name`, creating it when missing.
    pub fn get_or_create_collection(&self, name: &str, options: CollectionOptions) -> Result<Collection> {
        self.create(name, options, true)
    }

    /// The collection named `name` in this database.
    pub fn get_collection(&self, name: &str) -> Result<Collection> {
        self.api.get_collection(&self.tenant, &self.database, name).map(|c| self.handle(c))
    }

    /// The collection with this id, whatever its tenant and database.
    pub fn get_collection_by_id(&self, id: Uuid) -> Result<Collection> {
        self.api.get_collection_by_id(id).map(|c| self.handle(c))
    }

    /// Collections of this database, in creation order.
    pub fn list_collections(&self, limit: Option<usize>, offset: Option<usize>) -> Result<Vec<Collection>> {
        Ok(self
            .api
            .list_collections(&self.tenant, &self.database, limit, offset.unwrap_or(0))?
            .into_iter()
            .map(|c| self.handle(c))
            .collect())
    }

    /// How many collections this database holds.
    pub fn count_collections(&self) -> Result<usize> {
        self.api.count_collections(&self.tenant, &self.database)
    }

    /// Deletes the collection named `name` with its records.
    pub fn delete_collection(&self, name: &str) -> Result<()> {
        self.api.delete_collection(&self.tenant, &self.database, name)
    }
}

/// The configuration a new collection is created with: the embedding function's stored
/// config (the default's when none is given) as `embedding_function`, as the 1.5.9 Python
/// client writes it. A configuration that already names a function keeps it; naming another
/// function than the one given (other than the default) is an error, as in 1.5.9.
#[cfg(feature = "embed")]
fn with_embedding_function(
    configuration: Option<Value>,
    ef: Option<&dyn chroma_embed::EmbeddingFunction>,
) -> Result<Option<Value>> {
    let mut map = match configuration {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map,
        // Not an object: the engine reports it with the request's other checks.
        Some(other) => return Ok(Some(other)),
    };
    if let Some(stored) = map.get("embedding_function").filter(|v| !v.is_null()) {
        let stored_name = stored.get("name").and_then(Value::as_str);
        if let (Some(ef), Some(stored_name)) = (ef, stored_name) {
            if ef.name() != chroma_embed::DEFAULT_NAME && ef.name() != stored_name {
                return Err(chroma_types::Error::invalid(format!(
                    "Multiple embedding functions provided. Please provide only one. Embedding function conflict: {} vs {stored_name}",
                    ef.name()
                )));
            }
        }
    } else {
        let stored =
            ef.map_or_else(chroma_embed::default_stored_config, chroma_embed::EmbeddingFunction::stored_config);
        map.insert("embedding_function".into(), stored);
    }
    Ok(Some(Value::Object(map)))
}
