//! API v2 routes (Chroma 0.5.16+ / 1.x): tenant and database in the path. Besides v1's calls,
//! v2 has `auth/identity`, tenant update and delete, and collections by id.

use crate::request::AppState;
use crate::router::both;
use crate::{collections, records, system, tenants};
use axum::routing::{get, post};
use axum::Router;

/// Adds the v2 routes to `r`.
pub(crate) fn routes(mut r: Router<AppState>) -> Router<AppState> {
    const T: &str = "/api/v2/tenants/{tenant}/databases/{db}";
    const C: &str = "/api/v2/tenants/{tenant}/databases/{db}/collections/{coll}";
    r = both(r, "/api/v2", get(system::heartbeat));
    r = both(r, "/api/v2/heartbeat", get(system::heartbeat));
    r = both(r, "/api/v2/version", get(system::version));
    r = both(r, "/api/v2/pre-flight-checks", get(system::preflight));
    r = both(r, "/api/v2/healthcheck", get(system::healthcheck));
    r = both(r, "/api/v2/auth/identity", get(system::identity));
    r = both(r, "/api/v2/reset", post(system::reset));
    r = both(r, "/api/v2/tenants", post(tenants::create_tenant).get(tenants::list_tenants));
    r = both(
        r,
        "/api/v2/tenants/{tenant}",
        get(tenants::get_tenant).patch(tenants::update_tenant).delete(tenants::delete_tenant),
    );
    r = both(r, "/api/v2/tenants/{tenant}/databases", get(tenants::list_databases).post(tenants::create_database));
    r = both(r, T, get(tenants::get_database).delete(tenants::delete_database));
    r = both(r, &format!("{T}/collections"), get(collections::list).post(collections::create));
    r = both(r, &format!("{T}/collections_count"), get(collections::count));
    r = both(r, C, get(collections::get).put(collections::update).delete(collections::delete));
    r = both(r, &format!("{T}/collections/by-id/{{id}}"), get(collections::get_by_id));
    r = both(r, &format!("{C}/add"), post(records::add));
    r = both(r, &format!("{C}/upsert"), post(records::upsert));
    r = both(r, &format!("{C}/update"), post(records::update));
    r = both(r, &format!("{C}/delete"), post(records::delete));
    r = both(r, &format!("{C}/get"), post(records::get));
    r = both(r, &format!("{C}/query"), post(records::query));
    r = both(r, &format!("{C}/count"), get(records::count));
    r
}
