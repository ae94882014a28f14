//! The deployment in `deploy/` ("TLS is terminated by a reverse proxy in
//! front", `API.md`, "Also"): two real `user-api serve` processes started
//! with the systemd unit's own `ExecStart` flags and the example environment
//! file, on one PostgreSQL database, behind nginx running the shipped
//! `deploy/nginx/user-api.conf` with only its ports, certificate paths and
//! server name replaced. Requests go over HTTPS with `curl` (reqwest has no
//! TLS feature here), verified against a self-signed certificate made by
//! the `openssl` command; the WebSocket runs over TLS through
//! `openssl s_client`. The unit file is checked by `systemd-analyze`.
//!
//! Without nginx or openssl the nginx tests say "skipped" (and fail under
//! `CI`). This file stays whole past 400 lines: the harness below exists
//! only for these tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::cli::{client, sign_in, spawn_binary, Running, CHEAP_HASHING, PATIENCE, POLL};
use crate::support::{TestDb, PASSWORD};

const NGINX: &str = "/usr/sbin/nginx";
const SHIPPED_NGINX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx/user-api.conf");
const SHIPPED_UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/systemd/user-api@.service"
);
const SHIPPED_ENV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/systemd/user-api.env.example"
);
/// Where the unit expects the binary.
const UNIT_BINARY: &str = "/usr/local/bin/user-api";
/// Sources of requests "from the internet": loopback addresses other than
/// nginx's own 127.0.0.1, so the service can tell them apart.
const CLIENT_A: &str = "127.0.0.7";
const CLIENT_B: &str = "127.0.0.8";

#[test]
fn a_token_issued_through_one_instance_works_on_the_other_and_through_nginx() {
    let Some(deployment) = Deployment::start() else {
        return;
    };
    let [one, other] = &deployment.instances;
    let signed_up = deployment.post_json("/users", &ada());
    assert_eq!(signed_up.status, 201, "{signed_up:?}");

    let direct = sign_in(one, "ada@example.com", PASSWORD);
    assert_eq!(direct.status(), 200);
    let direct: String = direct.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        me_status(other, &direct),
        200,
        "issued by one, used on the other"
    );
    for _ in 0..4 {
        let me = deployment.get("/users/me", &[&format!("Authorization: Bearer {direct}")]);
        assert_eq!(me.status, 200, "{me:?}");
        assert_eq!(me.json()["email"], "ada@example.com");
    }

    let issued = deployment.curl(
        &deployment.https("/token"),
        &[
            "-d",
            "username=ada@example.com",
            "--data-urlencode",
            &format!("password={PASSWORD}"),
        ],
    );
    assert_eq!(issued.status, 200, "{issued:?}");
    let through_nginx = issued.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me_status(one, &through_nginx), 200);
    assert_eq!(me_status(other, &through_nginx), 200);

    let revoked = client()
        .post(other.url("/token/revoke"))
        .bearer_auth(&direct)
        .send()
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(
        me_status(one, &direct),
        401,
        "revoked on the other instance"
    );
    let me = deployment.get("/users/me", &[&format!("Authorization: Bearer {direct}")]);
    assert_eq!(me.status, 401, "{me:?}");
    assert_eq!(me_status(one, &through_nginx), 200, "only that token ended");
}

