//! TLS to PostgreSQL as libpq does it (contract, "Storage"): `require`
//! encrypts against this machine's server with its self-signed
//! certificate; on a cluster of the test's own, `verify-full` trusts only
//! the given root and the host name in the certificate, `verify-ca` only
//! the root, and `disable` is refused by a server that requires TLS. Every
//! refusal is one line naming the cause, without the password.

use reqwest::StatusCode;

use crate::cli::{run_to_exit, serve, sign_up};
use crate::cluster::{make_ca, Cluster, PG_PASSWORD};
use crate::support::TestDb;

#[test]
fn sslmode_require_encrypts_against_a_self_signed_server() {
    let db = TestDb::fresh_postgres();
    let dir = tempfile::tempdir().unwrap();
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}sslmode=require", db.url);
    let app = serve(&dir, &["--database-url", &url], &[]);
    assert_eq!(
        sign_up(&app, "ada@example.com", "tangerine submarine 1947").status(),
        StatusCode::CREATED
    );
    let name = db.query_text("SELECT current_database()");
    let encrypted = db.query_i64(&format!(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = 'user-api' AND a.datname = '{name}' AND s.ssl"
    ));
    assert!(encrypted >= 1, "the service's connections are encrypted");
    let plain = db.query_i64(&format!(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = 'user-api' AND a.datname = '{name}' AND NOT s.ssl"
    ));
    assert_eq!(plain, 0, "none in the clear");
}

/// `user-api migrate` on `url`: connects, migrates, exits.
fn migrate(url: &str) -> crate::cli::Finished {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["migrate", "--database-url", url], &[], dir.path(), None);
    assert!(
        !exit.stderr.contains(PG_PASSWORD) && !exit.stdout.contains(PG_PASSWORD),
        "{exit:?}"
    );
    exit
}

fn refused_in_one_line(exit: &crate::cli::Finished, cause: &str) {
    assert!(exit.failed(), "{exit:?}");
    let lines = exit.stderr_lines();
    assert_eq!(lines.len(), 1, "{exit:?}");
    assert!(lines[0].contains(cause), "names {cause:?}: {exit:?}");
}

#[test]
fn verify_full_and_verify_ca_trust_only_the_given_root_and_disable_is_refused_where_tls_is_required(
) {
    // TCP only with TLS; the test's own statements go over the Unix socket.
    let cluster = Cluster::start("", "hostssl all all 127.0.0.1/32 trust");
    let ca = cluster.ca_file();
    let other = tempfile::tempdir().unwrap();
    make_ca(other.path(), "other");
    let wrong = other.path().join("other.crt").display().to_string();

    let full = |host: &str, root: &str| {
        cluster.url(host, &format!("sslmode=verify-full&sslrootcert={root}"))
    };
    // The right root and the certificate's name: connects.
    let exit = migrate(&full("localhost", &ca));
    assert!(!exit.failed(), "{exit:?}");
    // Another root: refused, naming why.
    refused_in_one_line(&migrate(&full("localhost", &wrong)), "UnknownIssuer");
    // A name the certificate does not have (it is for localhost only).
    refused_in_one_line(&migrate(&full("127.0.0.1", &ca)), "not valid for name");
    // verify-ca checks the chain, not the name.
    let ca_only = |root: &str| {
        cluster.url(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={root}"),
        )
    };
    assert!(!migrate(&ca_only(&ca)).failed());
    refused_in_one_line(&migrate(&ca_only(&wrong)), "UnknownIssuer");
    // A root file that is not there: one line naming it.
    refused_in_one_line(
        &migrate(&full("localhost", "/nonexistent/root.crt")),
        "/nonexistent/root.crt",
    );
    // prefer (the default) and require encrypt without checking.
    assert!(!migrate(&cluster.url("127.0.0.1", "sslmode=require")).failed());
    assert!(!migrate(&cluster.url("127.0.0.1", "")).failed());
    // disable, where pg_hba accepts only TLS.
    refused_in_one_line(
        &migrate(&cluster.url("127.0.0.1", "sslmode=disable")),
        "no encryption",
    );
    // An sslmode libpq has and we do not take.
    refused_in_one_line(
        &migrate(&cluster.url("127.0.0.1", "sslmode=allow")),
        "sslmode",
    );
}
