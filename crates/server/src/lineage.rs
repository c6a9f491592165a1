//! v2 collection calls of the 1.x clients beyond records: `fork`, `fork_count` and
//! `indexing_status`, which chroma-rs serves (a local Chroma 1.5.9 refuses the first two
//! with 501 and fails the third with 500), `search` (the 1.x Search API, which a local 1.5.9
//! refuses), and the attached-function calls, which get the answers of a local Chroma 1.5.9.

use crate::errors::{Fail, Op};
use crate::reply::{finish, json_response, ok};
use crate::request::{body, check_scope, parse_uuid, run, AppState, Coll, Scope};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use chroma_types::ChromaApi;
use chroma_wire::{self as wire, ClientLine};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// `POST .../collections/{id}/fork` body.
#[derive(Deserialize)]
struct ForkBody {
    new_name: String,
}

/// Runs `f` on the collection in the path once it is known to belong to the path's scope.
async fn on_collection<T, F>(st: &AppState, scope: Scope, coll: &str, f: F) -> Result<T, Fail>
where
    T: Send + 'static,
    F: FnOnce(&dyn ChromaApi, Uuid) -> chroma_types::Result<T> + Send + 'static,
{
    let id = parse_uuid(coll)?;
    let scope = scope.of_collection();
    run(st, move |api| {
        check_scope(api, id, scope.as_ref())?;
        f(api, id)
    })
    .await
    .map_err(Fail::api(Op::CollectionById))
}

/// Forks the collection: a new collection `new_name` in the same database with the same
/// records, configuration and metadata.
pub(crate) async fn fork(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    bytes: Bytes,
) -> Response {
    let r = async {
        let b: ForkBody = body(&bytes)?;
        let c = on_collection(&st, scope, &coll, move |api, id| api.fork_collection(id, &b.new_name)).await?;
        Ok(ok(wire::collection_to_json(&c, line)))
    };
    finish(line, r.await)
}

/// `{"count": n}`: the forks sharing the collection's lineage.
pub(crate) async fn fork_count(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
) -> Response {
    let r = async {
        let n = on_collection(&st, scope, &coll, |api, id| api.fork_count(id)).await?;
        Ok(ok(json!({ "count": n })))
    };
    finish(line, r.await)
}

/// The progress of the collection's background indexer, in 1.x's `IndexingStatus` shape.
pub(crate) async fn indexing_status(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
) -> Response {
    let r = async {
        let s = on_collection(&st, scope, &coll, |api, id| api.indexing_status(id)).await?;
        Ok(ok(json!(s)))
    };
    finish(line, r.await)
}

/// A local Chroma 1.5.9's refusal: `status` with a `ChromaError` body.
fn refused(status: u16, name: &str, message: &str) -> Response {
    let mut resp = json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_IMPLEMENTED),
        json!({"error": name, "message": message}),
    );
    let trace = Uuid::new_v4().simple().to_string();
    if let Ok(v) = HeaderValue::from_str(&trace) {
        resp.headers_mut().insert("chroma-trace-id", v);
    }
    resp
}

/// `search` (1.x Search API, see `docs/search.md`): a local Chroma 1.5.9 refuses it ("not
/// implemented for local executor"); chroma-rs serves it. The body is read into the search
/// plan after the collection is found in the path's scope, so a bad plan on a missing
/// collection reports the collection.
pub(crate) async fn search(
    State(st): State<AppState>,
    Extension(line): Extension<ClientLine>,
    scope: Scope,
    Coll(coll): Coll,
    bytes: Bytes,
) -> Response {
    /// Checked first, as 1.5.9's extractor does: a body without `searches` gets its status.
    #[derive(Deserialize)]
    struct SearchBody {
        #[allow(dead_code)]
        searches: serde_json::Value,
    }
    let r = async {
        let _: SearchBody = body(&bytes)?;
        let v: serde_json::Value = body(&bytes)?;
        let res = on_collection(&st, scope, &coll, move |api, id| {
            let req = wire::search::search_request_from_json(&v)?;
            api.search(id, req)
        })
        .await?;
        Ok(ok(wire::search::search_result_to_json(&res)))
    };
    finish(line, r.await)
}

/// `functions/attach`: 1.5.9 local refuses it whatever the collection.
pub(crate) async fn attach_function() -> Response {
    refused(
        501,
        "ChromaError",
        "Tonic error: code: 'Operation is not implemented or not supported', message: \" Attached Function operations not yet implemented in SqliteSysDb\"",
    )
}

/// `functions/{name}`: no function is ever attached.
pub(crate) async fn get_function() -> Response {
    refused(404, "NotFoundError", "Attached function not found")
}

/// `attached_functions/{name}/detach`: 1.5.9 local refuses it whatever the collection.
pub(crate) async fn detach_function() -> Response {
    refused(
        501,
        "ChromaError",
        "Tonic error: code: 'Operation is not implemented or not supported', message: \"Not implemented\"",
    )
}
