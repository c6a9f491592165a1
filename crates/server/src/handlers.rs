//! Routes of API v1 and v2 and their handlers.

use crate::auth::Auth;
use crate::errors::{Fail, Line, Op};
use crate::ServerConfig;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Extension, Router};
use chroma_client::wire;
use chroma_types::{validate, ChromaApi, Dialect, Error, Result};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone)]
struct AppState {
    api: Arc<dyn ChromaApi>,
    allow_reset: bool,
    auth: Arc<Auth>,
}

/// Who the auth middleware let in ("" without auth or for tokens).
#[derive(Clone, Default)]
struct Caller(String);

type Params = Query<HashMap<String, String>>;

// ------------------------------------------------------------------------------------------
// Plumbing

/// v1 callers: `python-httpx` is the 0.5.4-0.5.15 client; everything else gets 0.4.x shapes.
fn v1_line(headers: &HeaderMap) -> Line {
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ua.to_ascii_lowercase().contains("python-httpx") {
        Line::V05
    } else {
        Line::V04
    }
}

/// Filter semantics per line. 0.5.16+ servers already had the 1.x ones (`$ne` / `$not_contains`
/// match records without the key / document), so pre-1.x clients on v2 get them too.
fn dialect(line: Line) -> Dialect {
    match line {
        Line::V04 => Dialect::V04,
        Line::V05 => Dialect { get_ordered_by_id: false, ..Dialect::V04 },
        Line::V2 => Dialect::V1,
    }
}

/// Runs an engine call on the blocking pool. A panic in the engine becomes an internal error.
async fn run<T, F>(st: &AppState, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn ChromaApi) -> Result<T> + Send + 'static,
{
    let api = st.api.clone();
    match tokio::task::spawn_blocking(move || f(api.as_ref())).await {
        Ok(r) => r,
        Err(e) => Err(Error::internal(format!("The storage engine failed while handling the request: {e}"))),
    }
}

/// Parses a JSON body whatever its Content-Type; an empty body reads as `{}`.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> std::result::Result<T, Fail> {
    let slice: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(slice).map_err(|e| match e.classify() {
        // A type error may be reported before a syntax error further on: tell them apart.
        serde_json::error::Category::Data => match serde_json::from_slice::<serde::de::IgnoredAny>(slice) {
            Ok(_) => Fail::Shape(e.to_string()),
            Err(syntax) => Fail::Json(syntax.to_string()),
        },
        _ => Fail::Json(e.to_string()),
    })
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn raw_json(status: StatusCode, s: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], s).into_response()
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v)
}

/// `null` on v1, `{}` on v2.
fn empty(line: Line) -> Response {
    ok(if line == Line::V2 { json!({}) } else { Value::Null })
}

fn finish(line: Line, r: std::result::Result<Response, Fail>) -> Response {
    r.unwrap_or_else(|f| f.respond(line))
}

fn parse_uuid(s: &str) -> std::result::Result<Uuid, Fail> {
    Uuid::parse_str(s).map_err(|_| Fail::BadUuid(s.to_string()))
}

fn param_usize(q: &HashMap<String, String>, key: &str) -> std::result::Result<Option<usize>, Fail> {
    match q.get(key).map(|s| s.trim()).filter(|s| !s.is_empty() && *s != "null" && *s != "None") {
        None => Ok(None),
        Some(s) => s
            .parse::<usize>()
            .map(Some)
            .map_err(|_| Fail::Query(format!("Query parameter {key} expects a non-negative integer, got {s:?}"))),
    }
}

fn scope_v1(q: &HashMap<String, String>) -> (String, String) {
    (
        q.get("tenant").cloned().unwrap_or_else(|| chroma_types::DEFAULT_TENANT.to_string()),
        q.get("database").cloned().unwrap_or_else(|| chroma_types::DEFAULT_DATABASE.to_string()),
    )
}

