//! The HTTP contract (`shared/spec/API.md`), tested against the real service
//! on a real socket with a fresh SQLite file per test. One module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod authorization;
mod cli;
mod concurrency;
mod console;
mod cors;
mod docs;
mod events;
mod faults;
mod headers;
mod health;
mod limits;
mod mail;
mod metrics;
mod openapi;
mod signup;
mod token;
mod transfer;
mod users;
mod validation;
mod websocket;
