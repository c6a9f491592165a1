//! Schema key discovery across nodes: a write on one node adds its new metadata keys to the
//! collection's schema in PostgreSQL, and the other nodes show them and refuse filters that
//! the schema's defaults disabled.

mod common;

use chroma_types::filter::parse_where;
use chroma_types::metadata::metadata_from_json;
use chroma_types::{AddRequest, ChromaApi, CreateCollection, GetRequest, DEFAULT_DATABASE as D, DEFAULT_TENANT as T};
use serde_json::json;

#[test]
fn keys_written_on_one_node_are_in_the_schema_on_the_others() {
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "schema_keys");
    let (a, b) = (common::node(&url), common::node(&url));
    let schema =
        json!({"defaults": {"string": {"string_inverted_index": {"enabled": false, "config": {}}}}, "keys": {}});
    let coll = a
        .create_collection(T, D, CreateCollection { schema: Some(schema), ..CreateCollection::new("schema-keys") })
        .unwrap();
    assert_eq!(b.count(coll.id).unwrap(), 0, "B caches the empty collection first");
    let md = metadata_from_json(&json!({"g": "x", "n": 1})).unwrap();
    a.add(coll.id, AddRequest::new(vec!["r1".into()], vec![vec![1.0, 2.0]]).metadatas(vec![Some(md)])).unwrap();

    let seen = b.get_collection(T, D, "schema-keys").unwrap().config.to_schema_json();
    assert_eq!(seen.pointer("/keys/g/string/string_inverted_index/enabled"), Some(&json!(false)), "{seen}");
    assert_eq!(seen.pointer("/keys/n/int/int_inverted_index/enabled"), Some(&json!(true)), "{seen}");
    let get = |w: serde_json::Value| {
        b.get(coll.id, GetRequest { r#where: parse_where(Some(&w)).unwrap(), ..Default::default() })
    };
    let refused = get(json!({"g": "x"})).unwrap_err();
    assert!(refused.message.contains("Cannot filter using metadata key 'g'"), "{refused:?}");
    assert_eq!(get(json!({"n": 1})).unwrap().ids, vec!["r1".to_string()]);
    // a second write with known keys leaves the stored configuration as it is
    let before = b.get_collection(T, D, "schema-keys").unwrap().config;
    let md = metadata_from_json(&json!({"g": "y", "n": 2})).unwrap();
    a.add(coll.id, AddRequest::new(vec!["r2".into()], vec![vec![3.0, 4.0]]).metadatas(vec![Some(md)])).unwrap();
    assert_eq!(b.get_collection(T, D, "schema-keys").unwrap().config, before);
    assert_eq!(get(json!({"n": 2})).unwrap().ids, vec!["r2".to_string()]);
}