/// A v2 record/collection call names tenant and database in its path: the collection must
/// belong to them.
fn check_scope(api: &dyn ChromaApi, id: Uuid, scope: &Option<(String, String)>) -> Result<()> {
    if let Some((t, d)) = scope {
        let c = api.get_collection_by_id(id)?;
        if &c.tenant != t || &c.database != d {
            return Err(Error::collection_not_found(&id.to_string()));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Router

fn both(r: Router<AppState>, path: &str, mr: MethodRouter<AppState>) -> Router<AppState> {
    r.route(path, mr.clone()).route(&format!("{path}/"), mr)
}

pub(crate) fn router(api: Arc<dyn ChromaApi>, config: &ServerConfig) -> Router {
    let st = AppState { api, allow_reset: config.allow_reset, auth: Arc::new(config.auth.clone()) };
    let mut r: Router<AppState> = Router::new();

    // ---- v1
    r = both(r, "/api/v1", get(v1_heartbeat));
    r = both(r, "/api/v1/heartbeat", get(v1_heartbeat));
    r = both(r, "/api/v1/version", get(v1_version));
    r = both(r, "/api/v1/pre-flight-checks", get(v1_preflight));
    r = both(r, "/api/v1/healthcheck", get(v1_healthcheck));
    r = both(r, "/api/v1/reset", axum::routing::post(v1_reset));
    r = both(r, "/api/v1/tenants", axum::routing::post(v1_create_tenant).get(v1_list_tenants));
    r = both(r, "/api/v1/tenants/{tenant}", get(v1_get_tenant));
    r = both(r, "/api/v1/databases", axum::routing::post(v1_create_database).get(v1_list_databases));
    r = both(r, "/api/v1/databases/{db}", get(v1_get_database).delete(v1_delete_database));
    r = both(r, "/api/v1/collections", get(v1_list_collections).post(v1_create_collection));
    r = both(r, "/api/v1/count_collections", get(v1_count_collections));
    r = both(
        r,
        "/api/v1/collections/{coll}",
        get(v1_get_collection).put(v1_update_collection).delete(v1_delete_collection),
    );
    r = both(r, "/api/v1/collections/{coll}/add", axum::routing::post(v1_add));
    r = both(r, "/api/v1/collections/{coll}/upsert", axum::routing::post(v1_upsert));
    r = both(r, "/api/v1/collections/{coll}/update", axum::routing::post(v1_update));
    r = both(r, "/api/v1/collections/{coll}/delete", axum::routing::post(v1_delete));
    r = both(r, "/api/v1/collections/{coll}/get", axum::routing::post(v1_get));
    r = both(r, "/api/v1/collections/{coll}/query", axum::routing::post(v1_query));
    r = both(r, "/api/v1/collections/{coll}/count", get(v1_count));

    // ---- v2
    const T: &str = "/api/v2/tenants/{tenant}/databases/{db}";
    r = both(r, "/api/v2", get(v2_heartbeat));
    r = both(r, "/api/v2/heartbeat", get(v2_heartbeat));
    r = both(r, "/api/v2/version", get(v2_version));
    r = both(r, "/api/v2/pre-flight-checks", get(v2_preflight));
    r = both(r, "/api/v2/healthcheck", get(v2_healthcheck));
    r = both(r, "/api/v2/auth/identity", get(v2_identity));
    r = both(r, "/api/v2/reset", axum::routing::post(v2_reset));
    r = both(r, "/api/v2/tenants", axum::routing::post(v2_create_tenant).get(v2_list_tenants));
    r = both(r, "/api/v2/tenants/{tenant}", get(v2_get_tenant).patch(v2_update_tenant).delete(v2_delete_tenant));
    r = both(r, "/api/v2/tenants/{tenant}/databases", get(v2_list_databases).post(v2_create_database));
    r = both(r, "/api/v2/tenants/{tenant}/databases/{db}", get(v2_get_database).delete(v2_delete_database));
    r = both(r, &format!("{T}/collections"), get(v2_list_collections).post(v2_create_collection));
    r = both(r, &format!("{T}/collections_count"), get(v2_count_collections));
    r = both(
        r,
        &format!("{T}/collections/{{coll}}"),
        get(v2_get_collection).put(v2_update_collection).delete(v2_delete_collection),
    );
    r = both(r, &format!("{T}/collections/by-id/{{id}}"), get(v2_get_collection_by_id));
    r = both(r, &format!("{T}/collections/{{coll}}/add"), axum::routing::post(v2_add));
    r = both(r, &format!("{T}/collections/{{coll}}/upsert"), axum::routing::post(v2_upsert));
    r = both(r, &format!("{T}/collections/{{coll}}/update"), axum::routing::post(v2_update));
    r = both(r, &format!("{T}/collections/{{coll}}/delete"), axum::routing::post(v2_delete));
    r = both(r, &format!("{T}/collections/{{coll}}/get"), axum::routing::post(v2_get));
    r = both(r, &format!("{T}/collections/{{coll}}/query"), axum::routing::post(v2_query));
    r = both(r, &format!("{T}/collections/{{coll}}/count"), get(v2_count));

    let mut app = r
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(st.clone(), auth_layer))
        .layer(middleware::from_fn(client_era_layer))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(st);
    if !config.cors_allow_origins.is_empty() {
        use tower_http::cors::{AllowOrigin, Any, CorsLayer};
        let origins = if config.cors_allow_origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(config.cors_allow_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        };
        app = app.layer(CorsLayer::new().allow_origin(origins).allow_methods(Any).allow_headers(Any));
    }
    app
}

async fn no_route(method: Method, uri: axum::http::Uri) -> Response {
    let path = uri.path().to_string();
    let line = if path.starts_with("/api/v1") { Line::V04 } else { Line::V2 };
    Fail::NoRoute(format!("{method} {path}")).respond(line)
}

/// Paths that stay open when auth is on (as Chroma's default ignore list).
fn is_open_path(method: &Method, path: &str) -> bool {
    let p = path.strip_suffix('/').unwrap_or(path);
    *method == Method::OPTIONS
        || (*method == Method::GET
            && matches!(
                p,
                "/api/v1"
                    | "/api/v1/heartbeat"
                    | "/api/v1/version"
                    | "/api/v2"
                    | "/api/v2/heartbeat"
                    | "/api/v2/version"
                    | "/api/v2/healthcheck"
            ))
}

tokio::task_local! {
    /// Set for a request from a Python client of the 0.5.16-0.6.x era on API v2.
    static PRE_1X_PYTHON: bool;
}

/// Python clients 0.5.16-0.6.x talk API v2 but reject the 1.x keys of `configuration_json`
/// ("Invalid parameter name: embedding_function"); they send httpx's default User-Agent, while
/// 1.x clients name themselves ("Chroma Python Client v1..."). Marks the request for them.
async fn client_era_layer(req: Request, next: Next) -> Response {
    let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let pre_1x = req.uri().path().starts_with("/api/v2") && ua.to_ascii_lowercase().starts_with("python-httpx");
    PRE_1X_PYTHON.scope(pre_1x, next.run(req)).await
}

/// Is this an API v2 request from a 0.5.16-0.6.x Python client? Those clients expect the
/// error names and name rules of the 0.5 server they were released with (`InvalidCollection`,
/// "dimensionality" messages, 3-63 character names); paths, JSON shapes and filter semantics
/// are v2's.
pub(crate) fn pre_1x_python() -> bool {
    PRE_1X_PYTHON.try_with(|b| *b).unwrap_or(false)
}

/// The client line whose semantics apply: v2 requests of pre-1.x Python clients behave as V05.
pub(crate) fn semantics(line: Line) -> Line {
    if line == Line::V2 && pre_1x_python() {
        Line::V05
    } else {
        line
    }
}

/// A collection object in the shape of the request's client line (see `client_era_layer`).
fn collection_json(c: &chroma_types::Collection, line: Line) -> Value {
    let mut v = wire::collection_to_json(c, line.shape());
    if line == Line::V2 && pre_1x_python() {
        if let Some(o) = v.as_object_mut() {
            o.remove("schema");
            if let Some(cfg) = o.get_mut("configuration_json").and_then(Value::as_object_mut) {
                for k in ["hnsw", "spann", "embedding_function"] {
                    cfg.remove(k);
                }
            }
        }
    }
    v
}

async fn auth_layer(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if !st.auth.is_enabled() || is_open_path(req.method(), req.uri().path()) {
        req.extensions_mut().insert(Caller::default());
        return next.run(req).await;
    }
    match st.auth.check(req.headers()) {
        Some(user) => {
            req.extensions_mut().insert(Caller(user));
            next.run(req).await
        }
        None => {
            let line = if req.uri().path().starts_with("/api/v1") { Line::V04 } else { Line::V2 };
            Fail::Unauthorized.respond(line)
        }
    }
}

// ------------------------------------------------------------------------------------------
// Shared implementations

async fn heartbeat(st: AppState, line: Line) -> Response {
    let r = run(&st, |api| api.heartbeat()).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|ns| ok(json!({"nanosecond heartbeat": u64::try_from(ns).unwrap_or(u64::MAX)}))))
}

