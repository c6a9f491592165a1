//! The request side shared by every handler: the router state, the extractors that read the
//! tenant / database / collection a request names (in the path on v2, in the query string on
//! v1), body and query parameter parsing, and engine calls on the blocking pool.

use crate::auth::Authenticator;
use crate::errors::Fail;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chroma_types::budget::{self, Budget};
use chroma_types::search::ReadLevel;
use chroma_types::{ChromaApi, Error, Result};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The engine.
    pub(crate) api: Arc<dyn ChromaApi>,
    /// Whether `reset` may wipe the data.
    pub(crate) allow_reset: bool,
    /// Who may call.
    pub(crate) auth: Arc<Authenticator>,
    /// The time limit of one engine call.
    pub(crate) request_timeout: Option<std::time::Duration>,
}

/// Query string parameters.
pub(crate) type Params = Query<HashMap<String, String>>;

/// Path parameters by name (`{tenant}`, `{db}`, `{coll}`, `{id}`).
async fn path_params<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<HashMap<String, String>, Response> {
    Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map(|Path(p)| p)
        .map_err(IntoResponse::into_response)
}

/// The tenant and database a request names: path segments `{tenant}` and `{db}` (v2, and v1's
/// `tenants/{tenant}` / `databases/{db}`), else v1's `tenant` / `database` query parameters,
/// else the defaults.
pub(crate) struct Scope {
    /// The tenant.
    pub(crate) tenant: String,
    /// The database.
    pub(crate) database: String,
    /// Both came from the path (v2 collection routes).
    in_path: bool,
}

impl Scope {
    /// On v2, a collection reached by id must belong to the tenant and database of the path;
    /// v1 record routes name only the collection.
    pub(crate) fn of_collection(self) -> Option<(String, String)> {
        self.in_path.then_some((self.tenant, self.database))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Scope {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let mut path = path_params(parts, state).await?;
        let (tenant, database) = (path.remove("tenant"), path.remove("db"));
        if let (Some(tenant), Some(database)) = (&tenant, &database) {
            return Ok(Scope { tenant: tenant.clone(), database: database.clone(), in_path: true });
        }
        let Query(mut q) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Scope {
            tenant: tenant.or_else(|| q.remove("tenant")).unwrap_or_else(|| chroma_types::DEFAULT_TENANT.to_string()),
            database: database
                .or_else(|| q.remove("database"))
                .unwrap_or_else(|| chroma_types::DEFAULT_DATABASE.to_string()),
            in_path: false,
        })
    }
}

/// The collection a request names in its path: `{coll}` (a name or an id, per route), or
/// `{id}` on v2's `collections/by-id/{id}`.
pub(crate) struct Coll(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Coll {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let mut path = path_params(parts, state).await?;
        Ok(Coll(path.remove("coll").or_else(|| path.remove("id")).unwrap_or_default()))
    }
}

/// Runs an engine call on the blocking pool, within the request's time limit. A panic in the
/// engine becomes an internal error. If the client goes away (axum drops this future), the
/// call's cancel flag is set, so the engine stops the work instead of finishing it for no one.
pub(crate) async fn run<T, F>(st: &AppState, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn ChromaApi) -> Result<T> + Send + 'static,
{
    /// Sets the cancel flag when dropped before [`CancelOnDrop::disarm`].
    struct CancelOnDrop(Option<Arc<std::sync::atomic::AtomicBool>>);
    impl CancelOnDrop {
        fn disarm(mut self) {
            self.0 = None;
        }
    }
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            if let Some(flag) = self.0.take() {
                flag.store(true, std::sync::atomic::Ordering::Release);
            }
        }
    }
    let budget = st.request_timeout.map_or_else(Budget::unlimited, Budget::with_timeout);
    let guard = CancelOnDrop(Some(budget.cancel_flag()));
    let api = st.api.clone();
    let outcome = tokio::task::spawn_blocking(move || budget::run_with(budget, || f(api.as_ref()))).await;
    guard.disarm();
    match outcome {
        Ok(r) => r,
        Err(e) => Err(Error::internal_from("The storage engine failed while handling the request", e)),
    }
}

/// Parses a JSON body whatever its Content-Type; an empty body reads as `{}`.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Fail> {
    let slice: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    // The error names the field it is about (`ids: invalid type: ...`), as Chroma 1.x's does.
    let de = &mut serde_json::Deserializer::from_slice(slice);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| match e.inner().classify() {
        // A type error may be reported before a syntax error further on: tell them apart.
        serde_json::error::Category::Data => match serde_json::from_slice::<serde::de::IgnoredAny>(slice) {
            Ok(_) => Fail::Shape(e.to_string()),
            Err(syntax) => Fail::Json(syntax.to_string()),
        },
        _ => Fail::Json(e.into_inner().to_string()),
    })?;
    // Trailing characters, as `serde_json::from_slice` refuses them.
    de.end().map_err(|e| Fail::Json(e.to_string()))?;
    Ok(value)
}

/// A path segment that must be a collection id.
pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, Fail> {
    Uuid::parse_str(s).map_err(|_| Fail::BadUuid(s.to_string()))
}

/// An optional non-negative integer query parameter (`null` / `None` / empty: absent).
pub(crate) fn param_usize(q: &HashMap<String, String>, key: &str) -> Result<Option<usize>, Fail> {
    match q.get(key).map(|s| s.trim()).filter(|s| !s.is_empty() && *s != "null" && *s != "None") {
        None => Ok(None),
        Some(s) => s
            .parse::<usize>()
            .map(Some)
            .map_err(|_| Fail::Query(format!("Query parameter {key} expects a non-negative integer, got {s:?}"))),
    }
}

/// The `read_level` query parameter (1.x `count`): the default when absent.
pub(crate) fn read_level(q: &HashMap<String, String>) -> Result<ReadLevel, Fail> {
    match q.get("read_level").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(ReadLevel::default()),
        Some(s) => ReadLevel::parse(s).ok_or_else(|| {
            Fail::Query(format!(
                "Query parameter read_level expects index_and_wal, index_only or index_and_bounded_wal, got {s:?}"
            ))
        }),
    }
}

/// `limit` and `offset` (default 0) of a list call.
pub(crate) fn page(q: &HashMap<String, String>) -> Result<(Option<usize>, usize), Fail> {
    Ok((param_usize(q, "limit")?, param_usize(q, "offset")?.unwrap_or(0)))
}

/// A v2 record/collection call names tenant and database in its path: the collection must
/// belong to them.
pub(crate) fn check_scope(api: &dyn ChromaApi, id: Uuid, scope: Option<&(String, String)>) -> Result<()> {
    if let Some((t, d)) = scope {
        let c = api.get_collection_by_id(id)?;
        if &c.tenant != t || &c.database != d {
            return Err(Error::collection_not_found(&id.to_string()));
        }
    }
    Ok(())
}
