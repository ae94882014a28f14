//! user-api: a self-hosted user-account HTTP service. See ARCHITECTURE.md
//! for the map; the HTTP contract is `shared/spec/API.md`.

/// Account use cases shared by the HTTP API and the command line.
pub mod accounts;
/// Wiring: build the app from the flags, serve, shut down.
pub mod app;
/// Password hashing and access tokens.
pub mod auth;
/// The command line: subcommands and every flag.
pub mod cli;
/// Typed configuration values and their parsers.
pub mod config;
/// The rules of an account: valid values and who may do what.
pub mod domain;
/// Events leaving the service: the relay and its sinks.
pub mod events;
/// Routes, middleware, wire types, error responses.
pub mod http;
/// Verification and reset mail: the sender, SMTP, templates, link secret.
pub mod mail;
/// Prometheus metrics on their own listener.
pub mod metrics;
/// Progress bars of the long commands.
pub mod progress;
/// Storage backends behind one `Store`.
pub mod store;
/// The tracing subscriber.
pub mod telemetry;
/// `users import` and `users export`: reading and writing user files.
pub mod transfer;

pub use app::App;
