//! `GET /openapi.json` (an `OpenAPI` 3.1 document of the routes served) and `GET /docs` (a page
//! that renders it).
//!
//! The document is generated from the code, not written by hand:
//! * the paths are those of the route tables (`v1::routes`, `v2::routes`), and the methods of
//!   each are what axum itself answers in the `Allow` header of a 405 for that route, so a route
//!   cannot be served without being listed, nor listed without being served;
//! * path parameters come from the path templates;
//! * request bodies are the JSON Schemas (draft 2020-12, `OpenAPI` 3.1's dialect) that `schemars`
//!   derives from the chroma-wire structs the handlers parse bodies into, and the get and query
//!   results from the structs they serialize.
//!
//! What is written here is only the prose (a summary per operation), the query parameters and
//! the small response objects the handlers build with `json!` (`OPS`, keyed by method and path
//! with parameters anonymised). A route without an entry still appears, with a generic summary;
//! a unit test requires an entry for every route.

use crate::request::AppState;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::MethodRouter;
use chroma_wire as wire;
use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tokio::sync::OnceCell;
use tower_service::Service;

/// Request bodies, by the wire struct that parses them.
#[derive(Clone, Copy)]
enum BodyKind {
    Name,
    UpdateTenant,
    CreateCollection,
    UpdateCollection,
    Add,
    Update,
    Get,
    Query,
    Delete,
    /// A JSON object this table does not detail.
    Object,
}

/// Response bodies.
#[derive(Clone, Copy)]
enum Reply {
    Heartbeat,
    Version,
    PreFlight,
    Health,
    Identity,
    Bool,
    Tenant,
    Database,
    Databases,
    Collection,
    Collections,
    Integer,
    /// `{}` on v2, `null` or `true` on v1.
    Empty,
    /// `{"deleted": n}` on v2; v1: the deleted ids (0.4.x) or `null` (0.5.x).
    Deleted,
    Get,
    Query,
    /// A JSON value this table does not detail.
    Any,
}

/// One operation's description.
struct Op {
    method: &'static str,
    /// Path after `/api/vN`, collection routes of v2 without their
    /// `/tenants/{}/databases/{}` prefix (and v2's by-resource-name routes under `/crn`);
    /// parameters written `{}`.
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    body: Option<BodyKind>,
    status: u16,
    reply: Reply,
    /// Query parameters: (name, description).
    query: &'static [(&'static str, &'static str)],
}

const PAGE: &[(&str, &str)] = &[("limit", "Largest number of items returned."), ("offset", "Items skipped first.")];
const SCOPE: &[(&str, &str)] = &[
    ("tenant", "Tenant (API v1; default `default_tenant`)."),
    ("database", "Database (API v1; default `default_database`)."),
];
const TENANT: &[(&str, &str)] = &[("tenant", "Tenant (API v1; default `default_tenant`).")];
const TENANT_PAGE: &[(&str, &str)] = &[
    ("tenant", "Tenant (API v1; default `default_tenant`)."),
    ("limit", "Largest number of items returned."),
    ("offset", "Items skipped first."),
];
const SCOPE_PAGE: &[(&str, &str)] = &[
    ("tenant", "Tenant (API v1; default `default_tenant`)."),
    ("database", "Database (API v1; default `default_database`)."),
    ("limit", "Largest number of items returned."),
    ("offset", "Items skipped first."),
];

const fn op(method: &'static str, path: &'static str, summary: &'static str, tag: &'static str, reply: Reply) -> Op {
    Op { method, path, summary, tag, body: None, status: 200, reply, query: &[] }
}

const fn with_body(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    body: BodyKind,
    reply: Reply,
) -> Op {
    Op { method, path, summary, tag, body: Some(body), status: 200, reply, query: &[] }
}

const fn q(mut o: Op, query: &'static [(&'static str, &'static str)]) -> Op {
    o.query = query;
    o
}

const fn status(mut o: Op, code: u16) -> Op {
    o.status = code;
    o
}

