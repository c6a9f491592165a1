//! Collection handlers (v1 and v2): list, count, create, get (by name or id), modify, delete.

use crate::errors::{Fail, Op};
use crate::reply::{empty, finish, ok};
use crate::request::{body, check_scope, page, parse_uuid, run, AppState, Coll, Params, Scope};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use chroma_types::{validate, Error, Result};
use chroma_wire::{self as wire, ClientLine};
use serde_json::{json, Value};

/// Collections of the scope (`limit` / `offset`).
pub(crate) async fn list(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Query(q): Params,
) -> Response {
    let r = async {
        let (limit, offset) = page(&q)?;
        let cs = run(&st, move |api| api.list_collections(&scope.tenant, &scope.database, limit, offset))
            .await
            .map_err(Fail::api(Op::Other))?;
        Ok(ok(Value::Array(cs.iter().map(|c| wire::collection_to_json(c, line)).collect())))
    };
    finish(line, r.await)
}

/// How many collections the scope holds.
pub(crate) async fn count(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
) -> Response {
    let r =
        run(&st, move |api| api.count_collections(&scope.tenant, &scope.database)).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|n| ok(json!(n))))
}

/// Chroma servers of every line refuse collection metadata `{}` (create, `get_or_create` and
/// modify); their own test suites expect the error.
fn nonempty_metadata(m: Option<&Value>) -> Result<()> {
    match m {
        Some(Value::Object(o)) if o.is_empty() => {
            Err(Error::invalid("Expected metadata to be a non-empty dict, got {}"))
        }
        _ => Ok(()),
    }
}

/// Each line with its own name rules and wording (0.4-0.6: 3-63 characters, and a final
/// newline allowed as Python's `$` did; 1.x: 3-512 characters).
fn check_name(line: ClientLine, name: &str) -> Result<()> {
    if line == ClientLine::V1x {
        validate::collection_name(name)
    } else {
        validate::collection_name_v04(name)
    }
}

/// Creates a collection (or gets it, with `get_or_create`).
pub(crate) async fn create(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    bytes: Bytes,
) -> Response {
    let r = async {
        let b: wire::CreateCollectionBody = body(&bytes)?;
        nonempty_metadata(b.metadata.as_ref()).map_err(Fail::api(Op::CollectionByName))?;
        let req = b.into_request().map_err(Fail::api(Op::CollectionByName))?;
        check_name(line, &req.name).map_err(Fail::api(Op::CollectionByName))?;
        let c = run(&st, move |api| api.create_collection(&scope.tenant, &scope.database, req))
            .await
            .map_err(Fail::api(Op::CollectionByName))?;
        Ok(ok(wire::collection_to_json(&c, line)))
    };
    finish(line, r.await)
}

/// The collection named in the path.
pub(crate) async fn get(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(name): Coll,
) -> Response {
    let r = run(&st, move |api| api.get_collection(&scope.tenant, &scope.database, &name))
        .await
        .map_err(Fail::api(Op::CollectionByName));
    finish(line, r.map(|c| ok(wire::collection_to_json(&c, line))))
}

/// v2: the collection with the id in the path (which must belong to the path's scope).
pub(crate) async fn get_by_id(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(id): Coll,
) -> Response {
    let r = async {
        let id = parse_uuid(&id)?;
        let scope = scope.of_collection();
        let c = run(&st, move |api| {
            check_scope(api, id, scope.as_ref())?;
            api.get_collection_by_id(id)
        })
        .await
        .map_err(Fail::api(Op::CollectionById))?;
        Ok(ok(wire::collection_to_json(&c, line)))
    };
    finish(line, r.await)
}

/// Renames the collection with the id in the path, replaces its metadata, or changes its
/// configuration.
pub(crate) async fn update(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(id): Coll,
    bytes: Bytes,
) -> Response {
    let r = async {
        let id = parse_uuid(&id)?;
        let b: wire::UpdateCollectionBody = body(&bytes)?;
        nonempty_metadata(b.new_metadata.as_ref()).map_err(Fail::api(Op::CollectionById))?;
        let req = b.into_request().map_err(Fail::api(Op::CollectionById))?;
        if let Some(n) = &req.new_name {
            check_name(line, n).map_err(Fail::api(Op::CollectionById))?;
        }
        let scope = scope.of_collection();
        run(&st, move |api| {
            check_scope(api, id, scope.as_ref())?;
            api.update_collection(id, req)
        })
        .await
        .map_err(Fail::api(Op::CollectionById))?;
        Ok(empty(line))
    };
    finish(line, r.await)
}

/// Deletes the collection named in the path.
pub(crate) async fn delete(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(name): Coll,
) -> Response {
    let r = run(&st, move |api| api.delete_collection(&scope.tenant, &scope.database, &name))
        .await
        .map_err(Fail::api(Op::CollectionByName));
    finish(line, r.map(|()| empty(line)))
}
