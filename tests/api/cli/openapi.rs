//! `user-api openapi` prints the service's OpenAPI 3.1 document to stdout.

use serde_json::Value;

use super::run_to_exit;

#[test]
fn openapi_prints_an_openapi_3_1_document() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["openapi"], &[], dir.path(), None);
    assert!(exit.status.success(), "{exit:?}");
    let doc: Value = serde_json::from_str(&exit.stdout).expect("stdout is one JSON document");
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi {version:?}");
    assert!(doc["paths"]["/users"].is_object(), "documents /users");
}
