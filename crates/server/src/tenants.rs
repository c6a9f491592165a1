//! Tenant and database handlers (v1 and v2).

use crate::errors::{Fail, Op};
use crate::reply::{empty, finish, ok};
use crate::request::{body, page, run, AppState, Params, Scope};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use chroma_wire::{self as wire, ClientLine};
use serde_json::{json, Value};

/// Creates the tenant named in the body.
pub(crate) async fn create_tenant(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    bytes: Bytes,
) -> Response {
    let r = async {
        let b: wire::NameBody = body(&bytes)?;
        run(&st, move |api| api.create_tenant(&b.name)).await.map_err(Fail::api(Op::Other))?;
        Ok(empty(line))
    };
    finish(line, r.await)
}

/// The tenant object.
pub(crate) async fn get_tenant(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    Path(name): Path<String>,
) -> Response {
    let r = run(&st, move |api| api.get_tenant(&name)).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|t| ok(wire::tenant_to_json(&t, line))))
}

/// Tenants (`limit` / `offset`).
pub(crate) async fn list_tenants(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    Query(q): Params,
) -> Response {
    let r = async {
        let (limit, offset) = page(&q)?;
        let ts = run(&st, move |api| api.list_tenants(limit, offset)).await.map_err(Fail::api(Op::Other))?;
        Ok(ok(Value::Array(ts.iter().map(|t| wire::tenant_to_json(t, line)).collect())))
    };
    finish(line, r.await)
}

/// v2 tenant update (`{"resource_name": ...}`): the body is checked as Chroma 1.5.9 checks it,
/// and the answer is its `{}`, for any tenant name (a local 1.5.9 keeps no resource names and
/// does not look the tenant up).
pub(crate) async fn update_tenant(
    Extension(line): Extension<ClientLine>,
    Path(_name): Path<String>,
    bytes: Bytes,
) -> Response {
    let r = body::<wire::UpdateTenantBody>(&bytes).map(|_| ok(json!({})));
    finish(line, r)
}

/// Not in Chroma's API (no official client calls it): chroma-rs's own `Client` deletes tenants
/// in all three modes, so the HTTP mode needs a route for it. Same auth as every v2 write.
pub(crate) async fn delete_tenant(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    Path(name): Path<String>,
) -> Response {
    let r = run(&st, move |api| api.delete_tenant(&name)).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|()| empty(line)))
}

/// Creates the database named in the body, in the scope's tenant.
pub(crate) async fn create_database(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    bytes: Bytes,
) -> Response {
    let r = async {
        let b: wire::NameBody = body(&bytes)?;
        if line == ClientLine::V1x {
            // 1.x servers apply the collection-name rules to databases; older lines only a length.
            chroma_types::validate::database_name_1x(&b.name).map_err(Fail::api(Op::Other))?;
        }
        run(&st, move |api| api.create_database(&scope.tenant, &b.name)).await.map_err(Fail::api(Op::Other))?;
        Ok(empty(line))
    };
    finish(line, r.await)
}

/// The database object (the scope's database, in its tenant).
pub(crate) async fn get_database(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
) -> Response {
    let r = run(&st, move |api| api.get_database(&scope.tenant, &scope.database)).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|d| ok(wire::database_to_json(&d))))
}

/// Databases of the scope's tenant (`limit` / `offset`).
pub(crate) async fn list_databases(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Query(q): Params,
) -> Response {
    let r = async {
        let (limit, offset) = page(&q)?;
        let ds = run(&st, move |api| api.list_databases(&scope.tenant, limit, offset))
            .await
            .map_err(Fail::api(Op::Other))?;
        Ok(ok(Value::Array(ds.iter().map(wire::database_to_json).collect())))
    };
    finish(line, r.await)
}

/// Deletes the scope's database.
pub(crate) async fn delete_database(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
) -> Response {
    let r = run(&st, move |api| api.delete_database(&scope.tenant, &scope.database))
        .await
        .map_err(Fail::api(Op::DatabaseDelete));
    finish(line, r.map(|()| empty(line)))
}