async fn version(st: AppState, line: Line) -> Response {
    let r = run(&st, |api| api.version()).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|v| ok(Value::String(v))))
}

async fn preflight(st: AppState, line: Line) -> Response {
    let r = run(&st, |api| api.max_batch_size()).await.map_err(Fail::api(Op::Other));
    finish(
        line,
        r.map(|n| {
            if line == Line::V2 {
                ok(json!({"max_batch_size": n, "supports_base64_encoding": true}))
            } else {
                ok(json!({"max_batch_size": n}))
            }
        }),
    )
}

async fn reset(st: AppState, line: Line) -> Response {
    if !st.allow_reset {
        let msg = if line == Line::V2 {
            "Reset is disabled by config"
        } else {
            "Resetting is not allowed by this configuration (to enable it, set `allow_reset` to `True` in your Settings() or include `ALLOW_RESET=TRUE` in your environment variables)"
        };
        return Fail::Api(Op::Other, Error::new(chroma_types::ErrorKind::Forbidden, msg)).respond(line);
    }
    let r = run(&st, |api| api.reset()).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|_| ok(Value::Bool(true))))
}

async fn create_tenant(st: AppState, line: Line, bytes: Bytes) -> Response {
    let r = async {
        let b: wire::NameBody = body(&bytes)?;
        run(&st, move |api| api.create_tenant(&b.name)).await.map_err(Fail::api(Op::Other))?;
        Ok(empty(line))
    };
    finish(line, r.await)
}

