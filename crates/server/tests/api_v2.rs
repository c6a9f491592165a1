//! API v2 over real HTTP: the shapes the 0.5.16+ and 1.x clients need, errors, auth, CORS.

mod common;
use chroma_server::{Auth, BasicUser, ServerConfig, TokenHeader};
use common::*;
use serde_json::{json, Value};

fn create(s: &TestServer, name: &str) -> String {
    let r = raw(
        s,
        "POST",
        &format!("{T}/collections"),
        &[],
        Some(
            &json!({"name": name, "metadata": null, "configuration": null, "schema": null, "get_or_create": false})
                .to_string(),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

#[test]
fn system_endpoints() {
    let s = start(reset_config());
    assert!(raw(&s, "GET", "/api/v2/heartbeat", &[], None).json()["nanosecond heartbeat"].as_u64().is_some());
    assert_eq!(raw(&s, "GET", "/api/v2/pre-flight-checks", &[], None).json()["supports_base64_encoding"], json!(true));
    assert_eq!(
        raw(&s, "GET", "/api/v2/auth/identity", &[], None).json(),
        json!({"user_id": "", "tenant": "default_tenant", "databases": ["default_database"]})
    );
    assert_eq!(raw(&s, "GET", "/api/v2/healthcheck", &[], None).status, 200);
    assert_eq!(raw(&s, "GET", "/api/v2/tenants/default_tenant", &[], None).json()["name"], "default_tenant");
    let r = raw(&s, "GET", "/api/v2/tenants/nope", &[], None);
    assert_eq!((r.status, r.json()["error"].clone()), (404, json!("NotFoundError")));
    assert!(r.header("chroma-trace-id").is_some());
    let r = raw(&s, "GET", "/api/v2/nosuch/route", &[], None);
    assert_eq!((r.status, r.json()["error"].clone()), (404, json!("NotFoundError")));
}

#[test]
fn tenants_and_databases() {
    let s = start(reset_config());
    let r = raw(&s, "POST", "/api/v2/tenants", &[], Some(r#"{"name":"acme"}"#));
    assert_eq!((r.status, r.json()), (200, json!({})));
    let r = raw(&s, "POST", "/api/v2/tenants", &[], Some(r#"{"name":"acme"}"#));
    assert_eq!(r.status, 409);
    let r = raw(&s, "POST", "/api/v2/tenants/acme/databases", &[], Some(r#"{"name":"prod"}"#));
    assert_eq!((r.status, r.json()), (200, json!({})));
    let d = raw(&s, "GET", "/api/v2/tenants/acme/databases/prod", &[], None).json();
    assert_eq!((d["name"].clone(), d["tenant"].clone()), (json!("prod"), json!("acme")));
    let list = raw(&s, "GET", "/api/v2/tenants/acme/databases", &[], None).json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let r = raw(&s, "GET", "/api/v2/tenants/acme/databases/nodb", &[], None);
    assert_eq!(r.status, 404);
    let r = raw(&s, "POST", "/api/v2/tenants", &[], Some(r#"{"name":"ab"}"#));
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidArgumentError")));
    let r = raw(&s, "DELETE", "/api/v2/tenants/acme/databases/prod", &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(raw(&s, "GET", "/api/v2/tenants/acme/databases/prod", &[], None).status, 404);
}

#[test]
fn collections_and_records() {
    let s = start(reset_config());
    let id = create(&s, "v2coll");
    let c = raw(&s, "GET", &format!("{T}/collections/v2coll"), &[], None).json();
    for k in
        ["id", "name", "configuration_json", "metadata", "dimension", "tenant", "database", "version", "log_position"]
    {
        assert!(c.get(k).is_some(), "{k} missing in {c}");
    }
    assert_eq!(c["configuration_json"]["_type"], "CollectionConfigurationInternal");
    assert_eq!(raw(&s, "GET", &format!("{T}/collections/by-id/{id}"), &[], None).json()["name"], "v2coll");
    assert_eq!(raw(&s, "GET", &format!("{T}/collections_count"), &[], None).json(), json!(1));

    // base64 embeddings ([1,2] and [3,4]) and a float list
    let add = json!({"ids": ["1", "2", "3"], "embeddings": ["AACAPwAAAEA=", "AABAQAAAgEA=", [0.5, 0.5]],
        "metadatas": [{"a": 1}, {"a": 2, "tags": ["x", "y"]}, null], "documents": ["x", "y", null], "uris": null});
    let r = raw(
        &s,
        "POST",
        &format!("{T}/collections/{id}/add"),
        &[("Content-Type", "application/json")],
        Some(&add.to_string()),
    );
    assert_eq!((r.status, r.json()), (201, json!({})));
    let g = raw(
        &s,
        "POST",
        &format!("{T}/collections/{id}/get"),
        &[],
        Some(r#"{"ids":["2"],"include":["embeddings","metadatas"]}"#),
    )
    .json();
    assert_eq!(g["embeddings"], json!([[3.0, 4.0]]));
    assert_eq!(g["metadatas"], json!([{"a": 2, "tags": ["x", "y"]}]));
    assert_eq!(g["include"], json!(["embeddings", "metadatas"]));
    // insertion order on v2
    let g = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some("{}")).json();
    assert_eq!(g["ids"], json!(["1", "2", "3"]));
    // 1.x $ne also matches records lacking the key; array $contains
    let g = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"where":{"a":{"$ne":1}}}"#)).json();
    assert_eq!(g["ids"], json!(["2", "3"]));
    let g = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"where":{"tags":{"$contains":"y"}}}"#))
        .json();
    assert_eq!(g["ids"], json!(["2"]));
    let q = raw(&s, "POST", &format!("{T}/collections/{id}/query?read_level=index_and_wal"), &[],
        Some(r#"{"ids":null,"query_embeddings":[[1.0,2.0]],"n_results":5,"where":{"a":{"$gte":1}},"where_document":null,"include":["metadatas","documents","distances"]}"#)).json();
    assert_eq!(q["ids"], json!([["1", "2"]]));
    assert_eq!(q["distances"][0][0], json!(0.0));
    assert_eq!(
        raw(&s, "GET", &format!("{T}/collections/{id}/count?read_level=index_and_wal"), &[], None).json(),
        json!(3)
    );
    // every level counts every acknowledged write on one node; an unknown level is refused
    assert_eq!(
        raw(&s, "GET", &format!("{T}/collections/{id}/count?read_level=index_only"), &[], None).json(),
        json!(3)
    );
    let bad = raw(&s, "GET", &format!("{T}/collections/{id}/count?read_level=everything"), &[], None);
    assert_eq!(bad.status, 400, "{:?}", bad.json());
    assert!(bad.json()["message"].as_str().unwrap().contains("read_level"), "{:?}", bad.json());
    let r = raw(
        &s,
        "POST",
        &format!("{T}/collections/{id}/update"),
        &[],
        Some(r#"{"ids":["1"],"metadatas":[{"a":null,"b":true}]}"#),
    );
    assert_eq!((r.status, r.json()), (200, json!({})));
    let g = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"ids":["1"]}"#)).json();
    assert_eq!(g["metadatas"], json!([{"b": true}]));
    let r = raw(
        &s,
        "POST",
        &format!("{T}/collections/{id}/delete"),
        &[],
        Some(r#"{"ids":["1","nope"],"where":null,"where_document":null}"#),
    );
    // 1.5.9 counts an ids-only delete as the ids given, missing ones too
    assert_eq!(r.json(), json!({"deleted": 2}));
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/delete"), &[], Some("{}"));
    assert_eq!((r.status, r.json()), (200, json!({"deleted": 0})));

    // errors
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/add"), &[], Some(r#"{"ids":["9"],"embeddings":[[1,2,3]]}"#));
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidArgumentError")));
    let r = raw(&s, "POST", &format!("{T}/collections"), &[], Some(r#"{"name":"v2coll"}"#));
    assert_eq!((r.status, r.json()["error"].clone()), (409, json!("UniqueConstraintError")));
    let r = raw(&s, "GET", &format!("{T}/collections/nosuch"), &[], None);
    assert_eq!((r.status, r.json()["error"].clone()), (404, json!("NotFoundError")));
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"include":["bogus"]}"#));
    assert_eq!(r.status, 400);
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"where":{"$bad":1}}"#));
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidArgumentError")));
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some("{\"ids\": [1,"));
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidArgumentError")));
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/add"), &[], Some(r#"{"ids":"x"}"#));
    assert_eq!(r.status, 422);
    let r = raw(
        &s,
        "POST",
        &format!("{T}/collections/{id}/add"),
        &[],
        Some(r#"{"ids":["q"],"embeddings":["!!notbase64"]}"#),
    );
    assert_eq!(r.status, 400);
    let r = raw(&s, "POST", &format!("{T}/collections/not-a-uuid/get"), &[], Some("{}"));
    assert_eq!(r.status, 400);

    // a collection is only reachable under its own tenant/database
    raw(&s, "POST", "/api/v2/tenants", &[], Some(r#"{"name":"other"}"#));
    raw(&s, "POST", "/api/v2/tenants/other/databases", &[], Some(r#"{"name":"odb"}"#));
    let r = raw(&s, "GET", &format!("/api/v2/tenants/other/databases/odb/collections/by-id/{id}"), &[], None);
    assert_eq!(r.status, 404);
    let r = raw(&s, "POST", &format!("/api/v2/tenants/other/databases/odb/collections/{id}/get"), &[], Some("{}"));
    assert_eq!(r.status, 404);

    // modify and delete
    let r = raw(
        &s,
        "PUT",
        &format!("{T}/collections/{id}"),
        &[],
        Some(r#"{"new_metadata":{"z":1},"new_name":"v2coll2","new_configuration":null}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(raw(&s, "GET", &format!("{T}/collections/v2coll2"), &[], None).json()["metadata"], json!({"z": 1}));
    assert_eq!(raw(&s, "DELETE", &format!("{T}/collections/v2coll2"), &[], None).status, 200);
    assert_eq!(raw(&s, "GET", &format!("{T}/collections_count"), &[], None).json(), json!(0));
}

#[test]
fn token_auth_guards_reads_and_writes() {
    let config = ServerConfig {
        allow_reset: true,
        auth: Auth::Token { tokens: vec!["s3cret".into()], header: TokenHeader::Authorization },
        ..ServerConfig::default()
    };
    let s = start(config);
    let good = ("Authorization", "Bearer s3cret");
    let id = {
        let r = raw(&s, "POST", &format!("{T}/collections"), &[good], Some(r#"{"name":"guarded"}"#));
        assert_eq!(r.status, 200);
        r.json()["id"].as_str().unwrap().to_string()
    };
    // open paths
    assert_eq!(raw(&s, "GET", "/api/v2/heartbeat", &[], None).status, 200);
    assert_eq!(raw(&s, "GET", "/api/v1/version", &[], None).status, 200);
    assert_eq!(raw(&s, "GET", "/api/v1", &[], None).status, 200);
    // missing and wrong credentials: nothing written or read
    for hdrs in [
        vec![],
        vec![("Authorization", "Bearer wrong")],
        vec![("X-Chroma-Token", "s3cret")],
        vec![("Authorization", "s3cret")],
    ] {
        let r =
            raw(&s, "POST", &format!("{T}/collections/{id}/add"), &hdrs, Some(r#"{"ids":["x"],"embeddings":[[1]]}"#));
        assert_eq!((r.status, r.json()["error"].clone()), (401, json!("AuthorizationError")));
        let r = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &hdrs, Some("{}"));
        assert_eq!(r.status, 401);
        assert!(!r.body.contains("\"ids\""));
        let r = raw(
            &s,
            "POST",
            &format!("/api/v1/collections/{id}/add"),
            &hdrs,
            Some(r#"{"ids":["x"],"embeddings":[[1]]}"#),
        );
        assert_eq!((r.status, r.json()), (401, json!({"error": "AuthorizationError", "message": "Unauthorized"})));
        assert_eq!(raw(&s, "POST", "/api/v2/reset", &hdrs, None).status, 401);
        assert_eq!(raw(&s, "GET", "/api/v2/auth/identity", &hdrs, None).status, 401);
        assert_eq!(raw(&s, "GET", "/api/v1/collections", &hdrs, None).status, 401);
    }
    assert_eq!(raw(&s, "GET", &format!("{T}/collections/{id}/count"), &[good], None).json(), json!(0));
    assert_eq!(raw(&s, "GET", &format!("{T}/collections_count"), &[good], None).json(), json!(1));

    let s = start(ServerConfig {
        auth: Auth::Token { tokens: vec!["t2".into()], header: TokenHeader::XChromaToken },
        ..ServerConfig::default()
    });
    assert_eq!(raw(&s, "GET", &format!("{T}/collections"), &[("X-Chroma-Token", "t2")], None).status, 200);
    assert_eq!(raw(&s, "GET", &format!("{T}/collections"), &[("Authorization", "Bearer t2")], None).status, 401);
}

#[test]
fn basic_auth_and_identity() {
    let s = start(ServerConfig {
        auth: Auth::Basic { users: vec![BasicUser { user: "admin".into(), secret: "pw".into() }] },
        ..ServerConfig::default()
    });
    // "admin:pw" and "admin:no"
    let ok = ("Authorization", "Basic YWRtaW46cHc=");
    let bad = ("Authorization", "Basic YWRtaW46bm8=");
    assert_eq!(raw(&s, "GET", "/api/v2/auth/identity", &[ok], None).json()["user_id"], "admin");
    assert_eq!(raw(&s, "GET", "/api/v2/auth/identity", &[bad], None).status, 401);
    assert_eq!(raw(&s, "POST", &format!("{T}/collections"), &[bad], Some(r#"{"name":"nope"}"#)).status, 401);
    assert_eq!(raw(&s, "GET", &format!("{T}/collections_count"), &[ok], None).json(), json!(0));
}

#[test]
fn cors_and_body_limit() {
    let s = start(ServerConfig {
        cors_allow_origins: vec!["http://example.test".into()],
        max_body_bytes: 1024,
        ..ServerConfig::default()
    });
    let r = raw(&s, "GET", "/api/v2/heartbeat", &[("Origin", "http://example.test")], None);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://example.test"));
    let r = raw(
        &s,
        "OPTIONS",
        &format!("{T}/collections"),
        &[("Origin", "http://example.test"), ("Access-Control-Request-Method", "POST")],
        None,
    );
    assert!(r.status < 300, "{}", r.status);
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(5000));
    let r = raw(&s, "POST", &format!("{T}/collections"), &[], Some(&big));
    assert_eq!(r.status, 413);
    let s = start(ServerConfig::default());
    let r = raw(&s, "GET", "/api/v2/heartbeat", &[("Origin", "http://example.test")], None);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let _ = Value::Null;
}

/// The 1.x collection schema and embedding function, in the shapes the 1.5.9 client sends.
#[test]
fn schema_and_embedding_function() {
    let s = start(reset_config());
    let ef = json!({"name": "simple_ef", "type": "known", "config": {"dim": 8}});
    let default_ef = json!({"name": "default", "type": "known", "config": {}});
    let vector = |space: &str, e: &Value| json!({"float_list": {"vector_index": {"enabled": true, "config": {"space": space, "embedding_function": e, "source_key": "#document"}}}});
    let schema = |space: &str, e: &Value, extra: Value| {
        let mut keys = json!({"#embedding": vector(space, e)});
        keys.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"defaults": {}, "keys": keys})
    };
    let post = |body: Value| raw(&s, "POST", &format!("{T}/collections"), &[], Some(&body.to_string()));
    // the configuration's embedding function and space win over a schema of defaults
    let r = post(
        json!({"name": "ef1", "configuration": {"hnsw": {"space": "cosine"}, "embedding_function": ef}, "schema": schema("l2", &default_ef, json!({}))}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let c = r.json();
    assert_eq!(c["configuration_json"]["embedding_function"], ef);
    assert_eq!(c["configuration_json"]["hnsw"]["space"], "cosine");
    assert_eq!(c["schema"]["keys"]["#embedding"]["float_list"]["vector_index"]["config"]["embedding_function"], ef);
    // kept: a later get says the same
    let got = raw(&s, "GET", &format!("{T}/collections/ef1"), &[], None).json();
    assert_eq!(got["configuration_json"]["embedding_function"], ef);
    // a schema's own space wins over the configuration's default
    let r = post(
        json!({"name": "sp1", "configuration": {"hnsw": {"space": "l2"}}, "schema": schema("cosine", &default_ef, json!({}))}),
    );
    assert_eq!(r.json()["schema"]["keys"]["#embedding"]["float_list"]["vector_index"]["config"]["space"], "cosine");
    // two different custom embedding functions: refused
    let other = json!({"name": "simple_ef", "type": "known", "config": {"dim": 6}});
    let r = post(
        json!({"name": "ef2", "configuration": {"embedding_function": ef}, "schema": schema("l2", &other, json!({}))}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("schema"));
    // a sparse vector index on one metadata key: kept (the Search API serves it); on two keys:
    // refused, as Chroma refuses it
    let sparse =
        json!({"sparse_metadata": {"sparse_vector": {"sparse_vector_index": {"enabled": true, "config": {}}}}});
    let r = post(json!({"name": "sp2", "schema": schema("l2", &default_ef, sparse)}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["schema"]["keys"]["sparse_metadata"]["sparse_vector"]["sparse_vector_index"]["enabled"],
        json!(true)
    );
    let two = json!({
        "sp_a": {"sparse_vector": {"sparse_vector_index": {"enabled": true, "config": {}}}},
        "sp_b": {"sparse_vector": {"sparse_vector_index": {"enabled": true, "config": {}}}},
    });
    let r = post(json!({"name": "sp3", "schema": schema("l2", &default_ef, two)}));
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("InvalidArgumentError")), "{}", r.body);
    // a key whose inverted index is disabled: shown in the schema, and filtering on it is refused
    let off = json!({"restricted": {"string": {"string_inverted_index": {"enabled": false, "config": {}}}}});
    let r = post(json!({"name": "off1", "schema": schema("l2", &default_ef, off)}));
    let c = r.json();
    assert_eq!(c["schema"]["keys"]["restricted"]["string"]["string_inverted_index"]["enabled"], json!(false));
    let id = c["id"].as_str().unwrap().to_string();
    let add = json!({"ids": ["a"], "embeddings": [[1.0, 2.0]], "metadatas": [{"restricted": "x", "free": "y"}]});
    assert_eq!(raw(&s, "POST", &format!("{T}/collections/{id}/add"), &[], Some(&add.to_string())).status, 201);
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"where": {"restricted": "x"}}"#));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["message"].as_str().unwrap().contains("Cannot filter using metadata key 'restricted'"));
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"where": {"free": "y"}}"#));
    assert_eq!(r.json()["ids"], json!(["a"]));
    // keys met in written metadata join the schema (Chroma's discovery); declared ones stay
    let got = raw(&s, "GET", &format!("{T}/collections/off1"), &[], None).json();
    assert_eq!(got["schema"]["keys"]["free"]["string"]["string_inverted_index"]["enabled"], json!(true));
    assert_eq!(got["schema"]["keys"]["restricted"]["string"]["string_inverted_index"]["enabled"], json!(false));
    // inverted indexes off in the defaults: discovered keys inherit it, their filters are refused
    let mut sc = schema("l2", &default_ef, json!({}));
    sc["defaults"] = json!({"string": {"string_inverted_index": {"enabled": false, "config": {}}}});
    let r = post(json!({"name": "off2", "schema": sc}));
    assert_eq!(
        r.json()["schema"]["defaults"]["string"]["string_inverted_index"]["enabled"],
        json!(false),
        "{}",
        r.body
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    let add = json!({"ids": ["a"], "embeddings": [[1.0, 2.0]], "metadatas": [{"g": "x", "n": 1}]});
    assert_eq!(raw(&s, "POST", &format!("{T}/collections/{id}/add"), &[], Some(&add.to_string())).status, 201);
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"where": {"g": "x"}}"#));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = raw(&s, "POST", &format!("{T}/collections/{id}/get"), &[], Some(r#"{"where": {"n": 1}}"#));
    assert_eq!(r.json()["ids"], json!(["a"]), "{}", r.body);
    // collection metadata {} is refused on every line
    let r = post(json!({"name": "md0", "metadata": {}}));
    assert_eq!(r.status, 400, "{}", r.body);
    // 0.5.16-0.6.x Python clients (httpx's User-Agent) get configuration_json without 1.x keys
    let r = raw(&s, "GET", &format!("{T}/collections/ef1"), &[UA05], None).json();
    assert_eq!(r["configuration_json"]["_type"], "CollectionConfigurationInternal");
    assert!(r["configuration_json"].get("embedding_function").is_none() && r.get("schema").is_none(), "{r}");
}

/// Python clients 0.5.16-0.6.x (httpx's User-Agent) on v2: v2 paths and shapes, but the
/// errors and collection name rules of the 0.5 server they were released with.
#[test]
fn pre_1x_python_clients_get_05_errors() {
    let s = start(reset_config());
    let r = raw(&s, "POST", "/api/v2/tenants", &[UA05], Some(r#"{"name":"ab"}"#));
    assert_eq!(
        (r.status, r.json()),
        (500, json!({"error": "ValueError('Tenant name must be at least 3 characters long')"}))
    );
    assert!(r.header("chroma-trace-id").is_some());
    let r = raw(&s, "GET", "/api/v2/nosuch", &[UA05], None);
    assert_eq!((r.status, r.json()), (404, json!({"detail": "Not Found"})));
    let r =
        raw(&s, "POST", &format!("{T}/collections"), &[UA05], Some(&format!("{{\"name\":\"{}\"}}", "y".repeat(100))));
    assert_eq!(r.status, 500, "0.5 name rules: at most 63 characters");
    let r = raw(&s, "POST", &format!("{T}/collections"), &[], Some(&format!("{{\"name\":\"{}\"}}", "y".repeat(100))));
    assert_eq!(r.status, 200, "1.x name rules: up to 512 characters");
    let r = raw(&s, "GET", &format!("{T}/collections_count"), &[UA05], None);
    assert_eq!((r.status, r.json()), (200, json!(1)));
}
