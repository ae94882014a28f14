//! `user-api db backup --to PATH` (`API.md`, "Command line"): an online copy
//! of the SQLite store that `--database-url` names, taken while `serve` runs
//! on the same file and keeps writing. The copy is one snapshot: every user
//! answered 201 before the backup began is in it, and `serve` on the copy
//! lets them sign in. It never overwrites a file, never creates the source,
//! and points PostgreSQL users to `pg_dump`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

use super::{client, run_to_exit, serve, sign_in, sqlite_url, Finished, Running, PATIENCE};
use crate::support::PASSWORD;

/// Users written straight into the file before `serve` starts: a few MiB,
/// so the copy takes many steps while sign-ups commit between them.
const BULK_USERS: usize = 20_000;
/// Clients signing up at once during the backup (the machine has 2 cores).
const CLIENTS: usize = 2;
/// Sign-ups answered before the backup begins.
const ANSWERED_BEFORE: usize = 10;

#[test]
fn backup_while_serve_signs_users_up_holds_everyone_answered_201_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("user-api.db");
    migrate(&dir);
    insert_bulk_users(&db);
    let app = serve(&dir, &["--signup-rate", "0"], &[]);
    let load = SignUps::start(&app);
    load.wait_for(ANSWERED_BEFORE);

    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join("copy.db");
    let began = Instant::now();
    let backup = backup(&dir, &db, &copy);
    let ended = Instant::now();
    let answered = load.finish();

    assert!(backup.status.success(), "{backup:?}");
    let (reported_users, reported_bytes) = reported(&backup);
    let before: Vec<&Answered> = answered.iter().filter(|a| a.at < began).collect();
    let during = answered
        .iter()
        .filter(|a| a.at >= began && a.at < ended)
        .count();
    assert!(before.len() >= ANSWERED_BEFORE);
    assert!(
        during > 0,
        "no sign-up was answered while the backup ran, so this run proves nothing: {backup:?}"
    );

    assert_eq!(
        dir_entries(out.path()),
        ["copy.db"],
        "only the copy is left"
    );
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), reported_bytes);
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let emails: HashSet<String> = conn
        .prepare("SELECT email FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // The outbox is in the file too, from the same moment: each user signed
    // up over HTTP has its `user.created` event, and no event lacks its user.
    let ids = |sql: &str| -> HashSet<i64> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        ids("SELECT user_id FROM events WHERE type = 'user.created'"),
        ids("SELECT id FROM users WHERE email NOT LIKE 'bulk-%'"),
        "the copy's events and users differ"
    );
    drop(conn);
    assert_eq!(emails.len() as u64, reported_users);
    for user in &before {
        assert!(
            emails.contains(&user.email),
            "{} (id {}) was answered 201 before the backup began but is not in the copy",
            user.email,
            user.id
        );
    }
    let tried: HashSet<&str> = answered.iter().map(|a| a.email.as_str()).collect();
    let extra = emails
        .iter()
        .filter(|e| !e.starts_with("bulk-") && !tried.contains(e.as_str()))
        .count();
    assert_eq!(extra, 0, "the copy holds users nobody signed up");
    assert!(emails.len() >= BULK_USERS + before.len());

    let restored = serve(&out, &["--database-url", &sqlite_url(&copy)], &[]);
    for user in &before {
        let response = sign_in(&restored, &user.email, PASSWORD);
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{} cannot sign in on the copy",
            user.email
        );
    }
    eprintln!(
        "backup: {} users, {reported_bytes} bytes copied in {:.0} ms while {during} sign-ups \
         were answered; {} answered before it began sign in on the copy",
        reported_users,
        ended.duration_since(began).as_secs_f64() * 1000.0,
        before.len()
    );
}

#[test]
fn backup_refuses_a_target_that_exists_and_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("user-api.db");
    migrate(&dir);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy.db");
    std::fs::write(&target, "yesterday's backup, precious").unwrap();

    let refused = backup(&dir, &db, &target);

    assert!(refused.failed(), "{refused:?}");
    let lines = refused.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].starts_with("user-api: "), "{lines:?}");
    assert!(lines[0].contains("already exists"), "{lines:?}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "yesterday's backup, precious"
    );
    assert_eq!(dir_entries(out.path()), ["copy.db"], "no partial copy left");
}

