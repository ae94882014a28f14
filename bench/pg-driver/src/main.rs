//! Side-by-side PostgreSQL driver benchmark for authenticated `GET /users/{id}`.
//!
//! --driver tp          tokio-postgres + deadpool-postgres (RecyclingMethod::Fast), prepare_cached, 2 round trips
//! --driver tp-verified same, RecyclingMethod::Verified (runs a check query on every pool.get())
//! --driver tp-pipe     tokio-postgres + deadpool, both prepared statements pipelined (try_join!) in 1 round trip
//! --driver sqlx        sqlx 0.8 PgPool (defaults: test_before_acquire = true), query_as
//! --driver sqlx-notest sqlx 0.8 PgPool with test_before_acquire(false)
use std::time::{SystemTime, UNIX_EPOCH};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

const AUTH_SQL: &str = "SELECT u.* FROM tokens t JOIN users u ON u.id = t.user_id \
                        WHERE t.hash = $1 AND t.expires_at > $2 AND u.is_active";
const USER_SQL: &str = "SELECT id, email, name, role, is_active, version, created_at, updated_at \
                        FROM users WHERE id = $1";

#[derive(Serialize, sqlx::FromRow)]
struct User {
    id: i64,
    email: String,
    name: String,
    role: String,
    is_active: bool,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

/// All columns of `users`, what `SELECT u.*` returns (the auth query).
#[allow(dead_code)]
#[derive(sqlx::FromRow)]
struct FullUser {
    id: i64,
    email: String,
    name: String,
    name_lower: String,
    role: String,
    is_active: bool,
    password_hash: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl User {
    fn from_tp(r: &tokio_postgres::Row) -> Self {
        User {
            id: r.get(0),
            email: r.get(1),
            name: r.get(2),
            role: r.get(3),
            is_active: r.get(4),
            version: r.get(5),
            created_at: r.get(6),
            updated_at: r.get(7),
        }
    }
}

enum AppError {
    Unauthorized,
    NotFound,
    Internal(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED.into_response(),
            AppError::NotFound => StatusCode::NOT_FOUND.into_response(),
            AppError::Internal(e) => {
                eprintln!("internal error: {e}");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

fn internal<E: std::fmt::Display>(e: E) -> AppError {
    AppError::Internal(e.to_string())
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `Authorization: Bearer <token>` -> SHA-256 of the token.
fn token_hash(headers: &HeaderMap) -> Result<[u8; 32], AppError> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AppError::Unauthorized)?;
    Ok(Sha256::digest(v.as_bytes()).into())
}

// ---------------------------------------------------------------- (a) tokio-postgres + deadpool

/// Same pool with timeouts, for production (not in the benchmark table; checked with --driver tp-timeouts).
/// deadpool's timeouts need `.runtime(..)`, or build() fails with BuildError::NoRuntimeSpecified.
fn make_tp_pool_with_timeouts(url: &str) -> Pool {
    let mut pg_config: tokio_postgres::Config = url.parse().expect("bad DATABASE_URL");
    pg_config.connect_timeout(std::time::Duration::from_secs(5));
    let mgr = Manager::from_config(
        pg_config,
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    Pool::builder(mgr)
        .max_size(10)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .recycle_timeout(Some(std::time::Duration::from_secs(5)))
        .build()
        .expect("pool build")
}

fn make_tp_pool(url: &str, recycling_method: RecyclingMethod) -> Pool {
    let pg_config: tokio_postgres::Config = url.parse().expect("bad DATABASE_URL");
    let mgr = Manager::from_config(pg_config, NoTls, ManagerConfig { recycling_method });
    Pool::builder(mgr).max_size(10).build().expect("pool build")
}

async fn get_user_tp(
    State(pool): State<Pool>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Json<User>, AppError> {
    let hash = token_hash(&headers)?;
    let client = pool.get().await.map_err(internal)?;
    let auth = client.prepare_cached(AUTH_SQL).await.map_err(internal)?;
    client
        .query_opt(&auth, &[&&hash[..], &now_secs()])
        .await
        .map_err(internal)?
        .ok_or(AppError::Unauthorized)?;
    let by_id = client.prepare_cached(USER_SQL).await.map_err(internal)?;
    let row = client
        .query_opt(&by_id, &[&id])
        .await
        .map_err(internal)?
        .ok_or(AppError::NotFound)?;
    Ok(Json(User::from_tp(&row)))
}

/// (c) both statements sent back to back on the same connection (tokio-postgres pipelines
/// requests that are polled concurrently), so the request costs one network round trip.
async fn get_user_tp_pipe(
    State(pool): State<Pool>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Json<User>, AppError> {
    let hash = token_hash(&headers)?;
    let client = pool.get().await.map_err(internal)?;
    let (auth, by_id) = tokio::try_join!(client.prepare_cached(AUTH_SQL), client.prepare_cached(USER_SQL))
        .map_err(internal)?;
    let now = now_secs();
    let h: &[u8] = &hash[..];
    let p1: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&h, &now];
    let p2: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
    let (a, u) = tokio::try_join!(client.query_opt(&auth, &p1), client.query_opt(&by_id, &p2))
        .map_err(internal)?;
    a.ok_or(AppError::Unauthorized)?;
    let row = u.ok_or(AppError::NotFound)?;
    Ok(Json(User::from_tp(&row)))
}

// ---------------------------------------------------------------- (b) sqlx

async fn get_user_sqlx(
    State(pool): State<sqlx::PgPool>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Json<User>, AppError> {
    let hash = token_hash(&headers)?;
    let mut conn = pool.acquire().await.map_err(internal)?;
    sqlx::query_as::<_, FullUser>(AUTH_SQL)
        .bind(&hash[..])
        .bind(now_secs())
        .fetch_optional(&mut *conn)
        .await
        .map_err(internal)?
        .ok_or(AppError::Unauthorized)?;
    let user = sqlx::query_as::<_, User>(USER_SQL)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(internal)?
        .ok_or(AppError::NotFound)?;
    Ok(Json(user))
}

async fn health() -> &'static str {
    "ok"
}

#[tokio::main]
async fn main() {
    let mut driver = String::from("tp");
    let mut port: u16 = 8080;
    let mut url = String::from("postgres://postgres@127.0.0.1:5432/pgdriver_bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--driver" => driver = args.next().expect("--driver VALUE"),
            "--port" => port = args.next().expect("--port VALUE").parse().expect("port"),
            "--db" => url = args.next().expect("--db URL"),
            other => panic!("unknown argument {other}"),
        }
    }

    let app = match driver.as_str() {
        "tp" | "tp-verified" | "tp-pipe" | "tp-timeouts" => {
            let method = if driver == "tp-verified" { RecyclingMethod::Verified } else { RecyclingMethod::Fast };
            let pool = if driver == "tp-timeouts" { make_tp_pool_with_timeouts(&url) } else { make_tp_pool(&url, method) };
            // Fail fast on a bad URL / unreachable server instead of on the first request.
            drop(pool.get().await.expect("cannot connect to PostgreSQL"));
            let r = Router::new().route("/health", get(health));
            let r = if driver == "tp-pipe" {
                r.route("/users/{id}", get(get_user_tp_pipe))
            } else {
                r.route("/users/{id}", get(get_user_tp))
            };
            r.with_state(pool)
        }
        "sqlx" | "sqlx-notest" => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .test_before_acquire(driver == "sqlx")
                .connect(&url)
                .await
                .expect("cannot connect to PostgreSQL");
            Router::new()
                .route("/health", get(health))
                .route("/users/{id}", get(get_user_sqlx))
                .with_state(pool)
        }
        other => panic!("unknown driver {other}"),
    };

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    eprintln!("driver={driver} listening on 127.0.0.1:{port}");
    axum::serve(listener, app).await.unwrap();
}
