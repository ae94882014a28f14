//! "Users: … create a user; open one. One user: edit name, email, role and
//! active under `If-Match` (a stale edit shows "changed by someone else
//! since you opened it" with the current values), set a password, end all
//! sessions, delete after a confirmation." Every action through the same
//! rules as the API: each test then asks the API what it holds.

use reqwest::StatusCode;
use serde_json::json;

use super::{api_user, location, user_named, Browser};
use crate::support::{spawn_app, ADMIN_EMAIL, PASSWORD};

/// The edit form as the user page would post it for `user` (the API's
/// JSON), with `changes` applied.
fn edit_form(
    user: &serde_json::Value,
    version: &str,
    changes: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut form = vec![
        ("version".to_owned(), version.to_owned()),
        ("name".to_owned(), user["name"].as_str().unwrap().to_owned()),
        (
            "email".to_owned(),
            user["email"].as_str().unwrap().to_owned(),
        ),
        ("role".to_owned(), user["role"].as_str().unwrap().to_owned()),
        ("is_active".to_owned(), user["is_active"].to_string()),
    ];
    for (name, value) in changes {
        for field in form.iter_mut().filter(|(n, _)| n == name) {
            field.1 = (*value).to_owned();
        }
    }
    form
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// The version the user page's edit form carries.
async fn version_on_page(browser: &Browser<'_>, id: i64) -> String {
    let html = browser.page(&format!("/admin/users/{id}")).await;
    let at = html
        .find("name=\"version\" value=\"")
        .expect("a version field");
    let rest = &html[at + "name=\"version\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn an_admin_edits_a_name_and_the_api_shows_it() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;
    let (_, user) = api_user(&app, id).await;
    let version = version_on_page(&browser, id).await;

    let form = edit_form(&user, &version, &[("name", "Ada Lovelace")]);
    let response = browser
        .post(&format!("/admin/users/{id}"), &pairs(&form))
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/admin/users/{id}?done=saved"));
    let page = browser.page(location(&response)).await;
    assert!(page.contains("Saved."));
    let (_, after) = api_user(&app, id).await;
    assert_eq!(after["name"], "Ada Lovelace");
    assert_eq!(after["email"], "ada@example.com");
    app.stop().await;
}

#[tokio::test]
async fn a_stale_edit_is_412_with_the_message_and_the_current_values_and_saves_nothing() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;
    let (_, user) = api_user(&app, id).await;
    let opened = version_on_page(&browser, id).await;
    // Someone else changes the user through the API meanwhile.
    let token = app.admin_token().await;
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(&token)
        .json(&json!({"name": "Countess of Lovelace"}))
        .send()
        .await
        .unwrap();

    let form = edit_form(&user, &opened, &[("name", "Ada Byron")]);
    let response = browser
        .post(&format!("/admin/users/{id}"), &pairs(&form))
        .await;

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let html = response.text().await.unwrap();
    assert!(html.contains("changed by someone else since you opened it"));
    assert!(
        html.contains("value=\"Countess of Lovelace\""),
        "current values"
    );
    assert!(html.contains("Ada Byron"), "the unsaved edit is shown");
    let (_, after) = api_user(&app, id).await;
    assert_eq!(after["name"], "Countess of Lovelace");
    app.stop().await;
}

#[tokio::test]
async fn every_bad_field_of_an_edit_is_shown_next_to_its_field_with_422() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;
    let (_, user) = api_user(&app, id).await;
    let version = version_on_page(&browser, id).await;

    let form = edit_form(
        &user,
        &version,
        &[("name", "  "), ("email", "not-an-email")],
    );
    let response = browser
        .post(&format!("/admin/users/{id}"), &pairs(&form))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"name-error\""), "name error shown");
    assert!(html.contains("id=\"email-error\""), "email error shown");
    assert!(
        html.contains("value=\"not-an-email\""),
        "the admin's input kept"
    );
    assert_eq!(api_user(&app, id).await.1["email"], "ada@example.com");
    app.stop().await;
}

#[tokio::test]
async fn a_taken_email_is_shown_next_to_the_email_field() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;
    user_named(&app, "bob@example.com", "Bob").await;
    let (_, user) = api_user(&app, id).await;
    let version = version_on_page(&browser, id).await;

    let form = edit_form(&user, &version, &[("email", "BOB@example.com")]);
    let response = browser
        .post(&format!("/admin/users/{id}"), &pairs(&form))
        .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"email-error\""));
    assert!(html.contains("already registered"));
    app.stop().await;
}

