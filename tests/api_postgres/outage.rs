//! "When the database is down, requests fail fast with 503 and the service
//! recovers by itself when the database comes back", and "a 201 is
//! durable". The database is taken away by cutting a TCP proxy between the
//! service and PostgreSQL, never by stopping the server other tests share.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::cli::{client, serve, sign_in, sign_up, PATIENCE};
use crate::support::TestDb;

const PASSWORD: &str = "tangerine submarine 1947";
/// In the service's URL, to show it never reaches a log or a response.
const DB_PASSWORD: &str = "s3cret-db-pw";

/// A TCP proxy to PostgreSQL that can be cut (every connection closed, new
/// ones closed at once, as a server that went away) and restored.
struct Proxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn to(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (is_down, streams) = (down.clone(), open.clone());
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                if is_down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mut registry = streams.lock().unwrap();
                registry.push(client.try_clone().unwrap());
                registry.push(server.try_clone().unwrap());
                drop(registry);
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Self { addr, down, open }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The URL of `db` reached through the proxy, with a password in it.
fn through(db: &TestDb, proxy: &Proxy) -> String {
    let config: tokio_postgres::Config = db.url.parse().unwrap();
    let user = config.get_user().unwrap_or("postgres");
    let name = config.get_dbname().unwrap();
    format!("postgres://{user}:{DB_PASSWORD}@{}/{name}", proxy.addr)
}

fn upstream(db: &TestDb) -> SocketAddr {
    let config: tokio_postgres::Config = db.url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        #[allow(unreachable_patterns)]
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .unwrap()
        .next()
        .unwrap()
}

fn ready(base: &str) -> io::Result<(StatusCode, Duration)> {
    let asked = Instant::now();
    let response = client()
        .get(format!("{base}/health/ready"))
        .send()
        .map_err(io::Error::other)?;
    Ok((response.status(), asked.elapsed()))
}

#[test]
fn a_database_outage_gives_fast_503s_then_recovers_without_a_restart_and_loses_no_201() {
    let db = TestDb::fresh_postgres();
    let proxy = Proxy::to(upstream(&db));
    let dir = tempfile::tempdir().unwrap();
    let url = through(&db, &proxy);
    let mut app = serve(&dir, &["--database-url", &url, "--signup-rate", "0"], &[]);
    let base = app.url("");

    // Light load: one sign-up after another, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, unavailable, app_base) = (stop.clone(), unavailable.clone(), base.clone());
        thread::spawn(move || {
            let mut created = Vec::new();
            let mut other = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let email = format!("user{n}@example.com");
                let response = client()
                    .post(format!("{app_base}/users"))
                    .json(
                        &serde_json::json!({"email": email, "name": "Load", "password": PASSWORD}),
                    )
                    .send()
                    .unwrap();
                match response.status() {
                    StatusCode::CREATED => created.push(email),
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(response.headers().contains_key("retry-after"));
                        let body = response.text().unwrap();
                        assert!(!body.contains(DB_PASSWORD), "{body}");
                        unavailable.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(20));
                    }
                    status => other.push((status, response.text().unwrap())),
                }
            }
            (created, other)
        })
    };
    thread::sleep(Duration::from_millis(700));
    assert_eq!(ready(&base).unwrap().0, StatusCode::OK);

    proxy.cut();
    // While it is down: readiness and requests answer 503, and quickly.
    thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let (status, took) = ready(&base).unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(took < Duration::from_secs(3), "readiness took {took:?}");
        thread::sleep(Duration::from_millis(200));
    }
    let during = unavailable.load(Ordering::SeqCst);
    assert!(during > 0, "sign-ups during the outage got 503");
    let asked = Instant::now();
    let refused = sign_in(&app, "user1@example.com", PASSWORD);
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(asked.elapsed() < Duration::from_secs(3));

    proxy.restore();
    // Back by itself: no restart, readiness turns 200 again.
    let deadline = Instant::now() + PATIENCE;
    while ready(&base).unwrap().0 != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "not ready again within {PATIENCE:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let before_recovery = unavailable.load(Ordering::SeqCst);
    thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::SeqCst);
    let (created, other) = load.join().unwrap();
    assert!(other.is_empty(), "only 201 or 503: {other:?}");
    assert!(
        created.len() > 10,
        "sign-ups went on before and after: {}",
        created.len()
    );
    assert_eq!(
        unavailable.load(Ordering::SeqCst),
        before_recovery,
        "no 503 once the database was back"
    );

    // Every 201 is there, read straight from the database. (A sign-up cut
    // off after its commit got 503 and may be there too: 503 promises
    // nothing either way.)
    let listed = created
        .iter()
        .map(|e| format!("'{e}'"))
        .collect::<Vec<_>>()
        .join(",");
    let stored = db.query_i64(&format!(
        "SELECT count(*) FROM users WHERE email IN ({listed})"
    ));
    assert_eq!(stored, created.len() as i64);
    let last = created.last().unwrap();
    assert_eq!(sign_in(&app, last, PASSWORD).status(), StatusCode::OK);
    assert_eq!(
        sign_up(&app, "after@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );

    // The database password reached no log line.
    app.signal("TERM");
    assert!(app.wait_for_exit().success());
    let logs = [app.stdout_lines(), app.stderr_lines()].concat().join("\n");
    assert!(logs.contains("database"), "the outage is logged: {logs}");
    assert!(!logs.contains(DB_PASSWORD), "{logs}");
}
