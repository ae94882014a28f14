//! "A `201` … means the change is durable: it survives `kill -9` of the
//! service right after the response" (`API.md`, "Limits and behaviour under
//! load"), on the one SQLite file of "Storage": `serve` is killed again and
//! again while clients sign up, and every sign-up it ever answered 201 must
//! be there after each restart, with the id and email that 201 gave, able to
//! sign in.
//!
//! Each restart checks every user acknowledged so far in an admin's list,
//! and signs in those of the round just killed; the last restart signs in
//! every one (signing in thousands after each of 20 restarts would triple
//! the test's time and add little: the hash is in the row the list shows).
//!
//! Half the rounds kill at a random moment, the others the instant a client
//! has read a 201 (other sign-ups still in flight): that is the moment a
//! reply sent before its commit would be lost. `kill -9` ends the process,
//! not the machine: the kernel still writes what SQLite handed it, so this
//! catches an answer sent before the write reached the kernel (before the
//! commit, or a commit batched for later), not a missing `fsync`
//! (`synchronous=OFF`), which only a power loss would show.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

use super::{client, run_to_exit, serve, sqlite_url, Running, CHEAP_HASHING, PATIENCE};
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};

/// Kills, each followed by a restart on the same file.
const ROUNDS: usize = 20;
/// Clients signing up at once.
const CLIENTS: usize = 4;
/// When the kill may come, counted from the first 201 of the round.
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 20..=300;

/// A sign-up the service answered 201.
#[derive(Debug, Clone)]
struct Acknowledged {
    id: i64,
    email: String,
    round: usize,
    at: Instant,
}

#[test]
fn every_sign_up_answered_201_survives_repeated_kill_9_and_can_sign_in() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    create_admin(&dir);
    let mut acknowledged: Vec<Acknowledged> = Vec::new();
    let mut attempted: HashSet<String> = HashSet::new();
    let mut close_calls = 0;
    let mut sign_ins = 0;
    let mut last_round_from = 0;

    for round in 0..ROUNDS {
        let mut app = serve(&dir, &["--signup-rate", "0"], &[]);
        sign_ins += verify(&app, &acknowledged, &attempted, last_round_from, round);
        last_round_from = acknowledged.len();

        let delay = Duration::from_millis(rand::rng().random_range(KILL_AFTER_MS));
        let load = Load::start(&app, round);
        // The delay counts from the first 201, so a slow start on a busy
        // machine does not leave a round with nothing to check.
        load.next_201();
        thread::sleep(delay);
        if round % 2 == 1 {
            // Right after a response, with other sign-ups in flight.
            load.next_201();
        }
        // `Child::kill` is SIGKILL: no handler, no flush, no drain.
        app.child.kill().unwrap();
        let killed_at = Instant::now();
        app.wait_for_exit();
        let (acked, tried) = load.finish();

        let last = acked.iter().map(|a| a.at).max().unwrap();
        if killed_at.duration_since(last) < Duration::from_millis(1) {
            close_calls += 1;
        }
        acknowledged.extend(acked);
        attempted.extend(tried);
    }

    let app = serve(&dir, &["--signup-rate", "0"], &[]);
    let last = verify(&app, &acknowledged, &attempted, 0, ROUNDS);
    sign_ins += last;
    eprintln!(
        "crash: {ROUNDS} kill -9 rounds on one SQLite file, {} sign-ups acknowledged with 201, \
         {last} verified after the last restart ({sign_ins} sign-ins in all; \
         {close_calls} kills < 1 ms after a 201), {:.1} s",
        acknowledged.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(last, acknowledged.len());
}

/// `user-api admin create` on `dir/user-api.db`, so `verify` can list users.
fn create_admin(dir: &TempDir) {
    let url = sqlite_url(&dir.path().join("user-api.db"));
    let mut args = vec![
        "admin",
        "create",
        "--email",
        ADMIN_EMAIL,
        "--name",
        "Admin",
        "--database-url",
        &url,
    ];
    args.extend(CHEAP_HASHING);
    let created = run_to_exit(&args, &[], dir.path(), Some(&format!("{ADMIN_PASSWORD}\n")));
    assert!(created.status.success(), "{created:?}");
}