async fn get_tenant(st: AppState, line: Line, name: String) -> Response {
    let r = run(&st, move |api| api.get_tenant(&name)).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|t| ok(wire::tenant_to_json(&t, line.shape()))))
}

async fn list_tenants(st: AppState, line: Line, q: HashMap<String, String>) -> Response {
    let r = async {
        let limit = param_usize(&q, "limit")?;
        let offset = param_usize(&q, "offset")?.unwrap_or(0);
        let ts = run(&st, move |api| api.list_tenants(limit, offset)).await.map_err(Fail::api(Op::Other))?;
        Ok(ok(Value::Array(ts.iter().map(|t| wire::tenant_to_json(t, line.shape())).collect())))
    };
    finish(line, r.await)
}

async fn create_database(st: AppState, line: Line, tenant: String, bytes: Bytes) -> Response {
    let r = async {
        let b: wire::NameBody = body(&bytes)?;
        run(&st, move |api| api.create_database(&tenant, &b.name)).await.map_err(Fail::api(Op::Other))?;
        Ok(empty(line))
    };
    finish(line, r.await)
}

async fn get_database(st: AppState, line: Line, tenant: String, name: String) -> Response {
    let r = run(&st, move |api| api.get_database(&tenant, &name)).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|d| ok(wire::database_to_json(&d))))
}

async fn list_databases(st: AppState, line: Line, tenant: String, q: HashMap<String, String>) -> Response {
    let r = async {
        let limit = param_usize(&q, "limit")?;
        let offset = param_usize(&q, "offset")?.unwrap_or(0);
        let ds = run(&st, move |api| api.list_databases(&tenant, limit, offset)).await.map_err(Fail::api(Op::Other))?;
        Ok(ok(Value::Array(ds.iter().map(wire::database_to_json).collect())))
    };
    finish(line, r.await)
}

async fn delete_database(st: AppState, line: Line, tenant: String, name: String) -> Response {
    let r = run(&st, move |api| api.delete_database(&tenant, &name)).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|_| empty(line)))
}

async fn list_collections(
    st: AppState,
    line: Line,
    tenant: String,
    db: String,
    q: HashMap<String, String>,
) -> Response {
    let r = async {
        let limit = param_usize(&q, "limit")?;
        let offset = param_usize(&q, "offset")?.unwrap_or(0);
        let cs = run(&st, move |api| api.list_collections(&tenant, &db, limit, offset))
            .await
            .map_err(Fail::api(Op::Other))?;
        Ok(ok(Value::Array(cs.iter().map(|c| collection_json(c, line)).collect())))
    };
    finish(line, r.await)
}

async fn count_collections(st: AppState, line: Line, tenant: String, db: String) -> Response {
    let r = run(&st, move |api| api.count_collections(&tenant, &db)).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|n| ok(json!(n))))
}

