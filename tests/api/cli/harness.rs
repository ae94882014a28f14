//! The child-process harness: `user-api` started as a real process in its
//! own temporary directory. Used by `cli/` and by the PostgreSQL-only tests
//! of `tests/api_postgres/` (several processes on one database).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::json;
use tempfile::TempDir;

use crate::support::binary;

/// Cheap argon2 parameters for tests that are not about hashing cost.
pub(crate) const CHEAP_HASHING: [&str; 4] =
    ["--argon2-memory-kib", "1024", "--argon2-iterations", "1"];

/// How long a child may take to start, answer or exit before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// How often a bounded wait looks again.
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// A `user-api serve` child process; killed when dropped.
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) stdout: Receiver<String>,
    pub(crate) stdout_seen: Vec<String>,
    pub(crate) stderr: Option<JoinHandle<Vec<String>>>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The `/metrics` URL the listening line names (with `--metrics-addr`).
    pub(crate) fn metrics_url(&self) -> String {
        self.stdout_seen
            .iter()
            .find_map(|line| line.split("(metrics on ").nth(1))
            .and_then(|rest| rest.strip_suffix(')'))
            .expect("the listening line names the metrics address")
            .to_owned()
    }

    /// Sends `SIG{name}` with the `kill` command (no libc in this crate).
    pub(crate) fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("the kill command runs");
        assert!(sent.success(), "kill -{name} {}", self.child.id());
    }

    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("child status").is_none()
    }

    /// The exit status, once the process has exited within `PATIENCE`.
    pub(crate) fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "user-api still running after {PATIENCE:?}"
            );
            thread::sleep(POLL);
        }
    }

    /// Everything the process wrote to stdout; call after it exited.
    pub(crate) fn stdout_lines(&mut self) -> Vec<String> {
        while let Ok(line) = self.stdout.recv_timeout(PATIENCE) {
            self.stdout_seen.push(line);
        }
        self.stdout_seen.clone()
    }

    /// Everything the process wrote to stderr; call after it exited.
    pub(crate) fn stderr_lines(&mut self) -> Vec<String> {
        self.stderr
            .take()
            .map(|h| h.join().expect("stderr reader"))
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `user-api ARGS` in `cwd` with `env` added to a clean environment,
/// and waits for the line `user-api listening on http://ADDR`.
pub(crate) fn spawn_binary<S: AsRef<OsStr>>(
    args: &[S],
    env: &[(&str, &str)],
    cwd: &Path,
) -> Running {
    let mut child = user_api(args, env, cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("user-api starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, stdout_rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().expect("piped stderr");
    let stderr = thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut running = Running {
        child,
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        stdout: stdout_rx,
        stdout_seen: Vec::new(),
        stderr: Some(stderr),
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match running.stdout.recv_timeout(left) {
            Ok(line) => {
                running.stdout_seen.push(line.clone());
                if let Some(addr) = line.strip_prefix("user-api listening on http://") {
                    let addr = addr.split_whitespace().next().unwrap_or_default();
                    running.addr = addr.parse().expect("a socket address");
                    return running;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("no listening line within {PATIENCE:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = running.wait_for_exit();
                panic!(
                    "user-api exited with {status} before listening: {:?}",
                    running.stderr_lines()
                )
            }
        }
    }
}

/// `user-api serve` on `dir/user-api.db`, port 0, cheap hashing, plus `flags`.
pub(crate) fn serve(dir: &TempDir, flags: &[&str], env: &[(&str, &str)]) -> Running {
    spawn_binary(&serve_args(dir, flags), env, dir.path())
}

/// `serve` with the test defaults (port 0, `dir/user-api.db`, cheap
/// hashing) for each flag that `flags` does not give itself.
pub(crate) fn serve_args(dir: &TempDir, flags: &[&str]) -> Vec<String> {
    let url = sqlite_url(&dir.path().join("user-api.db"));
    let defaults = [
        ("--listen", "127.0.0.1:0"),
        ("--database-url", url.as_str()),
        (CHEAP_HASHING[0], CHEAP_HASHING[1]),
        (CHEAP_HASHING[2], CHEAP_HASHING[3]),
    ];
    let mut args = vec!["serve".to_owned()];
    for (flag, value) in defaults {
        if !flags.contains(&flag) {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    args
}

/// A process that ran to its end.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Finished {
    /// Exited by itself (not by a signal) with a non-zero code.
    pub(crate) fn failed(&self) -> bool {
        self.status.code().is_some_and(|c| c != 0)
    }

    pub(crate) fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Runs `user-api ARGS` to its end (at most `PATIENCE`), feeding `stdin`.
/// `RUST_BACKTRACE=1`, so a panic could not hide as a short message.
pub(crate) fn run_to_exit<S: AsRef<OsStr> + std::fmt::Debug>(
    args: &[S],
    env: &[(&str, &str)],
    cwd: &Path,
    stdin: Option<&str>,
) -> Finished {
    let mut child = user_api(args, env, cwd)
        .env("RUST_BACKTRACE", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("user-api starts");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // The child may exit before reading it all; that is its answer.
        let _ = pipe.write_all(text.as_bytes());
    }
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("child status") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("user-api {args:?} still running after {PATIENCE:?}");
        }
        thread::sleep(POLL);
    };
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// `user-api serve` in `dir` on `dir/user-api.db`, expected to stop by itself.
pub(crate) fn run_serve_to_exit(dir: &TempDir, flags: &[&str]) -> Finished {
    run_to_exit(&serve_args(dir, flags), &[], dir.path(), None)
}

pub(crate) fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// The binary with a clean slate: no inherited `USER_API_*` or `RUST_LOG`.
pub(crate) fn user_api<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)], cwd: &Path) -> Command {
    let mut command = Command::new(binary());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("USER_API_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_LOG")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd);
    command
}

pub(crate) fn sqlite_url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

/// Raises `PRAGMA user_version` as a newer `user-api` would have.
pub(crate) fn set_schema_version(db: &Path, version: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
}

pub(crate) fn client() -> Client {
    Client::builder().timeout(PATIENCE).build().unwrap()
}

pub(crate) fn sign_up(app: &Running, email: &str, password: &str) -> Response {
    client()
        .post(app.url("/users"))
        .json(&json!({"email": email, "name": "Ada", "password": password}))
        .send()
        .unwrap()
}

pub(crate) fn sign_in(app: &Running, email: &str, password: &str) -> Response {
    client()
        .post(app.url("/token"))
        .form(&[("username", email), ("password", password)])
        .send()
        .unwrap()
}

/// Signs up, signs in, reads `/users/me`, stops the process, and checks
/// that nothing it logged holds the password, the token, the token's hash
/// (hex or as bytes) or an argon2 hash.
pub(crate) fn secrets_stay_out_of_the_log(mut app: Running) {
    use sha2::{Digest, Sha256};
    const SECRET: &str = "tangerine submarine 1947";
    assert_eq!(
        sign_up(&app, "ada@example.com", SECRET).status(),
        reqwest::StatusCode::CREATED
    );
    let token = sign_in(&app, "ada@example.com", SECRET)
        .json::<serde_json::Value>()
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = client()
        .get(app.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(me.status(), reqwest::StatusCode::OK);
    app.signal("TERM");
    app.wait_for_exit();
    let lines = app.stderr_lines();
    assert!(lines.len() > 5, "trace output was written: {lines:?}");
    let hash = Sha256::digest(token.as_bytes());
    let secrets = [
        SECRET.to_owned(),
        token.clone(),
        hex::encode(hash),
        format!("{:?}", hash.as_slice()),
        "$argon2".to_owned(),
    ];
    for line in &lines {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "{secret} in the log: {line}"
            );
        }
    }
}