/// Checks, after kill number `round`, that every acknowledged sign-up is
/// listed with the id and email its 201 gave, that nothing listed was never
/// asked for, and that those from `sign_in_from` on sign in. Returns how many
/// signed in.
fn verify(
    app: &Running,
    acknowledged: &[Acknowledged],
    attempted: &HashSet<String>,
    sign_in_from: usize,
    round: usize,
) -> usize {
    let listed = list_all(app);
    for ack in acknowledged {
        assert_eq!(
            listed.get(&ack.id),
            Some(&ack.email),
            "after kill {round}: user {} answered 201 (id {}) in round {} is not stored as such",
            ack.email,
            ack.id,
            ack.round
        );
    }
    for (id, email) in &listed {
        assert!(
            email == ADMIN_EMAIL || attempted.contains(email),
            "after kill {round}: user {id} {email} was never signed up"
        );
    }

    // Two at a time: the machine has two cores, and hashing is bounded.
    let to_sign_in = &acknowledged[sign_in_from..];
    let halves: Vec<&[Acknowledged]> = to_sign_in
        .chunks(to_sign_in.len().div_ceil(2).max(1))
        .collect();
    let token_url = app.url("/token");
    let token_url = token_url.as_str();
    thread::scope(|s| {
        let workers: Vec<_> = halves
            .into_iter()
            .map(|half| {
                s.spawn(move || {
                    let client = client();
                    for ack in half {
                        let response = client
                            .post(token_url)
                            .form(&[("username", ack.email.as_str()), ("password", PASSWORD)])
                            .send()
                            .unwrap();
                        assert_eq!(
                            response.status(),
                            StatusCode::OK,
                            "after kill {round}: {} (201 in round {}) cannot sign in",
                            ack.email,
                            ack.round
                        );
                    }
                    half.len()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

/// Every user, id → email, listed by an admin page by page.
fn list_all(app: &Running) -> HashMap<i64, String> {
    let client = client();
    let response = client
        .post(app.url("/token"))
        .form(&[("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut listed = HashMap::new();
    let mut after = 0;
    loop {
        let response = client
            .get(app.url("/users"))
            .query(&[("after_id", after), ("limit", 100)])
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Vec<Value> = response.json().unwrap();
        let Some(last) = page.last() else {
            return listed;
        };
        after = last["id"].as_i64().unwrap();
        for user in &page {
            let email = user["email"].as_str().unwrap().to_owned();
            listed.insert(user["id"].as_i64().unwrap(), email);
        }
    }
}

/// `CLIENTS` threads signing up without pause until `finish`.
struct Load {
    stop: Arc<AtomicBool>,
    /// Set by `next_201`; the next client to read a 201 clears it and says
    /// so on `a_201_arrived`.
    kill_on_next_201: Arc<AtomicBool>,
    a_201_arrived: mpsc::Receiver<()>,
    clients: Vec<thread::JoinHandle<(Vec<Acknowledged>, Vec<String>)>>,
}

impl Load {
    fn start(app: &Running, round: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let kill_on_next_201 = Arc::new(AtomicBool::new(false));
        let (arrived, a_201_arrived) = mpsc::channel();
        let clients = (0..CLIENTS)
            .map(|n| {
                let url = app.url("/users");
                let stop = Arc::clone(&stop);
                let kill_on_next_201 = Arc::clone(&kill_on_next_201);
                let arrived = arrived.clone();
                thread::spawn(move || {
                    let http = Client::builder().timeout(PATIENCE).build().unwrap();
                    let mut acked = Vec::new();
                    let mut tried = Vec::new();
                    for i in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let email = format!("crash-{round}-{n}-{i}@example.com");
                        tried.push(email.clone());
                        let sent = http
                            .post(&url)
                            .json(&json!({"email": email, "name": "Crash", "password": PASSWORD}))
                            .send();
                        // Only a whole 201, body read, counts as an answer.
                        let Ok(response) = sent else { continue };
                        let status = response.status();
                        let location = response.headers().get("location").cloned();
                        let Ok(body) = response.json::<Value>() else {
                            continue;
                        };
                        let at = Instant::now();
                        if status != StatusCode::CREATED {
                            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                            continue;
                        }
                        let id = body["id"].as_i64().expect("an id");
                        assert_eq!(body["email"], email.as_str());
                        assert_eq!(
                            location.as_ref().and_then(|l| l.to_str().ok()),
                            Some(format!("/users/{id}").as_str())
                        );
                        acked.push(Acknowledged {
                            id,
                            email,
                            round,
                            at,
                        });
                        if kill_on_next_201.swap(false, Ordering::SeqCst) {
                            let _ = arrived.send(());
                        }
                    }
                    (acked, tried)
                })
            })
            .collect();
        Self {
            stop,
            kill_on_next_201,
            a_201_arrived,
            clients,
        }
    }

    /// Waits until a client has read a 201 from now on.
    fn next_201(&self) {
        self.kill_on_next_201.store(true, Ordering::SeqCst);
        self.a_201_arrived
            .recv_timeout(PATIENCE)
            .expect("a sign-up answered 201");
    }

    /// Stops the clients: the sign-ups answered 201, and every email tried.
    fn finish(self) -> (Vec<Acknowledged>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut acked = Vec::new();
        let mut tried = Vec::new();
        for client in self.clients {
            let (a, t) = client.join().expect("a sign-up client");
            acked.extend(a);
            tried.extend(t);
        }
        (acked, tried)
    }
}
