//! Collection handlers (v1 and v2): list, count, create, get (by name or id), modify, delete.

use crate::errors::{Fail, Op};
use crate::reply::{empty, finish, ok};
use crate::request::{body, check_scope, page, parse_uuid, run, AppState, Coll, Params, Scope};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use chroma_types::{validate, CreateCollection, Error, Result};
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
            .or_else(|e| none_in_missing_database(line, e, Vec::new()))
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
    let r = run(&st, move |api| api.count_collections(&scope.tenant, &scope.database))
        .await
        .or_else(|e| none_in_missing_database(line, e, 0))
        .map_err(Fail::api(Op::Other));
    finish(line, r.map(|n| ok(json!(n))))
}

/// Chroma 1.5.9 lists and counts the collections of a database that does not exist as none;
/// older lines' servers refused.
fn none_in_missing_database<T>(line: ClientLine, e: Error, none: T) -> Result<T> {
    if line == ClientLine::V1x && e.kind == chroma_types::ErrorKind::NotFound {
        Ok(none)
    } else {
        Err(e)
    }
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

/// 1.5.9 names the field of a refused name in a create or modify.
fn validation_1x(line: ClientLine, field: &str, e: Error) -> Error {
    if line == ClientLine::V1x {
        Error::new(e.kind, format!("Validation error: {field}: {}", e.message))
    } else {
        e
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

/// 1.5.9's words for a create that fails: a missing database is a bad argument, a taken name
/// is in brackets.
fn create_error_1x(line: ClientLine, e: Error) -> Error {
    if line != ClientLine::V1x {
        return e;
    }
    if e.kind == chroma_types::ErrorKind::NotFound {
        if let Some((db, _)) = e.message.strip_prefix("Database ").and_then(|m| m.split_once(" not found for tenant "))
        {
            return Error::invalid(format!("Database [{db}] does not exist"));
        }
    }
    if let Some(name) = e.message.strip_prefix("Collection ").and_then(|m| m.strip_suffix(" already exists")) {
        return Error::new(e.kind, format!("Collection [{name}] already exists"));
    }
    e
}

/// A create's name and, from a 1.x client, its metadata keys (`#`/`$` keys, which 0.x servers
/// stored, are refused by 1.x): both problems in one message, as Chroma 1.5.9 words it.
fn check_create(line: ClientLine, req: &CreateCollection) -> Result<()> {
    let name = check_name(line, &req.name).map_err(|e| validation_1x(line, "name", e));
    let keys = match (line, &req.metadata) {
        (ClientLine::V1x, Some(m)) => validate::collection_metadata_keys_1x(m, "metadata"),
        _ => Ok(()),
    };
    match (keys, name) {
        (Err(k), Err(n)) => Err(Error::invalid(format!(
            "{}\n{}",
            k.message,
            n.message.strip_prefix("Validation error: ").unwrap_or(&n.message)
        ))),
        (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
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
        check_create(line, &req).map_err(Fail::api(Op::CollectionByName))?;
        let c = run(&st, move |api| api.create_collection(&scope.tenant, &scope.database, req))
            .await
            .map_err(|e| create_error_1x(line, e))
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
        let id = parse_uuid(&id).map_err(|f| match line {
            // 1.5.9 words this route's refusal apart from the others'.
            ClientLine::V1x => Fail::Api(
                Op::CollectionById,
                Error::invalid("Validation error: collection_id: Invalid collection ID format, expected UUID"),
            ),
            _ => f,
        })?;
        let scope = scope.of_collection();
        let c = run(&st, move |api| {
            check_scope(api, id, scope.as_ref())?;
            api.get_collection_by_id(id)
        })
        .await
        // a lookup, answered as get by name is (1.5.9 words both alike)
        .map_err(Fail::api(Op::CollectionByName))?;
        Ok(ok(wire::collection_to_json(&c, line)))
    };
    finish(line, r.await)
}

/// v2 `collections/{crn}`: the collection named by a Chroma Cloud resource name,
/// `<tenant>:<database>:<collection name>`. A malformed one gets Chroma 1.5.9's refusal; a
/// well-formed one the collection (1.5.9 local drops the connection: its lookup is not
/// implemented), so code written for Chroma Cloud runs here.
pub(crate) async fn get_by_crn(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    Path(crn): Path<String>,
) -> Response {
    let r = async {
        let parts: Vec<&str> = crn.split(':').collect();
        let [tenant, database, name] = parts[..] else { return Err(bad_crn()) };
        if [tenant, database, name].iter().any(|p| p.is_empty()) {
            return Err(bad_crn());
        }
        let (tenant, database, name) = (tenant.to_string(), database.to_string(), name.to_string());
        let c = run(&st, move |api| api.get_collection(&tenant, &database, &name))
            .await
            .map_err(Fail::api(Op::CollectionByName))?;
        Ok(ok(wire::collection_to_json(&c, line)))
    };
    finish(line, r.await)
}

fn bad_crn() -> Fail {
    Fail::Api(
        Op::CollectionByName,
        Error::invalid(
            "Validation error: crn: CRN must be in the format <tenant_resource_name>:<database_name>:<collection_name> with non-empty parts",
        ),
    )
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
            check_name(line, n)
                .map_err(|e| validation_1x(line, "new_name", e))
                .map_err(Fail::api(Op::CollectionById))?;
        }
        if let (ClientLine::V1x, Some(m)) = (line, &req.new_metadata) {
            validate::collection_metadata_keys_1x(m, "new_metadata").map_err(Fail::api(Op::CollectionById))?;
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
