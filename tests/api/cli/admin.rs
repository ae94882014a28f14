//! `user-api admin create`: the password comes on stdin and meets the sign-up
//! policy, the email is unique in any case, and the account made is an admin
//! who can sign in over HTTP and list users.

use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use super::{client, run_to_exit, serve, sign_in, sqlite_url, Finished, CHEAP_HASHING};

const ADMIN_PASSWORD: &str = "correct horse battery staple 42";

#[test]
fn admin_create_with_the_password_on_stdin_makes_an_admin_who_can_list_users() {
    let dir = tempfile::tempdir().unwrap();
    let created = admin_create(&dir, "Admin@Example.com", ADMIN_PASSWORD, &[]);
    assert!(created.status.success(), "{created:?}");

    let app = serve(&dir, &[], &[]);
    let response = sign_in(&app, "Admin@Example.com", ADMIN_PASSWORD);
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = client()
        .get(app.url("/users"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let users: Value = listed.json().unwrap();
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert_eq!(users[0]["email"], "admin@example.com");
    assert_eq!(users[0]["name"], "Admin");
    assert_eq!(users[0]["role"], "admin");
}

#[test]
fn admin_create_refuses_a_too_short_password_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = admin_create(&dir, "admin@example.com", "short but ok", &[]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("password"), "{exit:?}");
    assert!(exit.stderr.contains("15"), "{exit:?}");
}

#[test]
fn admin_create_refuses_a_common_password_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let exit = admin_create(
        &dir,
        "admin@example.com",
        "football",
        &["--password-min-length", "8"],
    );
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("common"), "{exit:?}");
}

#[test]
fn admin_create_refuses_an_email_already_registered_in_another_case() {
    let dir = tempfile::tempdir().unwrap();
    let first = admin_create(&dir, "admin@example.com", ADMIN_PASSWORD, &[]);
    assert!(first.status.success(), "{first:?}");
    let exit = admin_create(&dir, "ADMIN@Example.com", ADMIN_PASSWORD, &[]);
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("already registered"), "{exit:?}");
}

#[test]
fn admin_create_refuses_argon2_settings_below_owasps_weakest_row_before_asking_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("user-api.db"));
    let args = [
        "admin",
        "create",
        "--email",
        "admin@example.com",
        "--name",
        "Admin",
        "--database-url",
        &url,
        "--argon2-memory-kib",
        "4096",
    ];
    let exit = run_to_exit(&args, &[], dir.path(), Some(&format!("{ADMIN_PASSWORD}\n")));
    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("OWASP"), "{exit:?}");
    assert!(!dir.path().join("user-api.db").exists(), "nothing touched");
}

/// `user-api admin create` on `dir/user-api.db` with `password` on stdin.
fn admin_create(dir: &TempDir, email: &str, password: &str, flags: &[&str]) -> Finished {
    let url = sqlite_url(&dir.path().join("user-api.db"));
    let mut args = vec![
        "admin",
        "create",
        "--email",
        email,
        "--name",
        "Admin",
        "--database-url",
        &url,
    ];
    args.extend(CHEAP_HASHING);
    args.extend(flags);
    run_to_exit(&args, &[], dir.path(), Some(&format!("{password}\n")))
}
