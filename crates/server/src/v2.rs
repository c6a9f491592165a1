//! API v2 routes (Chroma 0.5.16+ / 1.x): tenant and database in the path. Besides v1's calls,
//! v2 has `auth/identity`, tenant update and delete, and collections by id.

use crate::request::AppState;
use crate::{collections, lineage, records, system, tenants};
use axum::routing::{get, post, MethodRouter};

/// The v2 routes, in the order they are added (each also answers with a trailing slash).
pub(crate) fn routes() -> Vec<(String, MethodRouter<AppState>)> {
    const T: &str = "/api/v2/tenants/{tenant}/databases/{db}";
    const C: &str = "/api/v2/tenants/{tenant}/databases/{db}/collections/{coll}";
    vec![
        ("/api/v2".into(), get(system::heartbeat)),
        ("/api/v2/heartbeat".into(), get(system::heartbeat)),
        ("/api/v2/version".into(), get(system::version)),
        ("/api/v2/pre-flight-checks".into(), get(system::preflight)),
        ("/api/v2/healthcheck".into(), get(system::healthcheck)),
        ("/api/v2/auth/identity".into(), get(system::identity)),
        ("/api/v2/reset".into(), post(system::reset)),
        ("/api/v2/tenants".into(), post(tenants::create_tenant).get(tenants::list_tenants)),
        (
            "/api/v2/tenants/{tenant}".into(),
            get(tenants::get_tenant).patch(tenants::update_tenant).delete(tenants::delete_tenant),
        ),
        ("/api/v2/tenants/{tenant}/databases".into(), get(tenants::list_databases).post(tenants::create_database)),
        (T.to_string(), get(tenants::get_database).delete(tenants::delete_database)),
        (format!("{T}/collections"), get(collections::list).post(collections::create)),
        (format!("{T}/collections_count"), get(collections::count)),
        (C.to_string(), get(collections::get).put(collections::update).delete(collections::delete)),
        (format!("{T}/collections/by-id/{{id}}"), get(collections::get_by_id)),
        ("/api/v2/collections/{crn}".into(), get(collections::get_by_crn)),
        (format!("{C}/add"), post(records::add)),
        (format!("{C}/upsert"), post(records::upsert)),
        (format!("{C}/update"), post(records::update)),
        (format!("{C}/delete"), post(records::delete)),
        (format!("{C}/get"), post(records::get)),
        (format!("{C}/query"), post(records::query)),
        (format!("{C}/count"), get(records::count)),
        (format!("{C}/fork"), post(lineage::fork)),
        (format!("{C}/fork_count"), get(lineage::fork_count)),
        (format!("{C}/indexing_status"), get(lineage::indexing_status)),
        (format!("{C}/search"), post(lineage::search)),
        (format!("{C}/functions/attach"), post(lineage::attach_function)),
        (format!("{C}/functions/{{name}}"), get(lineage::get_function)),
        (format!("{C}/attached_functions/{{name}}/detach"), post(lineage::detach_function)),
    ]
}