#[test]
fn the_service_logs_and_throttles_the_real_client_address_not_nginx_or_a_forged_one() {
    let Some(mut deployment) = Deployment::start() else {
        return;
    };
    // 20 failed sign-ins a minute per address, counted in the database
    // (so across both instances); distinct unknown emails, so no account
    // is throttled. Each claims to come from elsewhere.
    let forged = "X-Forwarded-For: 198.51.100.7";
    for i in 0..20 {
        let failed = deployment.wrong_sign_in(CLIENT_A, &format!("nobody-{i}@example.com"), forged);
        assert_eq!(failed.status, 400, "attempt {i}: {failed:?}");
    }
    let throttled = deployment.wrong_sign_in(CLIENT_A, "nobody-20@example.com", forged);
    assert_eq!(throttled.status, 429, "{throttled:?}");
    assert!(throttled.header("retry-after").is_some(), "{throttled:?}");
    // Another client is not throttled, even claiming to be the first one.
    let other = deployment.wrong_sign_in(
        CLIENT_B,
        "nobody-21@example.com",
        &format!("X-Forwarded-For: {CLIENT_A}"),
    );
    assert_eq!(other.status, 400, "{other:?}");

    let attempts: Vec<(String, String)> = deployment
        .stop_instances()
        .iter()
        .filter(|line| line.get("outcome").is_some())
        .map(|line| {
            (
                line["client"].as_str().unwrap_or_default().to_owned(),
                line["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(attempts.len(), 22, "{attempts:?}");
    let from_a = attempts.iter().filter(|(c, _)| c == CLIENT_A).count();
    let from_b: Vec<&(String, String)> = attempts.iter().filter(|(c, _)| c == CLIENT_B).collect();
    assert_eq!(from_a, 21, "logged as the real client: {attempts:?}");
    assert_eq!(
        from_b,
        [&(CLIENT_B.to_owned(), "invalid_credentials".to_owned())]
    );
}

#[test]
fn a_websocket_echo_works_through_nginx_over_tls() {
    let Some(deployment) = Deployment::start() else {
        return;
    };
    let own_origin = format!("https://localhost:{}", deployment.https_port);

    let reply = deployment.websocket(None, "hello through nginx");
    assert_eq!(reply, Ok("Echo: hello through nginx".to_owned()));
    // A browser on the service's own origin (the port included) is let in;
    // a foreign one is not: nginx passes the Host the browser saw.
    let reply = deployment.websocket(Some(&own_origin), "same origin");
    assert_eq!(reply, Ok("Echo: same origin".to_owned()));
    let refused = deployment.websocket(Some("https://evil.example"), "foreign");
    assert_eq!(refused, Err(403));
}

#[test]
fn nginx_refuses_a_body_over_64_kib_as_the_service_would_and_passes_one_of_64_kib() {
    let Some(mut deployment) = Deployment::start() else {
        return;
    };
    let too_large = padded_sign_up("big@example.com", 65_537);
    let refused = deployment.post_json("/users", &too_large);
    assert_eq!(refused.status, 413, "{refused:?}");
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(refused.json()["status"], 413);
    assert!(refused.json()["detail"].as_str().unwrap().contains("65536"));
    // A chunked body has no length to refuse it by up front.
    let chunked = deployment.curl(
        &deployment.https("/users"),
        &[
            "--http1.1",
            "-H",
            "Content-Type: application/json",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &format!("@{}", deployment.body_file(&too_large).display()),
        ],
    );
    assert_eq!(chunked.status, 413, "{chunked:?}");

    let at_limit = padded_sign_up("limit@example.com", 65_536);
    let accepted = deployment.post_json("/users", &at_limit);
    assert_eq!(accepted.status, 201, "{accepted:?}");

    let statuses: Vec<u64> = deployment
        .stop_instances()
        .iter()
        .filter(|line| line["route"] == "/users")
        .filter_map(|line| line["status"].as_u64())
        .collect();
    assert_eq!(
        statuses,
        [201],
        "nginx refused the others before an instance saw them"
    );
}

#[test]
fn requests_still_succeed_through_nginx_when_one_instance_is_killed() {
    let Some(mut deployment) = Deployment::start() else {
        return;
    };
    assert_eq!(deployment.post_json("/users", &ada()).status, 201);
    let token = deployment.token("ada@example.com");
    let bearer = format!("Authorization: Bearer {token}");
    for _ in 0..6 {
        assert_eq!(deployment.get("/users/me", &[&bearer]).status, 200);
    }

    let victim = &mut deployment.instances[0];
    victim.child.kill().unwrap();
    victim.wait_for_exit();
    let served_before = victim
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("\"route\":\"/users/me\""))
        .count();
    assert!(served_before > 0, "the killed instance was in the rotation");

    for i in 0..10 {
        let me = deployment.get("/users/me", &[&bearer]);
        assert_eq!(me.status, 200, "GET {i} after the kill: {me:?}");
        let email = format!("after-kill-{i}@example.com");
        let created = deployment.post_json(
            "/users",
            &json!({"email": email, "name": "Survivor", "password": PASSWORD}),
        );
        assert_eq!(created.status, 201, "POST {i} after the kill: {created:?}");
    }
    assert!(!deployment.token("after-kill-9@example.com").is_empty());

    let survivor = &mut deployment.instances[1];
    survivor.child.kill().unwrap();
    survivor.wait_for_exit();
    let down = deployment.get("/users/me", &[&bearer]);
    assert_eq!(down.status, 503, "{down:?}");
    assert_eq!(
        down.header("content-type"),
        Some("application/problem+json")
    );
    assert!(down.header("retry-after").is_some(), "{down:?}");
}

#[test]
fn readiness_answers_through_nginx_and_plain_http_redirects_to_https_with_tls_1_3_only() {
    let Some(deployment) = Deployment::start() else {
        return;
    };
    let ready = deployment.get("/health/ready", &[]);
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json(), json!({"status": "ready"}));
    assert!(
        ready
            .header("strict-transport-security")
            .is_some_and(|v| v.starts_with("max-age=")),
        "{ready:?}"
    );

    let plain = format!("http://127.0.0.1:{}", deployment.http_port);
    let redirected = deployment.curl(&format!("{plain}/users/me?x=1"), &[]);
    assert_eq!(redirected.status, 301, "{redirected:?}");
    let location = redirected.header("location").unwrap_or_default();
    assert!(
        location.starts_with("https://") && location.ends_with("/users/me?x=1"),
        "{location}"
    );
    let ready = deployment.curl(&format!("{plain}/health/ready"), &[]);
    assert_eq!(
        ready.status, 200,
        "a load balancer may check over HTTP: {ready:?}"
    );

    let old_tls = deployment.curl_output(&deployment.https("/health"), &["--tls-max", "1.2"]);
    assert!(!old_tls.status.success(), "TLS 1.2 is refused: {old_tls:?}");
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Some(unit) = unit_for_this_build() else {
        return;
    };
    let verified = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--generators=no"])
        .arg(unit.instance())
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&verified.stderr);
    let about_the_unit: Vec<&str> = stderr.lines().filter(|l| l.contains("user-api")).collect();
    for line in stderr.lines().filter(|l| !l.contains("user-api")) {
        eprintln!("systemd-analyze (not about the unit): {line}");
    }
    assert!(about_the_unit.is_empty(), "{about_the_unit:#?}");
    assert!(verified.status.success(), "{verified:?}");
}

#[test]
fn the_systemd_unit_is_hardened() {
    let Some(unit) = unit_for_this_build() else {
        return;
    };
    let shipped = std::fs::read_to_string(SHIPPED_UNIT).unwrap();
    for setting in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "StateDirectory=user-api",
        "EnvironmentFile=/etc/user-api/user-api.env",
        "--trusted-proxies 127.0.0.1",
    ] {
        assert!(shipped.contains(setting), "the unit sets {setting:?}");
    }
    // systemd's own score: 0 (best) to 10; up to 2.0 is rated "OK".
    let scored = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit.instance())
        .output()
        .expect("systemd-analyze runs");
    let report = String::from_utf8_lossy(&scored.stdout);
    let score = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|rest| rest.split(": ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("an exposure score in {report}"));
    assert!(score <= 2.0, "exposure {score}:\n{report}");
    assert!(scored.status.success(), "{:?}", scored.stderr);
}

