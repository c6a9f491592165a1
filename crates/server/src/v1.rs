//! API v1 routes (Chroma 0.4.x / 0.5.x): tenant and database in the query string, record
//! routes under `collections/{id}` alone.

use crate::request::AppState;
use crate::router::both;
use crate::{collections, records, system, tenants};
use axum::routing::{get, post};
use axum::Router;

/// Adds the v1 routes to `r`.
pub(crate) fn routes(mut r: Router<AppState>) -> Router<AppState> {
    const C: &str = "/api/v1/collections/{coll}";
    r = both(r, "/api/v1", get(system::heartbeat));
    r = both(r, "/api/v1/heartbeat", get(system::heartbeat));
    r = both(r, "/api/v1/version", get(system::version));
    r = both(r, "/api/v1/pre-flight-checks", get(system::preflight));
    r = both(r, "/api/v1/healthcheck", get(system::healthcheck));
    r = both(r, "/api/v1/reset", post(system::reset));
    r = both(r, "/api/v1/tenants", post(tenants::create_tenant).get(tenants::list_tenants));
    r = both(r, "/api/v1/tenants/{tenant}", get(tenants::get_tenant));
    r = both(r, "/api/v1/databases", post(tenants::create_database).get(tenants::list_databases));
    r = both(r, "/api/v1/databases/{db}", get(tenants::get_database).delete(tenants::delete_database));
    r = both(r, "/api/v1/collections", get(collections::list).post(collections::create));
    r = both(r, "/api/v1/count_collections", get(collections::count));
    r = both(r, C, get(collections::get).put(collections::update).delete(collections::delete));
    r = both(r, &format!("{C}/add"), post(records::add));
    r = both(r, &format!("{C}/upsert"), post(records::upsert));
    r = both(r, &format!("{C}/update"), post(records::update));
    r = both(r, &format!("{C}/delete"), post(records::delete));
    r = both(r, &format!("{C}/get"), post(records::get));
    r = both(r, &format!("{C}/query"), post(records::query));
    r = both(r, &format!("{C}/count"), get(records::count));
    r
}
