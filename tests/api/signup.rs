//! `POST /users`: sign-up, an admin creating accounts, `--signup closed`, and
//! the rules of email, name and password.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{problem, spawn_app, spawn_app_with, TestApp, PASSWORD};

/// `POST /users` as the holder of `token`.
async fn post_user_as(app: &TestApp, token: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/users"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A sign-up body with `PASSWORD` and the given email and name.
fn signup(email: &str, name: &str) -> Value {
    json!({"email": email, "name": name, "password": PASSWORD})
}

/// A sign-up body for `ada@example.com` with the given password.
fn with_password(password: &str) -> Value {
    json!({"email": "ada@example.com", "name": "Ada", "password": password})
}

/// The `field` of every entry of a validation problem's `errors`.
fn error_fields(problem: &Value) -> BTreeSet<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// The message of the `errors` entry about `field`.
fn error_message(problem: &Value, field: &str) -> String {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {problem}"))
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no error about {field} in {problem}"))["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

/// The whole body as one problem about exactly these fields, with status 422.
async fn assert_invalid(response: Response, fields: &[&str]) -> Value {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(body["status"], 422);
    assert_eq!(error_fields(&body), set(fields), "{body}");
    body
}

fn assert_rfc3339_utc(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} not a string"));
    assert!(text.ends_with('Z'), "{text} is not UTC");
    let at = humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    // Written just now: a timestamp off by hours would be local time
    // mislabelled as UTC.
    let skew = match at.duration_since(SystemTime::now()) {
        Ok(ahead) => ahead,
        Err(behind) => behind.duration(),
    };
    assert!(skew < Duration::from_secs(300), "{text} is not now");
}

#[tokio::test]
async fn signup_is_201_with_location_etag_and_the_user() {
    let app = spawn_app().await;

    let response = app
        .post_user(&signup("ada@example.com", "Ada Lovelace"))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "strong ETag: {etag}"
    );
    let user: Value = response.json().await.unwrap();
    let id = user["id"].as_i64().expect("integer id");
    assert!(id > 0);
    assert_eq!(location, format!("/users/{id}"));
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_active"], true);
    assert_rfc3339_utc(&user["created_at"]);
    assert_rfc3339_utc(&user["updated_at"]);
    app.stop().await;
}

#[tokio::test]
async fn signup_body_has_the_user_fields_and_never_the_password_or_its_hash() {
    let app = spawn_app().await;

    let response = app.post_user(&signup("ada@example.com", "Ada")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.unwrap();
    let user: Value = serde_json::from_str(&text).unwrap();
    let keys: BTreeSet<String> = user.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        set(&[
            "created_at",
            "email",
            "id",
            "is_active",
            "name",
            "role",
            "updated_at"
        ])
    );
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.to_lowercase().contains("argon2"), "{text}");
    assert!(!text.to_lowercase().contains("password"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn signup_trims_and_unicode_lower_cases_the_email() {
    let app = spawn_app().await;

    let response = app
        .post_user(&signup("  ÉLODIE.Ÿ@Example.COM \t", "Élodie"))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "élodie.ÿ@example.com");
    app.stop().await;
}

#[tokio::test]
async fn signup_trims_the_name() {
    let app = spawn_app().await;

    let response = app
        .post_user(&signup("ada@example.com", "  Ada Lovelace \t "))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["name"], "Ada Lovelace");
    app.stop().await;
}

#[tokio::test]
async fn signup_with_same_email_in_other_case_is_400() {
    let app = spawn_app().await;
    app.sign_up("Ada@Example.com").await;

    let response = app.post_user(&signup("aDA@eXAMPLE.COM", "Ada")).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = problem(response).await;
    assert_eq!(body["detail"], "Email already registered");
    assert_eq!(body["status"], 400);
    app.stop().await;
}