#[test]
fn backup_of_a_postgres_database_is_refused_with_a_pointer_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("copy.db");
    let args = [
        "db",
        "backup",
        "--to",
        target.to_str().unwrap(),
        "--database-url",
        "postgres://ada:s3cret-pw@127.0.0.1:9/users",
    ];

    let refused = run_to_exit(&args, &[], dir.path(), None);

    assert!(refused.failed(), "{refused:?}");
    let lines = refused.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains("pg_dump"), "{lines:?}");
    assert!(!refused.stderr.contains("s3cret-pw"), "{lines:?}");
    assert!(dir_entries(dir.path()).is_empty(), "nothing is written");
}

#[test]
fn backup_of_a_missing_database_fails_without_creating_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy.db");

    let refused = backup(&dir, &missing, &target);

    assert!(refused.failed(), "{refused:?}");
    let lines = refused.stderr_lines();
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(
        lines[0].contains(&missing.display().to_string()),
        "names the file: {lines:?}"
    );
    assert!(dir_entries(dir.path()).is_empty(), "no source is created");
    assert!(dir_entries(out.path()).is_empty(), "no copy is created");
}

/// `user-api db backup --to TARGET --database-url sqlite:DB` in `dir`.
fn backup(dir: &TempDir, db: &Path, target: &Path) -> Finished {
    let url = sqlite_url(db);
    let args = [
        "db",
        "backup",
        "--to",
        target.to_str().unwrap(),
        "--database-url",
        &url,
    ];
    run_to_exit(&args, &[], dir.path(), None)
}

/// The users and bytes the result line reports: `…: N users, B bytes, …`.
fn reported(finished: &Finished) -> (u64, u64) {
    let line = finished.stdout.trim();
    let number_before = |word: &str| -> u64 {
        let at = line
            .find(word)
            .unwrap_or_else(|| panic!("{word:?} in {line:?}"));
        line[..at]
            .split_whitespace()
            .next_back()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a number before {word:?} in {line:?}"))
    };
    (number_before(" users"), number_before(" bytes"))
}

fn migrate(dir: &TempDir) {
    let url = sqlite_url(&dir.path().join("user-api.db"));
    let migrated = run_to_exit(&["migrate", "--database-url", &url], &[], dir.path(), None);
    assert!(migrated.status.success(), "{migrated:?}");
}

/// `BULK_USERS` rows in one transaction. Their hash is no password's: they
/// are ballast for the copy, never signed in.
fn insert_bulk_users(db: &Path) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO users (email, name, name_lower, role, password_hash, created_at, updated_at)
                 VALUES (?1, 'Bulk', 'bulk', 'user', '$argon2id$v=19$m=1024,t=1,p=1$none', 0, 0)",
            )
            .unwrap();
        for i in 0..BULK_USERS {
            insert.execute([format!("bulk-{i}@example.com")]).unwrap();
        }
    }
    tx.commit().unwrap();
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A sign-up the service answered 201.
struct Answered {
    id: i64,
    email: String,
    at: Instant,
}

/// `CLIENTS` threads signing up without pause until `finish`; any answer
/// but 201 fails the test (the backup must not make writers fail).
struct SignUps {
    stop: Arc<AtomicBool>,
    answered: mpsc::Receiver<()>,
    clients: Vec<thread::JoinHandle<Vec<Answered>>>,
}

impl SignUps {
    fn start(app: &Running) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (tell, answered) = mpsc::channel();
        let clients = (0..CLIENTS)
            .map(|n| {
                let url = app.url("/users");
                let stop = Arc::clone(&stop);
                let tell = tell.clone();
                thread::spawn(move || {
                    let http = client();
                    let mut answered = Vec::new();
                    for i in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let email = format!("live-{n}-{i}@example.com");
                        let response = http
                            .post(&url)
                            .json(&json!({"email": email, "name": "Live", "password": PASSWORD}))
                            .send()
                            .unwrap();
                        let status = response.status();
                        let body: Value = response.json().unwrap();
                        assert_eq!(status, StatusCode::CREATED, "{email}: {body}");
                        answered.push(Answered {
                            id: body["id"].as_i64().unwrap(),
                            email,
                            at: Instant::now(),
                        });
                        let _ = tell.send(());
                    }
                    answered
                })
            })
            .collect();
        Self {
            stop,
            answered,
            clients,
        }
    }

    /// Waits until `n` sign-ups were answered.
    fn wait_for(&self, n: usize) {
        for _ in 0..n {
            self.answered
                .recv_timeout(PATIENCE)
                .expect("sign-ups are answered");
        }
    }

    fn finish(self) -> Vec<Answered> {
        self.stop.store(true, Ordering::SeqCst);
        self.clients
            .into_iter()
            .flat_map(|c| c.join().expect("a sign-up client"))
            .collect()
    }
}
