//! "Nothing at any log level — a dependency's `debug` output included
//! (tokio-postgres logs statement parameters) — prints a hash, a password
//! or a token", on the backend whose driver would.

use crate::cli::{secrets_stay_out_of_the_log, serve};
use crate::support::TestDb;

#[test]
fn nothing_at_trace_level_prints_a_password_a_token_or_a_hash_on_postgresql() {
    let db = TestDb::fresh_postgres();
    let dir = tempfile::tempdir().unwrap();
    let app = serve(
        &dir,
        &["--database-url", db.url.as_str()],
        &[("RUST_LOG", "trace,tokio_postgres=trace")],
    );
    secrets_stay_out_of_the_log(app);
}
