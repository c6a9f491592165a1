mod common;
use chroma_store::Engine;
use chroma_types::*;

#[test]
fn suite_ephemeral() {
    let e = Engine::ephemeral(Settings::default()).unwrap();
    common::api_suite::run_all(&e);
}

#[test]
fn suite_persistent() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), Settings::default()).unwrap();
    common::api_suite::run_all(&e);
}

#[test]
fn reset_needs_permission() {
    let e = Engine::ephemeral(Settings::default()).unwrap();
    assert_eq!(e.reset().unwrap_err().kind, ErrorKind::Forbidden);
    let e = Engine::ephemeral(Settings { allow_reset: true, ..Default::default() }).unwrap();
    e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("abc")).unwrap();
    e.create_tenant("other").unwrap();
    e.reset().unwrap();
    assert_eq!(e.count_collections(DEFAULT_TENANT, DEFAULT_DATABASE).unwrap(), 0);
    assert!(e.get_tenant("other").is_err());
    assert!(e.get_database(DEFAULT_TENANT, DEFAULT_DATABASE).is_ok());
}
