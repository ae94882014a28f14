//! Starts the real service for a test: the router that `user-api serve`
//! runs, on 127.0.0.1:0, over a fresh database (`database.rs`: an SQLite
//! file, or a PostgreSQL database in the `api_postgres` run). Helpers send
//! requests and return responses; the assertions stay in the tests.

/// Journeys in a real browser; not every test binary has one.
#[allow(dead_code)]
pub mod browser;
pub mod database;
pub mod smtp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use user_api::accounts::Accounts;
use user_api::cli::ServeArgs;
use user_api::domain::{NewUser, NewUserFields, Violations};
use user_api::App;

pub use database::{backend, Backend, TestDb};

/// A password that meets the default policy and is on no common list.
pub const PASSWORD: &str = "tangerine submarine 1947";
pub const ADMIN_EMAIL: &str = "root@example.com";
pub const ADMIN_PASSWORD: &str = "quiet orchard lantern 7301";

pub struct TestApp {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when `--metrics-addr` was given.
    pub metrics_addr: Option<SocketAddr>,
    pub client: Client,
    /// The database; removed when the last app on it is dropped.
    pub db: Arc<TestDb>,
    pub accounts: Arc<Accounts>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

/// The service with the flags tests use unless they say otherwise: no
/// sign-up rate limit, and cheap argon2 parameters, below OWASP's floor
/// (tests that are about hashing cost pass their own).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// As `spawn_app`, with extra flags that override the defaults.
pub async fn spawn_app_with(flags: &[&str]) -> TestApp {
    spawn_app_on(Arc::new(TestDb::fresh()), flags).await
}

/// As `spawn_app_with`, on a database another app may share: two apps on
/// one database are two instances behind a load balancer.
pub async fn spawn_app_on(db: Arc<TestDb>, flags: &[&str]) -> TestApp {
    let defaults = [
        ("--listen", "127.0.0.1:0"),
        ("--database-url", db.url.as_str()),
        ("--signup-rate", "0"),
        ("--argon2-memory-kib", "1024"),
        ("--argon2-iterations", "1"),
        ("--shutdown-grace", "0s"),
    ];
    let mut args: Vec<String> = Vec::new();
    for (name, value) in defaults {
        if !flags
            .iter()
            .any(|f| *f == name || f.starts_with(&format!("{name}=")))
        {
            args.push(name.into());
            args.push(value.into());
        }
    }
    // Cheap argon2 parameters are below OWASP's floor; a debug build may
    // take them when told it is a test.
    if !flags.contains(&"--test-weak-argon2") {
        args.push("--test-weak-argon2".into());
    }
    args.extend(flags.iter().map(|f| f.to_string()));
    let serve = ServeArgs::from_flags(&args).expect("test flags parse");
    let app = App::build(serve).await.expect("app starts");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let accounts = app.accounts();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        metrics_addr,
        client: Client::builder().build().expect("http client"),
        db,
        accounts,
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Creates an admin as `user-api admin create` does; returns the id.
    pub async fn create_admin(&self, email: &str, password: &str) -> i64 {
        let mut violations = Violations::default();
        let fields = NewUserFields {
            email: Some(email),
            name: Some("Admin"),
            password: Some(password),
            role: None,
            email_verified: None,
        };
        let new = NewUser::parse(fields, &self.accounts.password_policy, &mut violations)
            .unwrap_or_else(|| panic!("invalid test admin: {violations:?}"));
        self.accounts
            .create_admin(new)
            .await
            .expect("admin created")
            .id
            .0
    }

    /// A token of a fresh admin (`ADMIN_EMAIL`), created on first call.
    pub async fn admin_token(&self) -> String {
        if self
            .accounts
            .store
            .credentials(&user_api::domain::Email::parse(ADMIN_EMAIL).unwrap())
            .await
            .unwrap()
            .is_none()
        {
            self.create_admin(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        }
        self.token(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// `POST /users` with a JSON body.
    pub async fn post_user(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/users"))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Signs up `email` with `PASSWORD`; panics unless 201. Returns the user.
    pub async fn sign_up(&self, email: &str) -> Value {
        let response = self
            .post_user(&json!({"email": email, "name": "Test User", "password": PASSWORD}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "sign-up of {email}");
        response.json().await.expect("user json")
    }

    /// `POST /token` with a form body.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/token"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .expect("request sent")
    }

    /// A bearer token for the account; panics unless 200.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let body: Value = response.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Signs up `email` and returns `(id, token)`.
    pub async fn user_with_token(&self, email: &str) -> (i64, String) {
        let user = self.sign_up(email).await;
        (
            user["id"].as_i64().unwrap(),
            self.token(email, PASSWORD).await,
        )
    }

    /// GET with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// Stops the service gracefully and waits for it to exit.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server exits cleanly");
        }
    }
}

/// The `user-api` binary Cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_user-api"))
}

/// The body of a problem+json response, after checking its content type.
pub async fn problem(response: Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        content_type, "application/problem+json",
        "problem content type"
    );
    response.json().await.expect("problem json")
}
