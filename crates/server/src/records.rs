//! Record handlers (v1 and v2): add, upsert, update, delete, get, query, count on the
//! collection whose id is in the path. On v2 the collection must belong to the path's tenant
//! and database.

use crate::errors::{Fail, Op};
use crate::reply::{empty, finish, json_response, ok, raw_json};
use crate::request::{body, check_scope, parse_uuid, read_level, run, AppState, Coll, Params, Scope};
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chroma_types::{ChromaApi, Error};
use chroma_wire::{self as wire, ClientLine};
use serde_json::{json, Value};
use uuid::Uuid;

/// The collection a record call is about: its id, and on v2 the scope it must belong to.
struct Target {
    id: Uuid,
    scope: Option<(String, String)>,
}

impl Target {
    fn new(scope: Scope, coll: &str) -> Result<Target, Fail> {
        Ok(Target { id: parse_uuid(coll)?, scope: scope.of_collection() })
    }

    /// Runs `f` on the collection (after the scope check) on the blocking pool; errors are
    /// those of an `op` call.
    async fn run<T, F>(self, st: &AppState, op: Op, f: F) -> Result<T, Fail>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ChromaApi, Uuid) -> chroma_types::Result<T> + Send + 'static,
    {
        let Target { id, scope } = self;
        run(st, move |api| {
            check_scope(api, id, scope.as_ref())?;
            f(api, id)
        })
        .await
        .map_err(Fail::api(op))
    }
}

/// Chroma 1.5.9 answers every malformed `where` with "Invalid where clause" and every malformed
/// `where_document` with "Invalid where document clause"; so do we for 1.x clients. Our own
/// limits (sizes, depth) and 1.5.9's own texts (`#document` operators, regex syntax) stay.
fn filters_1x(line: ClientLine, r#where: Option<&Value>, where_document: Option<&Value>) -> Result<(), Fail> {
    if line != ClientLine::V1x {
        return Ok(());
    }
    let grammar = |e: &Error| e.message.starts_with("Expected ");
    if let Err(e) = chroma_types::filter::parse_where_in(r#where, line.dialect()) {
        if grammar(&e) {
            return Err(Fail::Api(Op::Record, Error::invalid("Invalid where clause")));
        }
    }
    if let Err(e) = chroma_types::filter::parse_where_document(where_document) {
        if grammar(&e) {
            return Err(Fail::Api(Op::Record, Error::invalid("Invalid where document clause")));
        }
    }
    Ok(())
}

/// Adds records: 201, with `true` on v1 and `{}` on v2.
pub(crate) async fn add(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    bytes: Bytes,
) -> Response {
    let r = async {
        let target = Target::new(scope, &coll)?;
        let req = body::<wire::AddBody>(&bytes)?.into_request(line.dialect()).map_err(Fail::api(Op::Add))?;
        target.run(&st, Op::Add, move |api, id| api.add(id, req)).await?;
        Ok(json_response(StatusCode::CREATED, if line.is_v2() { json!({}) } else { Value::Bool(true) }))
    };
    finish(line, r.await)
}

/// Adds or replaces records.
pub(crate) async fn upsert(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    bytes: Bytes,
) -> Response {
    let r = async {
        let target = Target::new(scope, &coll)?;
        let req = body::<wire::AddBody>(&bytes)?.into_request(line.dialect()).map_err(Fail::api(Op::Record))?;
        target.run(&st, Op::Record, move |api, id| api.upsert(id, req)).await?;
        Ok(empty(line))
    };
    finish(line, r.await)
}

/// Changes existing records.
pub(crate) async fn update(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    bytes: Bytes,
) -> Response {
    let r = async {
        let target = Target::new(scope, &coll)?;
        let req = body::<wire::UpdateBody>(&bytes)?.into_request(line.dialect()).map_err(Fail::api(Op::Record))?;
        target.run(&st, Op::Record, move |api, id| api.update(id, req)).await?;
        Ok(empty(line))
    };
    finish(line, r.await)
}