/// Chroma servers of every line refuse collection metadata `{}` (create, get_or_create and
/// modify); their own test suites expect the error.
fn nonempty_metadata(m: Option<&Value>) -> chroma_types::Result<()> {
    match m {
        Some(Value::Object(o)) if o.is_empty() => {
            Err(Error::invalid("Expected metadata to be a non-empty dict, got {}"))
        }
        _ => Ok(()),
    }
}

async fn create_collection(st: AppState, line: Line, tenant: String, db: String, bytes: Bytes) -> Response {
    let r = async {
        let b: wire::CreateCollectionBody = body(&bytes)?;
        nonempty_metadata(b.metadata.as_ref()).map_err(Fail::api(Op::CollectionByName))?;
        let req = b.into_request().map_err(Fail::api(Op::CollectionByName))?;
        // Each line with its own name rules and wording (0.4-0.6: 3-63 characters, and a final
        // newline allowed as Python's `$` did; 1.x: 3-512 characters).
        if semantics(line) == Line::V2 {
            validate::collection_name(&req.name)
        } else {
            validate::collection_name_v04(&req.name)
        }
        .map_err(Fail::api(Op::CollectionByName))?;
        let c = run(&st, move |api| api.create_collection(&tenant, &db, req))
            .await
            .map_err(Fail::api(Op::CollectionByName))?;
        Ok(ok(collection_json(&c, line)))
    };
    finish(line, r.await)
}

async fn get_collection(st: AppState, line: Line, tenant: String, db: String, name: String) -> Response {
    let r = run(&st, move |api| api.get_collection(&tenant, &db, &name)).await.map_err(Fail::api(Op::CollectionByName));
    finish(line, r.map(|c| ok(collection_json(&c, line))))
}

async fn get_collection_by_id(st: AppState, line: Line, scope: Option<(String, String)>, id: String) -> Response {
    let r = async {
        let id = parse_uuid(&id)?;
        let c = run(&st, move |api| {
            check_scope(api, id, &scope)?;
            api.get_collection_by_id(id)
        })
        .await
        .map_err(Fail::api(Op::CollectionById))?;
        Ok(ok(collection_json(&c, line)))
    };
    finish(line, r.await)
}

async fn update_collection(
    st: AppState,
    line: Line,
    scope: Option<(String, String)>,
    id: String,
    bytes: Bytes,
) -> Response {
    let r = async {
        let id = parse_uuid(&id)?;
        let b: wire::UpdateCollectionBody = body(&bytes)?;
        nonempty_metadata(b.new_metadata.as_ref()).map_err(Fail::api(Op::CollectionById))?;
        let req = b.into_request().map_err(Fail::api(Op::CollectionById))?;
        if let Some(n) = &req.new_name {
            if semantics(line) == Line::V2 { validate::collection_name(n) } else { validate::collection_name_v04(n) }
                .map_err(Fail::api(Op::CollectionById))?;
        }
        run(&st, move |api| {
            check_scope(api, id, &scope)?;
            api.update_collection(id, req)
        })
        .await
        .map_err(Fail::api(Op::CollectionById))?;
        Ok(empty(line))
    };
    finish(line, r.await)
}

