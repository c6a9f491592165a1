//! API v1 over real HTTP, as the 0.4.x and 0.5.x clients speak it.

mod common;
use common::*;
use serde_json::{json, Value};

fn create(s: &TestServer, ua: (&str, &str), name: &str, md: &Value) -> Value {
    let r = raw(
        s,
        "POST",
        "/api/v1/collections",
        &[ua],
        Some(&json!({"name": name, "metadata": md, "get_or_create": false}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn heartbeat_version_preflight_and_trailing_slashes() {
    let s = start(reset_config());
    for p in ["/api/v1", "/api/v1/", "/api/v1/heartbeat", "/api/v1/heartbeat/"] {
        let r = raw(&s, "GET", p, &[UA04], None);
        assert_eq!(r.status, 200, "{p}");
        assert!(r.json()["nanosecond heartbeat"].as_u64().unwrap() > 0);
    }
    assert!(raw(&s, "GET", "/api/v1/version/", &[], None).json().is_string());
    let pf = raw(&s, "GET", "/api/v1/pre-flight-checks", &[], None).json();
    assert!(pf["max_batch_size"].as_u64().unwrap() > 0);
    assert!(pf.get("supports_base64_encoding").is_none());
    let r = raw(&s, "GET", "/api/v1/nosuch", &[], None);
    assert_eq!((r.status, r.json()), (404, json!({"detail": "Not Found"})));
}

#[test]
fn collection_shapes_depend_on_user_agent() {
    let s = start(reset_config());
    let c = create(&s, UA04, "shape04", &json!({"hnsw:space": "cosine", "a": 1, "b": 2.5, "c": "s", "d": true}));
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{c}");
    assert_eq!(c["metadata"], json!({"hnsw:space": "cosine", "a": 1, "b": 2.5, "c": "s", "d": true}));
    let list =
        raw(&s, "GET", "/api/v1/collections?tenant=default_tenant&database=default_database", &[UA04], None).json();
    assert_eq!(list.as_array().unwrap()[0].as_object().unwrap().len(), 5);
    let list05 = raw(&s, "GET", "/api/v1/collections/", &[UA05], None).json();
    let c05 = &list05[0];
    assert_eq!(c05["configuration_json"]["_type"], "CollectionConfigurationInternal");
    assert_eq!(c05["configuration_json"]["hnsw_configuration"]["space"], "cosine");
    for k in ["dimension", "version", "log_position"] {
        assert!(c05.get(k).is_some(), "{k}");
    }
    let got =
        raw(&s, "GET", "/api/v1/collections/shape04?tenant=default_tenant&database=default_database", &[UA04], None)
            .json();
    assert_eq!(got["id"], c["id"]);
    assert_eq!(raw(&s, "GET", "/api/v1/count_collections", &[], None).json(), json!(1));

    // Python's `$` accepts a final newline, so 0.4.x took "abc\n" as a name
    let r = raw(&s, "POST", "/api/v1/collections", &[UA04], Some(r#"{"name":"nl1\n"}"#));
    assert_eq!((r.status, r.json()["name"].clone()), (200, json!("nl1\n")));
    let r = raw(&s, "GET", "/api/v1/collections/nl1%0A", &[UA04], None);
    assert_eq!((r.status, r.json()["name"].clone()), (200, json!("nl1\n")));
    // stored with its newline, as 0.4.x did: listing shows it, and "nl1" is another name
    let listed = raw(&s, "GET", "/api/v1/collections", &[UA04], None).json();
    assert!(listed.as_array().unwrap().iter().any(|c| c["name"] == json!("nl1\n")), "{listed}");
    assert_ne!(raw(&s, "GET", "/api/v1/collections/nl1", &[UA04], None).status, 200);
    assert_eq!(raw(&s, "DELETE", "/api/v1/collections/nl1%0A", &[UA04], None).status, 200);
    let r = raw(
        &s,
        "POST",
        "/api/v2/tenants/default_tenant/databases/default_database/collections",
        &[],
        Some(r#"{"name":"nl1\n"}"#),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn records_roundtrip_without_content_type() {
    let s = start(reset_config());
    let c = create(&s, UA04, "recs", &Value::Null);
    let id = c["id"].as_str().unwrap().to_string();
    let p = |op: &str| format!("/api/v1/collections/{id}/{op}");
    let add = json!({"ids": ["c", "a", "b", "d"], "embeddings": [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
        "metadatas": [{"k": 3}, null, {"f": 1.5, "k": 1, "s": "x", "t": true}, null],
        "documents": [null, "foo bar", "hello world", null], "uris": null});
    let r = raw(&s, "POST", &p("add"), &[UA04], Some(&add.to_string()));
    assert_eq!((r.status, r.json()), (201, json!(true)));
    assert_eq!(raw(&s, "GET", &p("count"), &[UA04], None).json(), json!(4));

    // get: all six keys, sorted by id on the 0.4 line, ints stay ints
    let get = json!({"ids": null, "where": null, "sort": null, "limit": null, "offset": null, "where_document": null,
        "include": ["embeddings", "metadatas", "documents", "uris"]});
    let g = raw(&s, "POST", &p("get"), &[UA04], Some(&get.to_string())).json();
    assert_eq!(g["ids"], json!(["a", "b", "c", "d"]));
    assert_eq!(g["metadatas"], json!([null, {"f": 1.5, "k": 1, "s": "x", "t": true}, {"k": 3}, null]));
    assert_eq!(g["documents"], json!(["foo bar", "hello world", null, null]));
    assert_eq!(g["embeddings"][1], json!([1.0, 0.0, 0.0]));
    assert_eq!(g["data"], Value::Null);
    assert!(g.get("included").is_none());
    // 0.5 line carries "included"
    let g5 = raw(&s, "POST", &p("get"), &[UA05], Some(r#"{"include":["documents"]}"#)).json();
    assert_eq!(g5["included"], json!(["documents"]));

    // query with the empty filters the 0.4 client sends
    let q = json!({"query_embeddings": [[1, 0, 0], [0, 0.9, 0.1]], "n_results": 2, "where": {}, "where_document": {},
        "include": ["metadatas", "documents", "distances"]});
    let qr = raw(&s, "POST", &p("query"), &[UA04], Some(&q.to_string())).json();
    assert_eq!(qr["ids"], json!([["b", "d"], ["a", "d"]]).get(0).map(|_| qr["ids"].clone()).unwrap());
    assert_eq!(qr["ids"][0][0], "b");
    assert_eq!(qr["ids"][1][0], "a");
    let d = qr["distances"][1][0].as_f64().unwrap();
    assert!((d - 0.02).abs() < 1e-6, "{d}");
    assert_eq!(qr["embeddings"], Value::Null);

    // where filters
    let g = raw(&s, "POST", &p("get"), &[UA04], Some(r#"{"where":{"k":{"$gte":2}}}"#)).json();
    assert_eq!(g["ids"], json!(["c"]));
    let g = raw(&s, "POST", &p("get"), &[UA04], Some(r#"{"where":{"k":{"$ne":1}}}"#)).json();
    assert_eq!(g["ids"], json!(["c"]), "0.4 $ne skips records without the key");
    let g = raw(&s, "POST", &p("get"), &[UA04], Some(r#"{"where_document":{"$contains":"world"}}"#)).json();
    assert_eq!(g["ids"], json!(["b"]));

    // update / upsert return null
    let r = raw(&s, "POST", &p("update"), &[UA04], Some(r#"{"ids":["a"],"metadatas":[{"k":7}]}"#));
    assert_eq!((r.status, r.json()), (200, Value::Null));
    let r =
        raw(&s, "POST", &p("upsert"), &[UA04], Some(r#"{"ids":["e"],"embeddings":[[1,1,1]],"metadatas":[{"k":42}]}"#));
    assert_eq!((r.status, r.json()), (200, Value::Null));

    // delete: ids-only echoes the given ids; where returns the matched ids; 0.5 returns null
    let r =
        raw(&s, "POST", &p("delete"), &[UA04], Some(r#"{"where":null,"ids":["e","nonexist"],"where_document":null}"#));
    assert_eq!(r.json(), json!(["e", "nonexist"]));
    let r = raw(&s, "POST", &p("delete"), &[UA04], Some(r#"{"where":{"k":7}}"#));
    assert_eq!(r.json(), json!(["a"]));
    let r = raw(&s, "POST", &p("delete"), &[UA05], Some(r#"{"ids":["d"]}"#));
    assert_eq!(r.json(), Value::Null);
    assert_eq!(raw(&s, "GET", &p("count"), &[], None).json(), json!(2));
    let r = raw(&s, "POST", &p("delete"), &[UA04], Some("{}"));
    assert_eq!(r.status, 500);
    assert!(r.json()["error"].as_str().unwrap().starts_with("ValueError('You must provide"));

    // modify and delete the collection
    let r = raw(
        &s,
        "PUT",
        &format!("/api/v1/collections/{id}"),
        &[UA04],
        Some(r#"{"new_name":"recs2","new_metadata":{"z":1}}"#),
    );
    assert_eq!((r.status, r.json()), (200, Value::Null));
    let got = raw(&s, "GET", "/api/v1/collections/recs2", &[UA04], None).json();
    assert_eq!(got["metadata"], json!({"z": 1}));
    let r = raw(&s, "DELETE", "/api/v1/collections/recs2", &[UA04], None);
    assert_eq!((r.status, r.json()), (200, Value::Null));
}

#[test]
fn error_shapes_per_line() {
    let s = start(reset_config());
    let c = create(&s, UA04, "errs", &Value::Null);
    let id = c["id"].as_str().unwrap().to_string();
    raw(&s, "POST", &format!("/api/v1/collections/{id}/add"), &[UA04], Some(r#"{"ids":["a"],"embeddings":[[1,2,3]]}"#));

    let r = raw(&s, "GET", "/api/v1/collections/nosuch", &[UA04], None);
    assert_eq!((r.status, r.json()), (500, json!({"error": "ValueError('Collection nosuch does not exist.')"})));
    let r = raw(&s, "GET", "/api/v1/collections/nosuch", &[UA05], None);
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidCollection")));

    let r = raw(&s, "POST", "/api/v1/collections", &[UA04], Some(r#"{"name":"errs"}"#));
    assert_eq!(
        (r.status, r.json()),
        (500, json!({"error": "UniqueConstraintError('Collection errs already exists')"}))
    );
    let r = raw(&s, "POST", "/api/v1/collections", &[UA05], Some(r#"{"name":"errs"}"#));
    assert_eq!((r.status, r.json()["error"].clone()), (409, json!("UniqueConstraintError")));

    let r = raw(&s, "POST", "/api/v1/collections", &[UA04], Some(r#"{"name":"ab"}"#));
    assert_eq!(r.status, 500);
    assert!(r.json()["error"].as_str().unwrap().contains("Expected collection name that (1) contains 3-63 characters"));
    let long = "x".repeat(64);
    let r = raw(&s, "POST", "/api/v1/collections", &[UA04], Some(&json!({"name": long}).to_string()));
    assert_eq!(r.status, 500);

    let r = raw(&s, "PUT", "/api/v1/collections/not-a-uuid", &[UA04], Some("{}"));
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "InvalidUUID", "message": "Could not parse not-a-uuid as a UUID"}))
    );

    let unknown = uuid::Uuid::new_v4();
    let r = raw(
        &s,
        "POST",
        &format!("/api/v1/collections/{unknown}/add"),
        &[UA04],
        Some(r#"{"ids":["a"],"embeddings":[[1]]}"#),
    );
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidCollection")));
    let r = raw(
        &s,
        "POST",
        &format!("/api/v1/collections/{unknown}/query"),
        &[UA04],
        Some(r#"{"query_embeddings":[[1]]}"#),
    );
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidCollection")));

    // dimension: add → 500 detail (as 0.4.24), query → 400 InvalidDimension, both with 0.4 wording
    let r = raw(
        &s,
        "POST",
        &format!("/api/v1/collections/{id}/add"),
        &[UA04],
        Some(r#"{"ids":["b"],"embeddings":[[1,2]]}"#),
    );
    assert_eq!(
        (r.status, r.json()),
        (500, json!({"detail": "Embedding dimension 2 does not match collection dimensionality 3"}))
    );
    let r =
        raw(&s, "POST", &format!("/api/v1/collections/{id}/query"), &[UA04], Some(r#"{"query_embeddings":[[1,2]]}"#));
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"error": "InvalidDimension", "message": "Embedding dimension 2 does not match collection dimensionality 3"})
        )
    );
    let r = raw(
        &s,
        "POST",
        &format!("/api/v1/collections/{id}/add"),
        &[UA05],
        Some(r#"{"ids":["b"],"embeddings":[[1,2]]}"#),
    );
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidDimension")));

    // body validation: 422 detail
    let r = raw(&s, "POST", &format!("/api/v1/collections/{id}/add"), &[UA04], Some(r#"{"embeddings":[[1,2,3]]}"#));
    assert_eq!(r.status, 422);
    assert!(r.json()["detail"].is_array());
    let r = raw(&s, "POST", &format!("/api/v1/collections/{id}/get"), &[UA04], Some("{not json"));
    assert_eq!(r.status, 422);
    // bad filter: ValueError repr
    let r = raw(&s, "POST", &format!("/api/v1/collections/{id}/get"), &[UA04], Some(r#"{"where":{"a":1,"b":2}}"#));
    assert_eq!(r.status, 500);
    assert!(r.json()["error"].as_str().unwrap().starts_with("ValueError('Expected where to have exactly one operator"));

    // tenants and databases
    let r = raw(&s, "POST", "/api/v1/tenants", &[UA04], Some(r#"{"name":"t1"}"#));
    assert_eq!(r.status, 500);
    let r = raw(&s, "POST", "/api/v1/tenants", &[UA04], Some(r#"{"name":"tenant1"}"#));
    assert_eq!((r.status, r.json()), (200, Value::Null));
    let r = raw(&s, "POST", "/api/v1/tenants", &[UA04], Some(r#"{"name":"tenant1"}"#));
    assert!(r.json()["error"].as_str().unwrap().starts_with("UniqueConstraintError("));
    assert_eq!(raw(&s, "GET", "/api/v1/tenants/tenant1", &[UA04], None).json(), json!({"name": "tenant1"}));
    let r = raw(&s, "GET", "/api/v1/tenants/nope", &[UA04], None);
    assert_eq!(r.status, 500);
    assert!(r.json()["error"].as_str().unwrap().starts_with("NotFoundError("));
    let r = raw(&s, "GET", "/api/v1/tenants/nope", &[UA05], None);
    assert_eq!((r.status, r.json()["error"].clone()), (404, json!("NotFoundError")));
    let r = raw(&s, "POST", "/api/v1/databases?tenant=tenant1", &[UA04], Some(r#"{"name":"db1"}"#));
    assert_eq!((r.status, r.json()), (200, Value::Null));
    let d = raw(&s, "GET", "/api/v1/databases/db1?tenant=tenant1", &[UA04], None).json();
    assert_eq!((d["name"].clone(), d["tenant"].clone()), (json!("db1"), json!("tenant1")));
    let d = raw(&s, "GET", "/api/v1/databases/default_database?tenant=default_tenant", &[UA04], None).json();
    assert_eq!(d["id"], "00000000-0000-0000-0000-000000000000");
    // collections are scoped
    let r = raw(&s, "POST", "/api/v1/collections?tenant=tenant1&database=db1", &[UA04], Some(r#"{"name":"errs"}"#));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(raw(&s, "GET", "/api/v1/count_collections?tenant=tenant1&database=db1", &[], None).json(), json!(1));
    let r = raw(&s, "GET", "/api/v1/collections?limit=x", &[UA04], None);
    assert_eq!(r.status, 422);
}

#[test]
fn reset_refused_unless_allowed() {
    let s = start(chroma_server::ServerConfig::default());
    let r = raw(&s, "POST", "/api/v1/reset", &[UA04], None);
    assert_eq!(r.status, 500);
    assert!(r.json()["error"].as_str().unwrap().contains("Resetting is not allowed"));
    let r = raw(&s, "POST", "/api/v2/reset", &[], None);
    assert_eq!((r.status, r.json()), (403, json!({"error": "ChromaError", "message": "Reset is disabled by config"})));
    let s = start(reset_config());
    create(&s, UA04, "gone", &Value::Null);
    let r = raw(&s, "POST", "/api/v1/reset/", &[UA04], None);
    assert_eq!((r.status, r.json()), (200, json!(true)));
    assert_eq!(raw(&s, "GET", "/api/v1/count_collections", &[], None).json(), json!(0));
}

/// Metadata keys starting with `#` or `$` (and the empty key): 0.4-0.6 servers stored them
/// (a real 0.4.24 and 0.5.23 do, on v1 and v2), so their client lines store and return them
/// and filter on them; a 1.x client reads them back but its writes are refused as 1.5.9 does.
#[test]
fn legacy_metadata_keys_per_line() {
    let s = start(reset_config());
    let id = create(&s, UA04, "legacykeys", &json!({"$c": 1, "#d": "x"}))["id"].as_str().unwrap().to_string();
    let post = |ua: (&str, &str), path: &str, body: Value| raw(&s, "POST", path, &[ua], Some(&body.to_string()));
    let v1 = |op: &str| format!("/api/v1/collections/{id}/{op}");
    let v2 = |op: &str| format!("{T}/collections/{id}/{op}");
    let add = json!({"ids": ["a", "b"], "embeddings": [[1, 2], [3, 4]],
        "metadatas": [{"$dollar": 1, "#hash": "x", "n": 1}, {"$dollar": 2, "": true}]});
    assert_eq!(post(UA04, &v1("add"), add).status, 201);
    let r = post(UA05, &v1("update"), json!({"ids": ["b"], "metadatas": [{"#h2": 5}]}));
    assert_eq!(r.status, 200, "{}", r.body);
    // 0.5.16-0.6 clients on v2 (httpx's User-Agent) too
    let r = post(UA05, &v2("upsert"), json!({"ids": ["c"], "embeddings": [[5, 6]], "metadatas": [{"$u": "v"}]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let got = post(UA04, &v1("get"), json!({})).json();
    assert_eq!(
        got["metadatas"],
        json!([{"$dollar": 1, "#hash": "x", "n": 1}, {"$dollar": 2, "": true, "#h2": 5}, {"$u": "v"}])
    );
    // 0.x filters: `$dollar` is a metadata key, as 0.4.24 reads it
    for ua in [UA04, UA05] {
        let got = post(ua, &v1("get"), json!({"where": {"$and": [{"$dollar": {"$gte": 1}}, {"#hash": "x"}]}})).json();
        assert_eq!(got["ids"], json!(["a"]), "{got}");
    }
    let got = post(UA05, &v2("get"), json!({"where": {"$u": "v"}})).json();
    assert_eq!(got["ids"], json!(["c"]), "{got}");
    // 1.x clients read them as stored, filter on `#` keys, and may not write them.
    let got = post(("User-Agent", "Chroma Python Client v1.5.9"), &v2("get"), json!({"where": {"#h2": 5}})).json();
    assert_eq!((got["ids"].clone(), got["metadatas"][0]["$dollar"].clone()), (json!(["b"]), json!(2)));
    let r = post(
        ("User-Agent", "Chroma Python Client v1.5.9"),
        &v2("add"),
        json!({"ids": ["d", "e"],
        "embeddings": [[1, 1], [2, 2]], "metadatas": [{"ok": 1}, {"$d": 1}]}),
    );
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"error": "InvalidArgumentError", "message": "Validation error: metadatas: Invalid metadata at index 1"})
        )
    );
    let r = raw(&s, "GET", &format!("{T}/collections/legacykeys"), &[], None).json();
    assert_eq!(r["metadata"], json!({"$c": 1, "#d": "x"}));
    let r = raw(
        &s,
        "PUT",
        &format!("{T}/collections/{id}"),
        &[("Content-Type", "application/json")],
        Some(&json!({"new_metadata": {"#c": 1}}).to_string()),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["message"], "Validation error: new_metadata: Metadata key cannot start with '#' or '$': #c");
    let r = raw(
        &s,
        "POST",
        &format!("{T}/collections"),
        &[("Content-Type", "application/json")],
        Some(&json!({"name": "a b", "metadata": {"$c": 1}}).to_string()),
    );
    assert_eq!(
        r.json()["message"],
        "Validation error: metadata: Metadata key cannot start with '#' or '$': $c\nname: Expected a name containing 3-512 characters from [a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]. Got: a b"
    );
}