/// v1's refusal of a delete without ids or filters.
const DELETE_NOTHING: &str = "You must provide either ids, where, or where_document to delete. If you want to delete all data in a collection you can delete the collection itself using the delete_collection method. Or alternatively, you can get() all the relevant ids and then delete them.";

/// Deletes records. 0.4.x answers with the ids (those asked for, on an ids-only delete),
/// 0.5.x with `null`, v2 with `{"deleted": n}`.
pub(crate) async fn delete(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    bytes: Bytes,
) -> Response {
    let r = async {
        let target = Target::new(scope, &coll)?;
        let b: wire::DeleteBody = body(&bytes)?;
        let echo = if line == ClientLine::V04 && b.ids_only() { b.ids.clone() } else { None };
        // 1.x counts an ids-only delete as the ids it was given (missing and repeated ones
        // too), a filtered one as the records it removed.
        let asked = if b.ids_only() { b.ids.as_ref().map(Vec::len) } else { None };
        filters_1x(line, b.r#where.as_ref(), b.where_document.as_ref())?;
        let req = b.into_request(line.dialect()).map_err(Fail::api(Op::Record))?;
        if !line.is_v2()
            && req.ids.as_ref().is_none_or(Vec::is_empty)
            && req.r#where.is_none()
            && req.where_document.is_none()
        {
            return Err(Fail::Api(Op::Record, Error::invalid(DELETE_NOTHING)));
        }
        if line == ClientLine::V1x
            && req.ids.as_ref().is_some_and(Vec::is_empty)
            && req.r#where.is_none()
            && req.where_document.is_none()
        {
            // 1.x: an empty id list is a request without ids (`{}` deletes nothing, answering 0).
            return Err(Fail::Api(
                Op::Record,
                Error::invalid("Validation error: ids, where: Either ids or where must be specified"),
            ));
        }
        let deleted = target.run(&st, Op::Record, move |api, id| api.delete(id, req)).await?;
        Ok(match line {
            ClientLine::V04 => ok(json!(echo.unwrap_or(deleted))),
            ClientLine::V05 => ok(Value::Null),
            ClientLine::V06 => ok(json!({"deleted": deleted.len()})),
            ClientLine::V1x => ok(json!({"deleted": asked.unwrap_or(deleted.len())})),
        })
    };
    finish(line, r.await)
}

/// Records by ids and/or filters, in the line's result shape.
pub(crate) async fn get(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    bytes: Bytes,
) -> Response {
    let r = async {
        let target = Target::new(scope, &coll)?;
        let b = body::<wire::GetBody>(&bytes)?;
        filters_1x(line, b.r#where.as_ref(), b.where_document.as_ref())?;
        let req = b.into_request(line.dialect()).map_err(Fail::api(Op::Record))?;
        let res = target.run(&st, Op::Record, move |api, id| api.get(id, req)).await?;
        let s = wire::get_result_to_string(&res, line).map_err(Fail::api(Op::Record))?;
        Ok(raw_json(StatusCode::OK, s))
    };
    finish(line, r.await)
}

/// Nearest neighbours, in the line's result shape.
pub(crate) async fn query(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    bytes: Bytes,
) -> Response {
    let r = async {
        let target = Target::new(scope, &coll)?;
        let b = body::<wire::QueryBody>(&bytes)?;
        filters_1x(line, b.r#where.as_ref(), b.where_document.as_ref())?;
        let req = b.into_request(line.dialect()).map_err(Fail::api(Op::Record))?;
        let res = target.run(&st, Op::Record, move |api, id| api.query(id, req)).await?;
        let s = wire::query_result_to_string(&res, line).map_err(Fail::api(Op::Record))?;
        Ok(raw_json(StatusCode::OK, s))
    };
    finish(line, r.await)
}

/// How many records the collection holds (1.x clients send `?read_level=`).
pub(crate) async fn count(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    Query(q): Params,
) -> Response {
    let r = async {
        let level = read_level(&q)?;
        let n = Target::new(scope, &coll)?.run(&st, Op::Record, move |api, id| api.count_at(id, level)).await?;
        Ok(ok(json!(n)))
    };
    finish(line, r.await)
}