fn ada() -> Value {
    json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD})
}

/// A valid sign-up whose JSON is exactly `bytes` long (spaces before `}`).
fn padded_sign_up(email: &str, bytes: usize) -> String {
    let body = json!({"email": email, "name": "Big", "password": PASSWORD}).to_string();
    let head = &body[..body.len() - 1];
    let padding = bytes - body.len();
    format!("{head}{}}}", " ".repeat(padding))
}

fn me_status(instance: &Running, token: &str) -> u16 {
    client()
        .get(instance.url("/users/me"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Two instances on one database behind nginx; everything stops on drop.
struct Deployment {
    // Dropped in this order: nginx, the instances, then their directory.
    _nginx: Nginx,
    instances: [Running; 2],
    /// The PostgreSQL database both instances use.
    _db: TestDb,
    dir: TempDir,
    cert: PathBuf,
    https_port: u16,
    http_port: u16,
    bodies: AtomicUsize,
}

impl Deployment {
    /// `None` (after saying why) when nginx or openssl is missing.
    fn start() -> Option<Self> {
        if !tools_present() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::fresh_postgres();
        let cert = self_signed_certificate(dir.path());
        let first = start_instance(dir.path(), &db.url);
        // The first has migrated the database; the second joins it.
        let second = start_instance(dir.path(), &db.url);
        let [https_port, http_port] = free_ports();
        let conf = nginx_config(
            dir.path(),
            &cert,
            https_port,
            http_port,
            [&first.addr.to_string(), &second.addr.to_string()],
        );
        let nginx = Nginx::start(dir.path(), &conf, https_port);
        let deployment = Self {
            _nginx: nginx,
            instances: [first, second],
            _db: db,
            dir,
            cert: cert.join("cert.pem"),
            https_port,
            http_port,
            bodies: AtomicUsize::new(0),
        };
        let ready = deployment.get("/health/ready", &[]);
        assert_eq!(ready.status, 200, "ready through nginx: {ready:?}");
        Some(deployment)
    }

    fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https_port)
    }

    /// `curl` with `args` and the URL, trusting only the test certificate.
    fn curl_output(&self, url: &str, args: &[&str]) -> Output {
        Command::new("curl")
            .args(["-sS", "-D", "-", "--max-time", "30", "-H", "Expect:"])
            .arg("--cacert")
            .arg(&self.cert)
            .args([
                "--resolve",
                &format!("localhost:{}:127.0.0.1", self.https_port),
            ])
            .args(args)
            .arg(url)
            .output()
            .expect("curl runs")
    }

    fn curl(&self, url: &str, args: &[&str]) -> Reply {
        let output = self.curl_output(url, args);
        assert!(output.status.success(), "curl {args:?} {url}: {output:?}");
        Reply::parse(&output.stdout)
    }

    fn get(&self, path: &str, headers: &[&str]) -> Reply {
        let args: Vec<&str> = headers.iter().flat_map(|h| ["-H", h]).collect();
        self.curl(&self.https(path), &args)
    }

    fn post_json(&self, path: &str, body: &impl ToString) -> Reply {
        let file = self.body_file(&body.to_string());
        self.curl(
            &self.https(path),
            &[
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &format!("@{}", file.display()),
            ],
        )
    }

    /// A request body in a file of its own (curl reads it with `@path`).
    fn body_file(&self, body: &str) -> PathBuf {
        let n = self.bodies.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.path().join(format!("body-{n}.json"));
        std::fs::write(&path, body).unwrap();
        path
    }

    fn token(&self, email: &str) -> String {
        let issued = self.curl(
            &self.https("/token"),
            &[
                "--data-urlencode",
                &format!("username={email}"),
                "--data-urlencode",
                &format!("password={PASSWORD}"),
            ],
        );
        assert_eq!(issued.status, 200, "{issued:?}");
        issued.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST /token` with a wrong password, sent from the address `from`.
    fn wrong_sign_in(&self, from: &str, email: &str, header: &str) -> Reply {
        self.curl(
            &self.https("/token"),
            &[
                "--interface",
                from,
                "-H",
                header,
                "--data-urlencode",
                &format!("username={email}"),
                "-d",
                "password=not the password at all",
            ],
        )
    }

    /// Opens `wss://localhost:PORT/ws/7` (TLS by `openssl s_client`, the
    /// WebSocket by tungstenite over its pipes), sends `text`, and returns
    /// the reply, or the handshake's status when it is refused.
    fn websocket(&self, origin: Option<&str>, text: &str) -> Result<String, u16> {
        let mut tls = Command::new("openssl")
            .args(["s_client", "-quiet", "-nocommands", "-verify_return_error"])
            .args(["-alpn", "http/1.1", "-servername", "localhost"])
            .arg("-CAfile")
            .arg(&self.cert)
            .args(["-connect", &format!("127.0.0.1:{}", self.https_port)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_client starts");
        let pipes = Pipes {
            from: tls.stdout.take().unwrap(),
            to: tls.stdin.take().unwrap(),
        };
        let url = format!("ws://localhost:{}/ws/7", self.https_port);
        let origin = origin.map(str::to_owned);
        let text = text.to_owned();
        let (done, result) = mpsc::channel();
        thread::spawn(move || {
            let _ = done.send(echo_once(&url, origin.as_deref(), &text, pipes));
        });
        let outcome = result.recv_timeout(PATIENCE);
        let _ = tls.kill();
        let _ = tls.wait();
        outcome.expect("the WebSocket exchange ends in time")
    }

    /// Stops both instances with SIGTERM (each waits out its shutdown
    /// grace, so both at once); their JSON log lines.
    fn stop_instances(&mut self) -> Vec<Value> {
        for instance in &self.instances {
            instance.signal("TERM");
        }
        let mut lines = Vec::new();
        for instance in &mut self.instances {
            instance.wait_for_exit();
            lines.extend(
                instance
                    .stderr_lines()
                    .iter()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
            );
        }
        lines
    }
}

fn echo_once(url: &str, origin: Option<&str>, text: &str, pipes: Pipes) -> Result<String, u16> {
    use tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    let mut socket = match tungstenite::client::client(request, pipes) {
        Ok((socket, _)) => socket,
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            return Err(response.status().as_u16())
        }
        Err(e) => panic!("WebSocket handshake through nginx: {e}"),
    };
    socket.send(Message::text(text)).unwrap();
    loop {
        match socket.read().unwrap() {
            Message::Text(reply) => {
                let _ = socket.close(None);
                return Ok(reply.to_string());
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected the echo, got {other:?}"),
        }
    }
}

/// `openssl s_client`'s standard output and input as one stream.
struct Pipes {
    from: ChildStdout,
    to: ChildStdin,
}

impl Read for Pipes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.from.read(buf)
    }
}

impl Write for Pipes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.to.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.to.flush()
    }
}

