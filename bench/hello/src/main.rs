//! `GET /health` → `{"status":"healthy"}` and nothing else: axum on hyper on
//! a multi-thread tokio runtime, as user-api runs, without its middleware.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn health() -> Json<Health> {
    Json(Health { status: "healthy" })
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut listen = String::from("127.0.0.1:8000");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().expect("--listen needs an address"),
            other => panic!("unknown argument {other}"),
        }
    }
    let app = Router::new().route("/health", get(health));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    println!("axum-hello listening on http://{listen}");
    axum::serve(listener, app).await.expect("server error");
}
