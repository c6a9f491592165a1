//! API v1 routes (Chroma 0.4.x / 0.5.x): tenant and database in the query string, record
//! routes under `collections/{id}` alone.

use crate::request::AppState;
use crate::{collections, records, system, tenants};
use axum::routing::{get, post, MethodRouter};

/// The v1 routes, in the order they are added (each also answers with a trailing slash).
pub(crate) fn routes() -> Vec<(String, MethodRouter<AppState>)> {
    const C: &str = "/api/v1/collections/{coll}";
    vec![
        ("/api/v1".into(), get(system::heartbeat)),
        ("/api/v1/heartbeat".into(), get(system::heartbeat)),
        ("/api/v1/version".into(), get(system::version)),
        ("/api/v1/pre-flight-checks".into(), get(system::preflight)),
        ("/api/v1/healthcheck".into(), get(system::healthcheck)),
        ("/api/v1/reset".into(), post(system::reset)),
        ("/api/v1/tenants".into(), post(tenants::create_tenant).get(tenants::list_tenants)),
        ("/api/v1/tenants/{tenant}".into(), get(tenants::get_tenant)),
        ("/api/v1/databases".into(), post(tenants::create_database).get(tenants::list_databases)),
        ("/api/v1/databases/{db}".into(), get(tenants::get_database).delete(tenants::delete_database)),
        ("/api/v1/collections".into(), get(collections::list).post(collections::create)),
        ("/api/v1/count_collections".into(), get(collections::count)),
        (C.to_string(), get(collections::get).put(collections::update).delete(collections::delete)),
        (format!("{C}/add"), post(records::add)),
        (format!("{C}/upsert"), post(records::upsert)),
        (format!("{C}/update"), post(records::update)),
        (format!("{C}/delete"), post(records::delete)),
        (format!("{C}/get"), post(records::get)),
        (format!("{C}/query"), post(records::query)),
        (format!("{C}/count"), get(records::count)),
    ]
}
