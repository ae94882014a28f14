//! "A stored hash with weaker parameters is re-hashed at the next successful
//! login": the service restarted with stronger argon2 parameters upgrades a
//! password the first time it is proven, and never weakens one.

use reqwest::StatusCode;

use std::sync::Arc;

use crate::support::{spawn_app_on, TestDb, PASSWORD};

fn stored_hash(db: &TestDb, email: &str) -> String {
    db.query_text(&format!(
        "SELECT password_hash FROM users WHERE email = '{email}'"
    ))
}

#[tokio::test]
async fn a_weaker_stored_hash_is_re_hashed_with_the_configured_parameters_at_sign_in() {
    let db = Arc::new(TestDb::fresh());
    let weak = ["--argon2-memory-kib", "1024", "--argon2-iterations", "1"];
    let strong = ["--argon2-memory-kib", "2048", "--argon2-iterations", "2"];

    let before = spawn_app_on(db.clone(), &weak).await;
    before.sign_up("ada@example.com").await;
    before.stop().await;
    assert!(stored_hash(&db, "ada@example.com").contains("$m=1024,t=1,p=1$"));

    let after = spawn_app_on(db.clone(), &strong).await;
    let wrong = after
        .login("ada@example.com", "not the password at all")
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(
        stored_hash(&db, "ada@example.com").contains("$m=1024,t=1,p=1$"),
        "a failed sign-in proves nothing and changes nothing"
    );
    assert_eq!(
        after.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );

    let upgraded = stored_hash(&db, "ada@example.com");
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=2048,t=2,p=1$"),
        "{upgraded}"
    );
    assert_eq!(
        after.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    after.stop().await;

    let cheaper_again = spawn_app_on(db.clone(), &weak).await;
    assert_eq!(
        cheaper_again
            .login("ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        stored_hash(&db, "ada@example.com"),
        upgraded,
        "never weakened"
    );
    cheaper_again.stop().await;
}