#[rustfmt::skip]
const OPS: &[Op] = &[
    op("GET", "", "Heartbeat (the API root)", "System", Reply::Heartbeat),
    op("GET", "/heartbeat", "Heartbeat: the server's clock in nanoseconds", "System", Reply::Heartbeat),
    op("GET", "/version", "The server's version (x.y.z)", "System", Reply::Version),
    op("GET", "/pre-flight-checks", "Limits the clients check first (max_batch_size)", "System", Reply::PreFlight),
    op("GET", "/healthcheck", "Readiness", "System", Reply::Health),
    op("GET", "/auth/identity", "Who the caller is, and the tenant and databases they may use", "System", Reply::Identity),
    op("POST", "/reset", "Delete everything (when the server allows reset)", "System", Reply::Bool),
    with_body("POST", "/tenants", "Create a tenant", "Tenants", BodyKind::Name, Reply::Empty),
    q(op("GET", "/tenants", "List tenants", "Tenants", Reply::Any), PAGE),
    op("GET", "/tenants/{}", "Get a tenant", "Tenants", Reply::Tenant),
    with_body("PATCH", "/tenants/{}", "Update a tenant (answers {} as a local Chroma 1.5.9; resource names are not kept)", "Tenants", BodyKind::UpdateTenant, Reply::Empty),
    op("DELETE", "/tenants/{}", "Delete a tenant and all its data (a chroma-rs extension)", "Tenants", Reply::Empty),
    // v1 databases (tenant in the query string)
    q(with_body("POST", "/databases", "Create a database", "Databases", BodyKind::Name, Reply::Empty), TENANT),
    q(op("GET", "/databases", "List databases", "Databases", Reply::Databases), TENANT_PAGE),
    q(op("GET", "/databases/{}", "Get a database", "Databases", Reply::Database), TENANT),
    q(op("DELETE", "/databases/{}", "Delete a database", "Databases", Reply::Empty), TENANT),
    // v2 databases
    with_body("POST", "/tenants/{}/databases", "Create a database", "Databases", BodyKind::Name, Reply::Empty),
    q(op("GET", "/tenants/{}/databases", "List databases", "Databases", Reply::Databases), PAGE),
    op("GET", "/tenants/{}/databases/{}", "Get a database", "Databases", Reply::Database),
    op("DELETE", "/tenants/{}/databases/{}", "Delete a database", "Databases", Reply::Empty),
    // collections (v1 paths; v2's are the same under /tenants/{}/databases/{})
    q(with_body("POST", "/collections", "Create a collection (or get it, with get_or_create)", "Collections", BodyKind::CreateCollection, Reply::Collection), SCOPE),
    q(op("GET", "/collections", "List collections", "Collections", Reply::Collections), SCOPE_PAGE),
    q(op("GET", "/count_collections", "Count collections", "Collections", Reply::Integer), SCOPE),
    op("GET", "/collections_count", "Count collections", "Collections", Reply::Integer),
    q(op("GET", "/collections/{}", "Get a collection by name", "Collections", Reply::Collection), SCOPE),
    op("GET", "/crn/collections/{}", "Get a collection by its Chroma Cloud resource name", "Collections", Reply::Collection),
    q(with_body("PUT", "/collections/{}", "Rename a collection or change its metadata or configuration", "Collections", BodyKind::UpdateCollection, Reply::Empty), SCOPE),
    q(op("DELETE", "/collections/{}", "Delete a collection by name", "Collections", Reply::Empty), SCOPE),
    op("GET", "/collections/by-id/{}", "Get a collection by id", "Collections", Reply::Collection),
    with_body("POST", "/collections/{}/fork", "Fork a collection", "Collections", BodyKind::Object, Reply::Collection),
    op("GET", "/collections/{}/fork_count", "Count a collection's forks", "Collections", Reply::Any),
    op("GET", "/collections/{}/indexing_status", "How much of a collection is indexed", "Collections", Reply::Any),
    // records
    status(with_body("POST", "/collections/{}/add", "Add records (existing ids are left as they are)", "Records", BodyKind::Add, Reply::Empty), 201),
    with_body("POST", "/collections/{}/upsert", "Add records or replace existing ones", "Records", BodyKind::Add, Reply::Empty),
    with_body("POST", "/collections/{}/update", "Change existing records", "Records", BodyKind::Update, Reply::Empty),
    with_body("POST", "/collections/{}/delete", "Delete records by id and/or filter", "Records", BodyKind::Delete, Reply::Deleted),
    with_body("POST", "/collections/{}/get", "Get records by id and/or filter", "Records", BodyKind::Get, Reply::Get),
    with_body("POST", "/collections/{}/query", "Nearest neighbours of query embeddings", "Records", BodyKind::Query, Reply::Query),
    op("GET", "/collections/{}/count", "Count a collection's records", "Records", Reply::Integer),
    with_body("POST", "/collections/{}/search", "Search (Chroma Cloud)", "Records", BodyKind::Object, Reply::Any),
    with_body("POST", "/collections/{}/functions/attach", "Attach a function (Chroma Cloud)", "Functions", BodyKind::Object, Reply::Any),
    op("GET", "/collections/{}/functions/{}", "Get an attached function (Chroma Cloud)", "Functions", Reply::Any),
    with_body("POST", "/collections/{}/attached_functions/{}/detach", "Detach a function (Chroma Cloud)", "Functions", BodyKind::Object, Reply::Any),
];

