//! "Every failure to reach or use the database is a 503 with Retry-After"
//! (contract, "Limits and behaviour under load"), class by class, on a
//! cluster of the test's own: the database not accepting connections, the
//! server out of connections, the server shutting down, and a TLS failure
//! at run time (the server's certificate replaced by one another CA
//! signed). After each, the service answers again without a restart.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use reqwest::StatusCode;

use crate::cli::{client, serve, sign_in, sign_up, Running};
use crate::cluster::{eventually, make_ca, make_server_cert, Cluster, PG_PASSWORD};

const PASSWORD: &str = "tangerine submarine 1947";
const EMAIL: &str = "ada@example.com";

/// `/users/me`, `/token` and `/health/ready` all answer 503 with
/// `Retry-After`, and no body names the database password.
fn all_503(app: &Running, token: &str, what: &str) {
    let me = || {
        client()
            .get(app.url("/users/me"))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    // The first request may still find a pooled connection that the
    // failure has not reached yet; within a few seconds every one is 503.
    assert!(
        eventually(Duration::from_secs(10), || me().status()
            == StatusCode::SERVICE_UNAVAILABLE),
        "{what}: /users/me never 503"
    );
    let responses = [
        me(),
        sign_in(app, EMAIL, PASSWORD),
        client().get(app.url("/health/ready")).send().unwrap(),
    ];
    for response in responses {
        let url = response.url().path().to_owned();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {url}"
        );
        assert!(
            response.headers().contains_key("retry-after"),
            "{what}: {url} has Retry-After"
        );
        let body = response.text().unwrap();
        assert!(!body.contains(PG_PASSWORD), "{body}");
    }
}

/// Back without a restart: the token works again and readiness is 200.
fn recovers(app: &Running, token: &str, what: &str) {
    assert!(
        eventually(Duration::from_secs(15), || {
            client()
                .get(app.url("/users/me"))
                .bearer_auth(token)
                .send()
                .unwrap()
                .status()
                == StatusCode::OK
        }),
        "{what}: not back within 15 s"
    );
    let ready = client().get(app.url("/health/ready")).send().unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "{what}");
}

fn end_app_sessions(cluster: &Cluster) {
    cluster.admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = 'app' AND pid <> pg_backend_pid()",
    );
}

/// Opens connections to `url` until the server refuses one, and holds
/// them until the returned sender is dropped.
fn take_every_connection(url: String) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (release, released) = mpsc::channel::<()>();
    let (full, is_full) = mpsc::channel();
    let holder = thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let held = runtime.block_on(async {
            let mut held = Vec::new();
            while let Ok((client, connection)) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls).await
            {
                held.push((client, tokio::spawn(connection)));
                assert!(held.len() < 100, "max_connections was not low");
            }
            held
        });
        full.send(held.len()).unwrap();
        let _ = released.recv();
        drop(held);
    });
    let taken = is_full.recv().unwrap();
    assert!(taken > 0);
    (release, holder)
}

#[test]
fn each_database_failure_is_a_503_with_retry_after_and_the_service_recovers() {
    let cluster = Cluster::start(
        "max_connections = 6\nsuperuser_reserved_connections = 0",
        "host all all 127.0.0.1/32 trust",
    );
    let url = cluster.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", cluster.ca_file()),
    );
    let dir = tempfile::tempdir().unwrap();
    let app = serve(&dir, &["--database-url", &url, "--db-pool-size", "2"], &[]);
    assert_eq!(sign_up(&app, EMAIL, PASSWORD).status(), StatusCode::CREATED);
    let signed_in = sign_in(&app, EMAIL, PASSWORD);
    assert_eq!(signed_in.status(), StatusCode::OK);
    let token = signed_in.json::<serde_json::Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // 1. The database does not accept connections (SQLSTATE 55000).
    cluster.admin("ALTER DATABASE app ALLOW_CONNECTIONS false");
    end_app_sessions(&cluster);
    all_503(&app, &token, "not accepting connections");
    cluster.admin("ALTER DATABASE app ALLOW_CONNECTIONS true");
    recovers(&app, &token, "not accepting connections");

    // 2. Too many connections (53300): others hold every slot.
    end_app_sessions(&cluster);
    let (release, holder) = take_every_connection(cluster.socket_url("postgres"));
    all_503(&app, &token, "too many connections");
    drop(release);
    holder.join().unwrap();
    recovers(&app, &token, "too many connections");

    // 3. A TLS failure at run time: the server now shows a certificate
    // from a CA the service does not trust.
    let path = cluster.dir();
    for file in ["server.crt", "server.key"] {
        std::fs::copy(path.join(file), path.join(format!("{file}.good"))).unwrap();
    }
    make_ca(path, "rogue");
    make_server_cert(path, "rogue", "server");
    let swap = |cluster: &Cluster| {
        let status = std::process::Command::new("chown")
            .args(["postgres", "server.crt", "server.key"])
            .current_dir(cluster.dir())
            .status()
            .unwrap();
        assert!(status.success());
        cluster.admin("SELECT pg_reload_conf()");
        end_app_sessions(cluster);
    };
    swap(&cluster);
    all_503(&app, &token, "TLS failure");
    for file in ["server.crt", "server.key"] {
        std::fs::copy(path.join(format!("{file}.good")), path.join(file)).unwrap();
    }
    swap(&cluster);
    recovers(&app, &token, "TLS failure");

    // 4. The server shutting down (57P01 to open sessions, then refused).
    cluster.pg_ctl(&["stop", "-m", "fast", "-w"]);
    all_503(&app, &token, "server shut down");
    cluster.pg_ctl(&["start", "-w", "-t", "30"]);
    recovers(&app, &token, "server shut down");
}