async fn delete_collection(st: AppState, line: Line, tenant: String, db: String, name: String) -> Response {
    let r =
        run(&st, move |api| api.delete_collection(&tenant, &db, &name)).await.map_err(Fail::api(Op::CollectionByName));
    finish(line, r.map(|_| empty(line)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RecordOp {
    Add,
    Upsert,
    Update,
    Delete,
    Get,
    Query,
    Count,
}

async fn record(
    st: AppState,
    line: Line,
    scope: Option<(String, String)>,
    id: String,
    op: RecordOp,
    bytes: Bytes,
) -> Response {
    let eop = if op == RecordOp::Add { Op::Add } else { Op::Record };
    let r = async {
        let id = parse_uuid(&id)?;
        let d = dialect(line);
        let api_err = Fail::api(eop);
        match op {
            RecordOp::Add | RecordOp::Upsert => {
                let req = body::<wire::AddBody>(&bytes)?.into_request().map_err(Fail::api(eop))?;
                run(&st, move |api| {
                    check_scope(api, id, &scope)?;
                    if op == RecordOp::Add {
                        api.add(id, req)
                    } else {
                        api.upsert(id, req)
                    }
                })
                .await
                .map_err(api_err)?;
                Ok(match (op, line) {
                    (RecordOp::Add, Line::V2) => json_response(StatusCode::CREATED, json!({})),
                    (RecordOp::Add, _) => json_response(StatusCode::CREATED, Value::Bool(true)),
                    _ => empty(line),
                })
            }
            RecordOp::Update => {
                let req = body::<wire::UpdateBody>(&bytes)?.into_request().map_err(Fail::api(eop))?;
                run(&st, move |api| {
                    check_scope(api, id, &scope)?;
                    api.update(id, req)
                })
                .await
                .map_err(api_err)?;
                Ok(empty(line))
            }
            RecordOp::Delete => {
                let b: wire::DeleteBody = body(&bytes)?;
                let echo = if line == Line::V04 && b.ids_only() { b.ids.clone() } else { None };
                let req = b.into_request(d).map_err(Fail::api(eop))?;
                if line != Line::V2
                    && req.ids.as_ref().is_none_or(Vec::is_empty)
                    && req.r#where.is_none()
                    && req.where_document.is_none()
                {
                    return Err(Fail::Api(
                        eop,
                        Error::invalid(
                            "You must provide either ids, where, or where_document to delete. If you want to delete all data in a collection you can delete the collection itself using the delete_collection method. Or alternatively, you can get() all the relevant ids and then delete them.",
                        ),
                    ));
                }
                let deleted = run(&st, move |api| {
                    check_scope(api, id, &scope)?;
                    api.delete(id, req)
                })
                .await
                .map_err(api_err)?;
                Ok(match line {
                    Line::V04 => ok(json!(echo.unwrap_or(deleted))),
                    Line::V05 => ok(Value::Null),
                    Line::V2 => ok(json!({"deleted": deleted.len()})),
                })
            }
            RecordOp::Get => {
                let req = body::<wire::GetBody>(&bytes)?.into_request(d).map_err(Fail::api(eop))?;
                let res = run(&st, move |api| {
                    check_scope(api, id, &scope)?;
                    api.get(id, req)
                })
                .await
                .map_err(api_err)?;
                let s = wire::get_result_to_string(&res, line.shape()).map_err(Fail::api(eop))?;
                Ok(raw_json(StatusCode::OK, s))
            }
            RecordOp::Query => {
                let req = body::<wire::QueryBody>(&bytes)?.into_request(d).map_err(Fail::api(eop))?;
                let res = run(&st, move |api| {
                    check_scope(api, id, &scope)?;
                    api.query(id, req)
                })
                .await
                .map_err(api_err)?;
                let s = wire::query_result_to_string(&res, line.shape()).map_err(Fail::api(eop))?;
                Ok(raw_json(StatusCode::OK, s))
            }
            RecordOp::Count => {
                let n = run(&st, move |api| {
                    check_scope(api, id, &scope)?;
                    api.count(id)
                })
                .await
                .map_err(api_err)?;
                Ok(ok(json!(n)))
            }
        }
    };
    finish(line, r.await)
}

// ------------------------------------------------------------------------------------------
// v1 handlers

async fn v1_heartbeat(State(st): State<AppState>, h: HeaderMap) -> Response {
    heartbeat(st, v1_line(&h)).await
}
async fn v1_version(State(st): State<AppState>, h: HeaderMap) -> Response {
    version(st, v1_line(&h)).await
}
async fn v1_preflight(State(st): State<AppState>, h: HeaderMap) -> Response {
    preflight(st, v1_line(&h)).await
}
async fn v1_healthcheck() -> Response {
    ok(json!({"is_executor_ready": true, "is_log_client_ready": true}))
}
async fn v1_reset(State(st): State<AppState>, h: HeaderMap) -> Response {
    reset(st, v1_line(&h)).await
}
async fn v1_create_tenant(State(st): State<AppState>, h: HeaderMap, b: Bytes) -> Response {
    create_tenant(st, v1_line(&h), b).await
}
async fn v1_list_tenants(State(st): State<AppState>, h: HeaderMap, Query(q): Params) -> Response {
    list_tenants(st, v1_line(&h), q).await
}
async fn v1_get_tenant(State(st): State<AppState>, h: HeaderMap, Path(t): Path<String>) -> Response {
    get_tenant(st, v1_line(&h), t).await
}
async fn v1_create_database(State(st): State<AppState>, h: HeaderMap, Query(q): Params, b: Bytes) -> Response {
    create_database(st, v1_line(&h), scope_v1(&q).0, b).await
}
async fn v1_list_databases(State(st): State<AppState>, h: HeaderMap, Query(q): Params) -> Response {
    let t = scope_v1(&q).0;
    list_databases(st, v1_line(&h), t, q).await
}
async fn v1_get_database(
    State(st): State<AppState>,
    h: HeaderMap,
    Path(d): Path<String>,
    Query(q): Params,
) -> Response {
    get_database(st, v1_line(&h), scope_v1(&q).0, d).await
}
async fn v1_delete_database(
    State(st): State<AppState>,
    h: HeaderMap,
    Path(d): Path<String>,
    Query(q): Params,
) -> Response {
    delete_database(st, v1_line(&h), scope_v1(&q).0, d).await
}
async fn v1_list_collections(State(st): State<AppState>, h: HeaderMap, Query(q): Params) -> Response {
    let (t, d) = scope_v1(&q);
    list_collections(st, v1_line(&h), t, d, q).await
}
async fn v1_count_collections(State(st): State<AppState>, h: HeaderMap, Query(q): Params) -> Response {
    let (t, d) = scope_v1(&q);
    count_collections(st, v1_line(&h), t, d).await
}
async fn v1_create_collection(State(st): State<AppState>, h: HeaderMap, Query(q): Params, b: Bytes) -> Response {
    let (t, d) = scope_v1(&q);
    create_collection(st, v1_line(&h), t, d, b).await
}
async fn v1_get_collection(
    State(st): State<AppState>,
    h: HeaderMap,
    Path(name): Path<String>,
    Query(q): Params,
) -> Response {
    let (t, d) = scope_v1(&q);
    get_collection(st, v1_line(&h), t, d, name).await
}
async fn v1_update_collection(State(st): State<AppState>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    update_collection(st, v1_line(&h), None, id, b).await
}
async fn v1_delete_collection(
    State(st): State<AppState>,
    h: HeaderMap,
    Path(name): Path<String>,
    Query(q): Params,
) -> Response {
    let (t, d) = scope_v1(&q);
    delete_collection(st, v1_line(&h), t, d, name).await
}
async fn v1_add(State(st): State<AppState>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    record(st, v1_line(&h), None, id, RecordOp::Add, b).await
}
async fn v1_upsert(State(st): State<AppState>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    record(st, v1_line(&h), None, id, RecordOp::Upsert, b).await
}
async fn v1_update(State(st): State<AppState>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    record(st, v1_line(&h), None, id, RecordOp::Update, b).await
}
async fn v1_delete(State(st): State<AppState>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    record(st, v1_line(&h), None, id, RecordOp::Delete, b).await
}
async fn v1_get(State(st): State<AppState>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    record(st, v1_line(&h), None, id, RecordOp::Get, b).await
}
async fn v1_query(State(st): State<AppState>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    record(st, v1_line(&h), None, id, RecordOp::Query, b).await
}
async fn v1_count(State(st): State<AppState>, h: HeaderMap, Path(id): Path<String>) -> Response {
    record(st, v1_line(&h), None, id, RecordOp::Count, Bytes::new()).await
}

// ------------------------------------------------------------------------------------------
// v2 handlers

const V2: Line = Line::V2;

async fn v2_heartbeat(State(st): State<AppState>) -> Response {
    heartbeat(st, V2).await
}
async fn v2_version(State(st): State<AppState>) -> Response {
    version(st, V2).await
}
async fn v2_preflight(State(st): State<AppState>) -> Response {
    preflight(st, V2).await
}
async fn v2_healthcheck() -> Response {
    ok(json!({"is_executor_ready": true, "is_log_client_ready": true}))
}
async fn v2_identity(caller: Option<Extension<Caller>>) -> Response {
    let user = caller.map(|Extension(c)| c.0).unwrap_or_default();
    ok(json!({"user_id": user, "tenant": chroma_types::DEFAULT_TENANT, "databases": [chroma_types::DEFAULT_DATABASE]}))
}
async fn v2_reset(State(st): State<AppState>) -> Response {
    reset(st, V2).await
}
async fn v2_create_tenant(State(st): State<AppState>, b: Bytes) -> Response {
    create_tenant(st, V2, b).await
}
async fn v2_list_tenants(State(st): State<AppState>, Query(q): Params) -> Response {
    list_tenants(st, V2, q).await
}
async fn v2_get_tenant(State(st): State<AppState>, Path(t): Path<String>) -> Response {
    get_tenant(st, V2, t).await
}
async fn v2_update_tenant(State(st): State<AppState>, Path(t): Path<String>) -> Response {
    let r = run(&st, move |api| api.get_tenant(&t)).await.map_err(Fail::api(Op::Other));
    finish(V2, r.map(|_| ok(json!({}))))
}
async fn v2_list_databases(State(st): State<AppState>, Path(t): Path<String>, Query(q): Params) -> Response {
    list_databases(st, V2, t, q).await
}
async fn v2_create_database(State(st): State<AppState>, Path(t): Path<String>, b: Bytes) -> Response {
    create_database(st, V2, t, b).await
}
async fn v2_get_database(State(st): State<AppState>, Path((t, d)): Path<(String, String)>) -> Response {
    get_database(st, V2, t, d).await
}
/// Not in Chroma's API (no official client calls it): chroma-rs's own `Client` deletes tenants
/// in all three modes, so the HTTP mode needs a route for it. Same auth as every v2 write.
async fn v2_delete_tenant(State(st): State<AppState>, Path(t): Path<String>) -> Response {
    let r = run(&st, move |api| api.delete_tenant(&t)).await.map_err(Fail::api(Op::Other));
    finish(V2, r.map(|_| empty(V2)))
}
async fn v2_delete_database(State(st): State<AppState>, Path((t, d)): Path<(String, String)>) -> Response {
    delete_database(st, V2, t, d).await
}
async fn v2_list_collections(
    State(st): State<AppState>,
    Path((t, d)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    list_collections(st, V2, t, d, q).await
}
async fn v2_count_collections(State(st): State<AppState>, Path((t, d)): Path<(String, String)>) -> Response {
    count_collections(st, V2, t, d).await
}
async fn v2_create_collection(State(st): State<AppState>, Path((t, d)): Path<(String, String)>, b: Bytes) -> Response {
    create_collection(st, V2, t, d, b).await
}
async fn v2_get_collection(State(st): State<AppState>, Path((t, d, name)): Path<(String, String, String)>) -> Response {
    get_collection(st, V2, t, d, name).await
}
async fn v2_get_collection_by_id(
    State(st): State<AppState>,
    Path((t, d, id)): Path<(String, String, String)>,
) -> Response {
    get_collection_by_id(st, V2, Some((t, d)), id).await
}
async fn v2_update_collection(
    State(st): State<AppState>,
    Path((t, d, id)): Path<(String, String, String)>,
    b: Bytes,
) -> Response {
    update_collection(st, V2, Some((t, d)), id, b).await
}
async fn v2_delete_collection(
    State(st): State<AppState>,
    Path((t, d, name)): Path<(String, String, String)>,
) -> Response {
    delete_collection(st, V2, t, d, name).await
}
async fn v2_add(State(st): State<AppState>, Path((t, d, id)): Path<(String, String, String)>, b: Bytes) -> Response {
    record(st, V2, Some((t, d)), id, RecordOp::Add, b).await
}
async fn v2_upsert(State(st): State<AppState>, Path((t, d, id)): Path<(String, String, String)>, b: Bytes) -> Response {
    record(st, V2, Some((t, d)), id, RecordOp::Upsert, b).await
}
async fn v2_update(State(st): State<AppState>, Path((t, d, id)): Path<(String, String, String)>, b: Bytes) -> Response {
    record(st, V2, Some((t, d)), id, RecordOp::Update, b).await
}
async fn v2_delete(State(st): State<AppState>, Path((t, d, id)): Path<(String, String, String)>, b: Bytes) -> Response {
    record(st, V2, Some((t, d)), id, RecordOp::Delete, b).await
}
async fn v2_get(State(st): State<AppState>, Path((t, d, id)): Path<(String, String, String)>, b: Bytes) -> Response {
    record(st, V2, Some((t, d)), id, RecordOp::Get, b).await
}
async fn v2_query(State(st): State<AppState>, Path((t, d, id)): Path<(String, String, String)>, b: Bytes) -> Response {
    record(st, V2, Some((t, d)), id, RecordOp::Query, b).await
}
async fn v2_count(State(st): State<AppState>, Path((t, d, id)): Path<(String, String, String)>) -> Response {
    record(st, V2, Some((t, d)), id, RecordOp::Count, Bytes::new()).await
}