#[tokio::test]
async fn demoting_the_last_admin_is_409_and_they_stay_admin() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let token = app.admin_token().await;
    let me: serde_json::Value = app.get("/users/me", &token).await.json().await.unwrap();
    let id = me["id"].as_i64().unwrap();
    let version = version_on_page(&browser, id).await;

    let form = edit_form(&me, &version, &[("role", "user")]);
    let response = browser
        .post(&format!("/admin/users/{id}"), &pairs(&form))
        .await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("no active admin"));
    assert_eq!(api_user(&app, id).await.1["role"], "admin");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_creates_a_user_and_the_api_has_it() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;

    let response = browser
        .post(
            "/admin/users",
            &[
                ("email", "grace@example.com"),
                ("name", "Grace Hopper"),
                ("password", PASSWORD),
                ("role", "admin"),
            ],
        )
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response).to_owned();
    assert!(to.ends_with("?done=created"), "{to}");
    let id: i64 = to["/admin/users/".len()..to.find('?').unwrap()]
        .parse()
        .unwrap();
    let (status, user) = api_user(&app, id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["email"], "grace@example.com");
    assert_eq!(user["role"], "admin");
    assert_eq!(
        app.login("grace@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refused_new_user_shows_every_bad_field_and_never_echoes_the_password() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;

    let response = browser
        .post(
            "/admin/users",
            &[
                ("email", "bad"),
                ("name", ""),
                ("password", "short secret"),
                ("role", "root"),
            ],
        )
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    for field in ["email", "name", "password", "role"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}");
    }
    assert!(!html.contains("short secret"), "the password came back");
    app.stop().await;
}

#[tokio::test]
async fn setting_a_password_ends_the_users_sessions_and_the_new_one_signs_in() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let new_password = "violet meadow harbor 5521";

    let response = browser
        .post(
            &format!("/admin/users/{id}/password"),
            &[("password", new_password)],
        )
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/users/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("ada@example.com", new_password).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refused_password_is_shown_next_to_its_field() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;

    let response = browser
        .post(
            &format!("/admin/users/{id}/password"),
            &[("password", "password")],
        )
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"password-error\""));
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn end_all_sessions_makes_the_users_bearer_token_401() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    assert_eq!(app.get("/users/me", &token).await.status(), StatusCode::OK);

    let response = browser
        .post(&format!("/admin/users/{id}/sessions"), &[])
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(browser
        .page(location(&response))
        .await
        .contains("Every session of this user has ended."));
    assert_eq!(
        app.get("/users/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[tokio::test]
async fn delete_asks_for_confirmation_then_the_user_is_gone() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;

    let confirm = browser.page(&format!("/admin/users/{id}/delete")).await;
    assert_eq!(
        api_user(&app, id).await.0,
        StatusCode::OK,
        "asking deletes nothing"
    );
    assert!(confirm.contains("cannot be undone"));
    let version = version_on_page(&browser, id).await;
    let response = browser
        .post(
            &format!("/admin/users/{id}/delete"),
            &[("version", &version)],
        )
        .await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/users?done=deleted");
    assert_eq!(api_user(&app, id).await.0, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_user_changed_since_the_confirmation_is_412_and_deletes_nothing() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;
    let version = version_on_page(&browser, id).await;
    let token = app.admin_token().await;
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(&token)
        .json(&json!({"name": "Changed"}))
        .send()
        .await
        .unwrap();

    let response = browser
        .post(
            &format!("/admin/users/{id}/delete"),
            &[("version", &version)],
        )
        .await;

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("changed by someone else"));
    assert_eq!(api_user(&app, id).await.0, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn deleting_the_last_admin_is_409() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let token = app.admin_token().await;
    let me: serde_json::Value = app.get("/users/me", &token).await.json().await.unwrap();
    let id = me["id"].as_i64().unwrap();
    let version = version_on_page(&browser, id).await;

    let response = browser
        .post(
            &format!("/admin/users/{id}/delete"),
            &[("version", &version)],
        )
        .await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("no active admin"));
    assert_eq!(api_user(&app, id).await.1["email"], ADMIN_EMAIL);
    app.stop().await;
}