/// A response as `curl -D -` printed it: the last header block and the body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Self {
        let mut text = String::from_utf8_lossy(raw).into_owned();
        loop {
            let (head, rest) = text
                .split_once("\r\n\r\n")
                .unwrap_or_else(|| panic!("a header block in {text:?}"));
            let mut lines = head.lines();
            let status: u16 = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("a status line in {head:?}"));
            if (100..200).contains(&status) {
                text = rest.to_owned();
                continue;
            }
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            return Self {
                status,
                headers,
                body: rest.to_owned(),
            };
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// nginx and openssl are installed; else says so (and fails under `CI`).
fn tools_present() -> bool {
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = [(NGINX, Path::new(NGINX).exists()), ("openssl", openssl)]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} not installed; `apt-get install -y nginx-light openssl` so the deployment is tested"
    );
    eprintln!("skipped: {} not installed", missing.join(" and "));
    false
}

/// `dir/tls/cert.pem` and `key.pem` for localhost and 127.0.0.1; returns
/// the directory.
fn self_signed_certificate(dir: &Path) -> PathBuf {
    let tls = dir.join("tls");
    std::fs::create_dir(&tls).unwrap();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(tls.join("key.pem"))
        .arg("-out")
        .arg(tls.join("cert.pem"))
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    tls
}