/// `path` with every `{param}` written `{}`.
fn anonymised(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') && seg.ends_with('}') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// The API version of a route path and the key its [`Op`] is found under.
fn key_of(path: &str) -> (&'static str, String) {
    let anon = anonymised(path);
    let (version, rest) = if let Some(r) = anon.strip_prefix("/api/v1") {
        ("v1", r.to_string())
    } else if let Some(r) = anon.strip_prefix("/api/v2") {
        ("v2", r.to_string())
    } else {
        ("", anon.clone())
    };
    let rest = match rest.strip_prefix("/tenants/{}/databases/{}") {
        Some(r) if r.starts_with("/collections") => r.to_string(),
        // v2's collection paths outside a database name collections by resource name.
        _ if version == "v2" && rest.starts_with("/collections") => format!("/crn{rest}"),
        _ => rest,
    };
    (version, rest)
}

fn describe(method: &str, path: &str) -> Option<&'static Op> {
    let (_, key) = key_of(path);
    OPS.iter().find(|o| o.method == method && o.path == key)
}

/// The methods axum serves `mr` with: the `Allow` header of its 405 answer to a method no route
/// uses (HEAD, implied by GET, is left out).
async fn methods_of(mr: &MethodRouter<AppState>, st: &AppState) -> Vec<String> {
    let mut svc = mr.clone().with_state(st.clone());
    let req = Request::builder().method(Method::TRACE).uri("/").body(Body::empty()).expect("a valid request");
    if std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut svc, cx)).await.is_err() {
        return Vec::new();
    }
    let Ok(resp) = svc.call(req).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
        return Vec::new();
    }
    let allow = resp.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("");
    allow.split(',').map(|m| m.trim().to_ascii_uppercase()).filter(|m| !m.is_empty() && m != "HEAD").collect()
}

fn obj(props: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = props.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
    json!({"type": "object", "properties": props, "required": required})
}

fn str_schema() -> Value {
    json!({"type": "string"})
}

fn reply_schema(r: Reply, gen: &mut SchemaGenerator) -> Value {
    let int = json!({"type": "integer", "minimum": 0});
    let tenant = obj(&[("name", str_schema())], &["name"]);
    let database = obj(
        &[("id", json!({"type": "string", "format": "uuid"})), ("name", str_schema()), ("tenant", str_schema())],
        &["id", "name", "tenant"],
    );
    let collection = obj(
        &[
            ("id", json!({"type": "string", "format": "uuid"})),
            ("name", str_schema()),
            ("metadata", json!({"type": ["object", "null"]})),
            ("configuration_json", json!({"type": "object"})),
            ("dimension", json!({"type": ["integer", "null"]})),
            ("tenant", str_schema()),
            ("database", str_schema()),
            ("version", int.clone()),
            ("log_position", int.clone()),
            ("schema", json!({"type": ["object", "null"]})),
        ],
        &["id", "name", "metadata", "tenant", "database"],
    );
    match r {
        Reply::Heartbeat => obj(&[("nanosecond heartbeat", int)], &["nanosecond heartbeat"]),
        Reply::Version => json!({"type": "string", "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+"}),
        Reply::PreFlight => obj(
            &[("max_batch_size", int), ("supports_base64_encoding", json!({"type": "boolean"}))],
            &["max_batch_size"],
        ),
        Reply::Health => obj(
            &[("is_executor_ready", json!({"type": "boolean"})), ("is_log_client_ready", json!({"type": "boolean"}))],
            &[],
        ),
        Reply::Identity => obj(
            &[
                ("user_id", str_schema()),
                ("tenant", str_schema()),
                ("databases", json!({"type": "array", "items": str_schema()})),
            ],
            &["user_id", "tenant", "databases"],
        ),
        Reply::Bool => json!({"type": "boolean"}),
        Reply::Tenant => tenant,
        Reply::Database => database,
        Reply::Databases => json!({"type": "array", "items": database}),
        Reply::Collection => collection,
        Reply::Collections => json!({"type": "array", "items": collection}),
        Reply::Integer => int,
        Reply::Empty => json!({"type": ["object", "boolean", "null"]}),
        Reply::Deleted => json!({"oneOf": [
            obj(&[("deleted", int)], &["deleted"]),
            {"type": "array", "items": str_schema()},
            {"type": "null"}
        ]}),
        Reply::Get => gen.subschema_for::<wire::GetResponse<'static>>().to_value(),
        Reply::Query => gen.subschema_for::<wire::QueryResponse<'static>>().to_value(),
        Reply::Any => json!({}),
    }
}

