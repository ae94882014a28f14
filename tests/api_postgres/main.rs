//! The HTTP contract on PostgreSQL: the same test sources as `tests/api`
//! (a matrix, not a copy), each test on a fresh database of its own on the
//! server `USER_API_TEST_POSTGRES` names (default: this machine's,
//! `postgres://postgres@127.0.0.1:5432/test`). `support::database` tells
//! the backend from this binary's name. Without PostgreSQL the run says it
//! skipped and passes, unless `USER_API_REQUIRE_POSTGRES` is set.
//!
//! Left out here, because they test no storage: the command line and the
//! SQLite file's faults (SQLite only), the docs page, the OpenAPI document,
//! CORS and WebSocket echo. Tests only PostgreSQL has (several processes on
//! one database, an outage, `db copy`, the nginx deployment) are in this
//! directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The child-process harness of `tests/api/cli`, for the tests below that
/// need real processes.
#[path = "../api/cli/harness.rs"]
#[allow(dead_code)]
mod cli;
#[path = "../api/support/mod.rs"]
mod support;

mod cluster;
mod copy;
mod deploy;
mod event_order;
mod failures;
mod instances;
mod logs;
#[path = "../api/cli/migrate_emails.rs"]
mod migrate_emails;
mod outage;
mod startup;
mod takeover;
mod tls;

#[path = "../api/authorization/mod.rs"]
mod authorization;
#[path = "../api/concurrency/mod.rs"]
mod concurrency;
#[path = "../api/console/mod.rs"]
mod console;
#[path = "../api/events/mod.rs"]
mod events;
#[path = "../api/health.rs"]
mod health;
#[path = "../api/limits/mod.rs"]
mod limits;
#[path = "../api/mail/mod.rs"]
mod mail;
#[path = "../api/metrics.rs"]
mod metrics;
#[path = "../api/signup/mod.rs"]
mod signup;
#[path = "../api/token/mod.rs"]
mod token;
#[path = "../api/transfer/mod.rs"]
mod transfer;
#[path = "../api/users/mod.rs"]
mod users;
#[path = "../api/validation/mod.rs"]
mod validation;