#[tokio::test]
async fn signup_with_same_non_ascii_email_in_other_case_is_400() {
    let app = spawn_app().await;
    app.sign_up("élodie@example.com").await;

    let response = app.post_user(&signup("ÉLODIE@EXAMPLE.COM", "Élodie")).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        problem(response).await["detail"],
        "Email already registered"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_signups_of_one_email_in_mixed_case_create_exactly_one_user() {
    // Enough hashing slots that none of the 50 is turned away with 503: the
    // test is about uniqueness, not about the hashing queue.
    let app = spawn_app_with(&["--hash-concurrency", "16"]).await;
    let emails: Vec<String> = (0..50)
        .map(|i| {
            "race@example.com"
                .chars()
                .enumerate()
                .map(|(j, c)| {
                    if (i >> (j % 6)) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    let requests = emails.iter().map(|email| {
        let client = app.client.clone();
        let url = app.url("/users");
        let body = signup(email, "Racer");
        tokio::spawn(async move { client.post(url).json(&body).send().await.unwrap() })
    });

    let responses: Vec<Response> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();

    let mut created = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::BAD_REQUEST => {
                assert_eq!(
                    problem(response).await["detail"],
                    "Email already registered"
                );
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!(created, 1);
    let admin = app.admin_token().await;
    let listed = app.get("/users?q=race%40example.com", &admin).await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(listed.headers()["x-total-count"], "1");
    app.stop().await;
}

#[tokio::test]
async fn deleted_users_email_may_sign_up_again_with_a_new_larger_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let first = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();
    let deleted = app
        .client
        .delete(app.url(&format!("/users/{first}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let response = app.post_user(&signup("ADA@example.com", "Ada again")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let again: Value = response.json().await.unwrap();
    assert_eq!(again["email"], "ada@example.com");
    // The deleted user had the highest id, the one a reusing store would
    // hand out again.
    assert!(again["id"].as_i64().unwrap() > first, "{again} vs {first}");
    app.stop().await;
}

#[tokio::test]
async fn signup_with_role_from_an_anonymous_caller_is_422_naming_role_as_unknown() {
    let app = spawn_app().await;
    let mut body = signup("ada@example.com", "Ada");
    body["role"] = json!("admin");

    let response = app.post_user(&body).await;

    let problem = assert_invalid(response, &["role"]).await;
    assert!(error_message(&problem, "role").contains("unknown"));
    app.stop().await;
}

#[tokio::test]
async fn signup_with_role_user_from_an_anonymous_caller_is_422_too() {
    let app = spawn_app().await;
    let mut body = signup("ada@example.com", "Ada");
    body["role"] = json!("user");

    let response = app.post_user(&body).await;

    assert_invalid(response, &["role"]).await;
    app.stop().await;
}

#[tokio::test]
async fn signup_with_role_from_a_regular_users_token_is_422_naming_role_as_unknown() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("mallory@example.com").await;
    let mut body = signup("ada@example.com", "Ada");
    body["role"] = json!("admin");

    let response = post_user_as(&app, &token, &body).await;

    let problem = assert_invalid(response, &["role"]).await;
    assert!(error_message(&problem, "role").contains("unknown"));
    app.stop().await;
}

#[tokio::test]
async fn an_admin_may_create_an_admin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut body = signup("grace@example.com", "Grace");
    body["role"] = json!("admin");

    let response = post_user_as(&app, &admin, &body).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["role"], "admin");
    let token = app.token("grace@example.com", PASSWORD).await;
    assert_eq!(app.get("/users", &token).await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn closed_signup_answers_401_before_looking_at_an_invalid_body() {
    let app = spawn_app_with(&["--signup", "closed"]).await;

    let response = app
        .post_user(&json!({"email": "nope", "password": "short", "role": "admin"}))
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn closed_signup_refuses_an_anonymous_caller_with_401() {
    let app = spawn_app_with(&["--signup", "closed"]).await;

    let response = app.post_user(&signup("ada@example.com", "Ada")).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"user-api\""
    );
    assert_eq!(problem(response).await["status"], 401);
    app.stop().await;
}

#[tokio::test]
async fn closed_signup_refuses_a_regular_user_with_403() {
    let app = spawn_app_with(&["--signup", "closed"]).await;
    let admin = app.admin_token().await;
    let created = post_user_as(&app, &admin, &signup("bob@example.com", "Bob")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let token = app.token("bob@example.com", PASSWORD).await;

    let response = post_user_as(&app, &token, &signup("ada@example.com", "Ada")).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem(response).await["status"], 403);
    app.stop().await;
}

#[tokio::test]
async fn closed_signup_lets_an_admin_create_a_user() {
    let app = spawn_app_with(&["--signup", "closed"]).await;
    let admin = app.admin_token().await;

    let response = post_user_as(&app, &admin, &signup("ada@example.com", "Ada")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["role"], "user");
    app.stop().await;
}

#[tokio::test]
async fn password_of_14_characters_is_refused_by_default() {
    let app = spawn_app().await;

    let response = app.post_user(&with_password("tangerine sub1")).await;

    let problem = assert_invalid(response, &["password"]).await;
    assert!(
        error_message(&problem, "password").contains("15"),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn password_of_15_characters_is_accepted_by_default() {
    let app = spawn_app().await;

    let response = app.post_user(&with_password("tangerine sub19")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn password_min_length_8_accepts_8_characters() {
    let app = spawn_app_with(&["--password-min-length", "8"]).await;

    let response = app.post_user(&with_password("tngr1947")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn password_min_length_8_still_refuses_7_characters() {
    let app = spawn_app_with(&["--password-min-length", "8"]).await;

    let response = app.post_user(&with_password("tngr194")).await;

    assert_invalid(response, &["password"]).await;
    app.stop().await;
}

#[tokio::test]
async fn password_of_128_characters_is_accepted() {
    let app = spawn_app().await;

    let response = app
        .post_user(&with_password(&"tangerine".repeat(15)[..128]))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn password_over_128_characters_is_refused() {
    let app = spawn_app().await;

    let response = app
        .post_user(&with_password(&"tangerine".repeat(15)[..129]))
        .await;

    let problem = assert_invalid(response, &["password"]).await;
    assert!(
        error_message(&problem, "password").contains("128"),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn password_length_counts_unicode_scalar_values_not_bytes() {
    let app = spawn_app().await;
    // 15 characters, 30 bytes in UTF-8: long enough.
    let password = "ñ".repeat(15);

    let response = app.post_user(&with_password(&password)).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn password_length_is_counted_after_nfkc_composition() {
    let app = spawn_app().await;
    // 16 scalar values as sent ("n" + combining tilde, 8 times), but NFKC
    // composes each pair into one "ñ": 8 characters, too short.
    let password = "n\u{303}".repeat(8);

    let response = app.post_user(&with_password(&password)).await;

    assert_invalid(response, &["password"]).await;
    app.stop().await;
}

#[tokio::test]
async fn password_length_is_counted_after_nfkc_expansion() {
    let app = spawn_app().await;
    // 65 scalar values as sent, but NFKC turns each ligature "ﬁ" into "fi":
    // 130 characters, over the limit.
    let password = "ﬁ".repeat(65);

    let response = app.post_user(&with_password(&password)).await;

    assert_invalid(response, &["password"]).await;
    app.stop().await;
}

#[tokio::test]
async fn password_is_nfkc_normalised_so_a_compatible_spelling_signs_in() {
    let app = spawn_app().await;
    let fullwidth = "ｔａｎｇｅｒｉｎｅ submarine 1947";
    let created = app.post_user(&with_password(fullwidth)).await;
    assert_eq!(created.status(), StatusCode::CREATED);

    let response = app
        .login("ada@example.com", "tangerine submarine 1947")
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_common_password_is_refused_with_the_reason() {
    let app = spawn_app().await;
    // On the bundled list and 15 characters long, so only its commonness
    // is wrong.
    let response = app.post_user(&with_password("Mailcreated5240")).await;

    let problem = assert_invalid(response, &["password"]).await;
    assert!(
        error_message(&problem, "password").contains("common"),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_common_password_is_refused_with_min_length_8() {
    let app = spawn_app_with(&["--password-min-length", "8"]).await;

    for common in ["password", "12345678"] {
        let response = app.post_user(&with_password(common)).await;
        let problem = assert_invalid(response, &["password"]).await;
        assert!(
            error_message(&problem, "password").contains("common"),
            "{common}: {problem}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn name_with_sql_metacharacters_is_stored_and_returned_literally() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let name = "Robert'); DROP TABLE users;-- \" % _ \\ ;";

    let response = app.post_user(&signup("bobby@example.com", name)).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["name"], name);
    let stored: Value = app
        .get(&format!("/users/{}", user["id"]), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["name"], name);
    app.stop().await;
}

#[tokio::test]
async fn name_with_emoji_and_right_to_left_text_is_stored_and_returned_literally() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let name = "Zoë 🦀👩‍💻 שלום مرحبا";

    let response = app.post_user(&signup("zoe@example.com", name)).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["name"], name);
    let stored: Value = app
        .get(&format!("/users/{}", user["id"]), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["name"], name);
    app.stop().await;
}

#[tokio::test]
async fn name_with_a_control_character_is_422() {
    let app = spawn_app().await;

    for name in ["Ada\nLovelace", "Ada\u{0}", "Ada\u{7}Lovelace", "Ada\u{9b}"] {
        let response = app.post_user(&signup("ada@example.com", name)).await;
        assert_invalid(response, &["name"]).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn name_of_101_characters_is_422_and_100_is_accepted() {
    let app = spawn_app().await;

    let too_long = app
        .post_user(&signup("ada@example.com", &"é".repeat(101)))
        .await;
    assert_invalid(too_long, &["name"]).await;
    let longest = app
        .post_user(&signup("ada@example.com", &"é".repeat(100)))
        .await;
    assert_eq!(longest.status(), StatusCode::CREATED);
    app.stop().await;
}

/// A syntactically valid address of exactly `len` characters (local part at
/// most 64, labels at most 63, as RFC 5321 requires).
fn email_of_length(len: usize) -> String {
    let local = "a".repeat(64);
    let fixed = local.len() + "@".len() + 63 + 1 + 63 + 1 + ".com".len();
    format!(
        "{local}@{}.{}.{}.com",
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(len - fixed)
    )
}

#[tokio::test]
async fn email_of_254_characters_is_accepted() {
    let app = spawn_app().await;
    let email = email_of_length(254);
    assert_eq!(email.chars().count(), 254);

    let response = app.post_user(&signup(&email, "Long")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn email_over_254_characters_is_422() {
    let app = spawn_app().await;
    let email = email_of_length(255);
    assert_eq!(email.chars().count(), 255);

    let response = app.post_user(&signup(&email, "Long")).await;

    assert_invalid(response, &["email"]).await;
    app.stop().await;
}

#[tokio::test]
async fn email_that_is_not_an_address_is_422() {
    let app = spawn_app().await;

    for email in [
        "not-an-email",
        "a@",
        "@example.com",
        "Ada <ada@example.com>",
        "",
    ] {
        let response = app.post_user(&signup(email, "Ada")).await;
        assert_invalid(response, &["email"]).await;
    }
    app.stop().await;
}