fn body_schema(b: BodyKind, gen: &mut SchemaGenerator) -> Value {
    fn s<T: JsonSchema>(gen: &mut SchemaGenerator) -> Value {
        gen.subschema_for::<T>().to_value()
    }
    match b {
        BodyKind::Name => s::<wire::NameBody>(gen),
        BodyKind::UpdateTenant => s::<wire::UpdateTenantBody>(gen),
        BodyKind::CreateCollection => s::<wire::CreateCollectionBody>(gen),
        BodyKind::UpdateCollection => s::<wire::UpdateCollectionBody>(gen),
        BodyKind::Add => s::<wire::AddBody>(gen),
        BodyKind::Update => s::<wire::UpdateBody>(gen),
        BodyKind::Get => s::<wire::GetBody>(gen),
        BodyKind::Query => s::<wire::QueryBody>(gen),
        BodyKind::Delete => s::<wire::DeleteBody>(gen),
        BodyKind::Object => json!({"type": "object"}),
    }
}

fn generator(contract: Contract) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    settings.contract = contract;
    settings.into_generator()
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for seg in path.split('/').filter(|s| !s.is_empty() && *s != "api") {
        let seg = seg.trim_matches(|c| c == '{' || c == '}');
        id.push('_');
        id.extend(seg.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }));
    }
    id
}

/// One operation object.
fn operation(method: &str, path: &str, req_gen: &mut SchemaGenerator, resp_gen: &mut SchemaGenerator) -> Value {
    let (version, _) = key_of(path);
    let op = describe(method, path);
    let mut params: Vec<Value> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    for (name, description) in op.map_or(&[][..], |o| o.query) {
        if version == "v2" && (*name == "tenant" || *name == "database") {
            continue;
        }
        let schema =
            if matches!(*name, "limit" | "offset") { json!({"type": "integer", "minimum": 0}) } else { str_schema() };
        params.push(
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema}),
        );
    }
    let (summary, tag, status, reply) = match op {
        Some(o) => (o.summary.to_string(), o.tag, o.status, o.reply),
        None => (format!("{method} {path}"), "Other", 200, Reply::Any),
    };
    let mut o = json!({
        "operationId": operation_id(method, path),
        "summary": summary,
        "tags": [format!("{tag} ({version})")],
        "parameters": params,
        "responses": {
            status.to_string(): {
                "description": "Success",
                "content": {"application/json": {"schema": reply_schema(reply, resp_gen)}}
            },
            "default": {
                "description": "An error: {\"error\": name, \"message\": text} (API v1 0.4.x: also {\"detail\": text})",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
            }
        }
    });
    if let Some(b) = op.and_then(|o| o.body) {
        o["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": body_schema(b, req_gen)}}
        });
    }
    o
}

/// The `OpenAPI` 3.1 document of `routes` (each path as listed, methods as axum serves them).
pub(crate) async fn document(routes: &[(String, MethodRouter<AppState>)], st: &AppState) -> Value {
    let mut req_gen = generator(Contract::Deserialize);
    let mut resp_gen = generator(Contract::Serialize);
    let mut paths = Map::new();
    for (path, mr) in routes {
        let mut item = Map::new();
        for method in methods_of(mr, st).await {
            item.insert(method.to_ascii_lowercase(), operation(&method, path, &mut req_gen, &mut resp_gen));
        }
        paths.insert(path.clone(), Value::Object(item));
    }
    let mut schemas = req_gen.take_definitions(true);
    schemas.extend(resp_gen.take_definitions(true));
    schemas.insert(
        "ErrorResponse".into(),
        json!({"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "detail": {}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "chroma-rs",
            "version": chroma_types::VERSION,
            "summary": "Chroma's HTTP API as served by chroma-rs",
            "description": format!(
                "chroma-rs {}: /api/v2 answers as Chroma {} does; /api/v1 as Chroma 0.4.24 (0.4.x clients) \
                 or 0.5.x (python-httpx clients). Paths also answer with a trailing slash.",
                chroma_types::VERSION,
                crate::config::CHROMA_API_VERSION
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "When the server is started with token auth (`Authorization: Bearer` or `X-Chroma-Token`)."},
                "basic": {"type": "http", "scheme": "basic", "description": "When the server is started with basic auth."}
            }
        }
    })
}

