//! The engine's behaviour suite (`crates/store/tests/common/api_suite.rs`) on a node over
//! PostgreSQL, and again with its reads on a second node.

mod common;

#[path = "../../store/tests/common/api_suite.rs"]
mod api_suite;

#[test]
fn behaviour_suite_on_postgres() {
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "suite");
    let node = common::node(&url);
    api_suite::run_all_cluster(&node);
}