/// `user-api serve` as the unit starts it (its `ExecStart` flags with the
/// instance port 0) with the example environment file, on the deployment's
/// database, with cheap hashing and JSON logs.
fn start_instance(dir: &Path, database_url: &str) -> Running {
    let unit = std::fs::read_to_string(SHIPPED_UNIT).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some(UNIT_BINARY));
    let mut args: Vec<String> = words.map(|w| w.replace("%i", "0")).collect();
    args.extend(["--database-url".to_owned(), database_url.to_owned()]);
    args.extend(CHEAP_HASHING.iter().map(|a| (*a).to_owned()));
    args.extend(["--log-format", "json", "--signup-rate", "0"].map(str::to_owned));

    let settings = std::fs::read_to_string(SHIPPED_ENV).unwrap();
    let env: Vec<(&str, &str)> = settings
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('=').expect("NAME=value"))
        .collect();
    assert!(env.iter().all(|(name, _)| name.starts_with("USER_API_")));
    spawn_binary(&args, &env, dir)
}

/// Two ports free a moment ago (both held until both are known).
fn free_ports() -> [u16; 2] {
    let held = [(); 2].map(|()| TcpListener::bind("127.0.0.1:0").unwrap());
    held.map(|l| l.local_addr().unwrap().port())
}

/// The shipped site file with the test's ports, upstreams, certificate and
/// name, inside a main configuration that keeps every path in `dir`.
fn nginx_config(
    dir: &Path,
    tls: &Path,
    https_port: u16,
    http_port: u16,
    upstreams: [&str; 2],
) -> PathBuf {
    let mut site = std::fs::read_to_string(SHIPPED_NGINX).unwrap();
    let replacements = [
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https_port} ssl http2;"),
        ),
        ("listen [::]:443 ssl http2;", String::new()),
        ("listen 80;", format!("listen 127.0.0.1:{http_port};")),
        ("listen [::]:80;", String::new()),
        (
            "server 127.0.0.1:8001 ",
            format!("server {} ", upstreams[0]),
        ),
        (
            "server 127.0.0.1:8002 ",
            format!("server {} ", upstreams[1]),
        ),
        (
            "/etc/letsencrypt/live/api.example.com/fullchain.pem",
            tls.join("cert.pem").display().to_string(),
        ),
        (
            "/etc/letsencrypt/live/api.example.com/privkey.pem",
            tls.join("key.pem").display().to_string(),
        ),
        (
            "server_name api.example.com;",
            "server_name localhost;".to_owned(),
        ),
    ];
    for (shipped, test) in replacements {
        assert!(site.contains(shipped), "the shipped config has {shipped:?}");
        site = site.replace(shipped, &test);
    }
    let site_path = dir.join("user-api.conf");
    std::fs::write(&site_path, site).unwrap();

    let d = dir.display();
    // `user root`: the tests may run as root, and nginx would otherwise
    // run its worker as `nobody`, which cannot read the key in `dir`.
    let main = format!(
        "user root;\n\
         worker_processes 1;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n\
             access_log {d}/access.log;\n\
             client_body_temp_path {d}/client_body;\n\
             proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n\
             include {};\n\
         }}\n",
        site_path.display()
    );
    let main_path = dir.join("nginx.conf");
    std::fs::write(&main_path, main).unwrap();
    main_path
}