/// The document, built on first request.
pub(crate) struct Docs {
    routes: Vec<(String, MethodRouter<AppState>)>,
    state: AppState,
    json: OnceCell<String>,
}

impl Docs {
    pub(crate) fn new(routes: Vec<(String, MethodRouter<AppState>)>, state: AppState) -> Arc<Docs> {
        Arc::new(Docs { routes, state, json: OnceCell::new() })
    }

    /// `GET /openapi.json`.
    pub(crate) async fn openapi_json(&self) -> Response {
        let text =
            self.json.get_or_init(|| async { document(&self.routes, &self.state).await.to_string() }).await.clone();
        ([(header::CONTENT_TYPE, "application/json")], text).into_response()
    }
}

/// `GET /docs`: a self-contained page (no script or style from elsewhere) that fetches
/// `/openapi.json` and renders it.
pub(crate) async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described() {
        for (path, _) in crate::v1::routes().into_iter().chain(crate::v2::routes()) {
            let (_, key) = key_of(&path);
            assert!(OPS.iter().any(|o| o.path == key), "no entry in openapi::OPS for {path} (key {key})");
        }
    }

    /// Every route of the tables, with every method the full router serves it with (a request
    /// that does not get 405), is in the document, and no other.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn document_covers_every_route_and_method() {
        let api: Arc<dyn chroma_types::ChromaApi> =
            Arc::new(chroma_store::Engine::ephemeral(chroma_types::Settings::default()).unwrap());
        let mut app = crate::router::router(api.clone(), &crate::ServerConfig::default());
        let st = AppState {
            api,
            allow_reset: false,
            auth: Arc::new(crate::auth::Authenticator::new(crate::Auth::None)),
            request_timeout: None,
        };
        let table: Vec<_> = crate::v1::routes().into_iter().chain(crate::v2::routes()).collect();
        let doc = document(&table, &st).await;
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.len(), table.len());
        let coll = uuid::Uuid::new_v4().to_string();
        let mut served = 0;
        for (path, _) in &table {
            let concrete: String = path
                .split('/')
                .map(|seg| match seg {
                    "{tenant}" => "default_tenant",
                    "{db}" | "{database}" => "default_database",
                    s if s.starts_with('{') => coll.as_str(),
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/");
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                let req = Request::builder()
                    .method(method)
                    .uri(&concrete)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from("{}"))
                    .unwrap();
                std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut app, cx)).await.unwrap();
                let status = app.call(req).await.unwrap().status();
                let in_doc = paths[path.as_str()].get(method.to_ascii_lowercase()).is_some();
                let is_served = status != StatusCode::METHOD_NOT_ALLOWED;
                assert_eq!(in_doc, is_served, "{method} {path}: answered {status}, in the document: {in_doc}");
                served += usize::from(is_served);
            }
        }
        assert!(served > table.len(), "{served} operations");
        assert_eq!(doc["openapi"], "3.1.0");
        let add = &paths["/api/v2/tenants/{tenant}/databases/{db}/collections/{coll}/add"]["post"];
        assert_eq!(add["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/AddBody");
        assert!(doc["components"]["schemas"]["AddBody"]["properties"]["embeddings"].is_object());
        assert!(doc["components"]["schemas"]["QueryResponse"]["properties"]["distances"].is_object());
    }

    #[test]
    fn keys_and_ids() {
        assert_eq!(key_of("/api/v2/tenants/{tenant}/databases/{db}/collections/{coll}/add").1, "/collections/{}/add");
        assert_eq!(key_of("/api/v2/tenants/{tenant}/databases/{db}").1, "/tenants/{}/databases/{}");
        assert_eq!(key_of("/api/v1/collections/{coll}/add").1, "/collections/{}/add");
        assert_eq!(key_of("/api/v2/collections/{crn}").1, "/crn/collections/{}");
        assert!(describe("GET", "/api/v2/collections/{crn}").unwrap().summary.contains("resource name"));
        assert_eq!(operation_id("GET", "/api/v2/tenants/{tenant}"), "get_v2_tenants_tenant");
    }
}
