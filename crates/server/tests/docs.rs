//! `/openapi.json`, `/docs` and `/api/v2/version` over HTTP.

mod common;

use chroma_server::{Auth, ServerConfig, TokenHeader};
use common::{raw, start};

#[test]
fn openapi_json_and_docs_page() {
    let s = start(ServerConfig::default());
    let r = raw(&s, "GET", "/openapi.json", &[], None);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], chroma_types::VERSION);
    for (path, method) in [
        ("/api/v1/collections", "post"),
        ("/api/v2/heartbeat", "get"),
        ("/api/v2/tenants/{tenant}/databases/{db}/collections/{coll}/query", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let page = raw(&s, "GET", "/docs", &[], None);
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.body.contains("/openapi.json") && page.body.contains("<html"));
    // Nothing is loaded from elsewhere.
    assert!(!page.body.contains("http://") && !page.body.contains("https://"));
}

#[test]
fn docs_stay_open_with_auth() {
    let config = ServerConfig {
        auth: Auth::Token { tokens: vec!["t".into()], header: TokenHeader::Authorization },
        ..ServerConfig::default()
    };
    let s = start(config);
    assert_eq!(raw(&s, "GET", "/openapi.json", &[], None).status, 200);
    assert_eq!(raw(&s, "GET", "/docs", &[], None).status, 200);
    assert_eq!(raw(&s, "GET", "/api/v2/collections_count", &[], None).status, 401);
}

/// The version is a JSON string `x.y.z` (1.5.9's `test_get_version` matches `\d+\.\d+\.\d+`;
/// no client compares it), ours on both API versions.
#[test]
fn version_is_ours_as_x_y_z() {
    let s = start(ServerConfig::default());
    for path in ["/api/v2/version", "/api/v1/version"] {
        let v = raw(&s, "GET", path, &[], None).json();
        let v = v.as_str().unwrap().to_string();
        assert_eq!(v, chroma_types::VERSION);
        let parts: Vec<&str> = v.split('.').collect();
        assert!(parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()), "{v}");
    }
}