/// nginx in the foreground; stopped with SIGTERM (which also stops its
/// worker) when dropped.
struct Nginx {
    child: Child,
}

impl Nginx {
    fn start(dir: &Path, conf: &Path, https_port: u16) -> Self {
        let error_log = dir.join("error.log");
        let mut child = Command::new(NGINX)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(conf)
            .arg("-e")
            .arg(&error_log)
            .arg("-g")
            .arg(format!(
                "daemon off; pid {}; error_log {} info;",
                dir.join("nginx.pid").display(),
                error_log.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", https_port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "nginx exited with {status}: {}",
                    std::fs::read_to_string(&error_log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "nginx not listening in time");
            thread::sleep(POLL);
        }
        Self { child }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped unit, copied to a temporary directory with `ExecStart`
/// pointing at this build's binary (`systemd-analyze` checks it exists).
struct UnitCopy {
    dir: TempDir,
}

impl UnitCopy {
    /// The path of instance 8001 (the template is beside it).
    fn instance(&self) -> PathBuf {
        self.dir.path().join("user-api@8001.service")
    }
}

/// `None` (after saying why) when `systemd-analyze` is not installed.
fn unit_for_this_build() -> Option<UnitCopy> {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is not installed (Debian's systemd package)"
        );
        eprintln!("skipped: systemd-analyze not installed");
        return None;
    }
    let unit = std::fs::read_to_string(SHIPPED_UNIT).unwrap();
    let exec = format!("ExecStart={UNIT_BINARY} ");
    assert!(unit.contains(&exec), "the unit runs {UNIT_BINARY}");
    let unit = unit.replace(
        &exec,
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_user-api")),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("user-api@.service"), unit).unwrap();
    Some(UnitCopy { dir })
}
