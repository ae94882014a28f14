//! "Moving users in and out": `users import` from every format, with hashes
//! made by reference implementations (`fixtures.py`: PyPI's bcrypt and
//! argon2-cffi, Python's hashlib, Firebase's published sample), each user
//! signing in over HTTP with its source password and holding argon2id
//! after; refusals that name their line and write nothing; and an export →
//! import round trip compared by email. Runs on SQLite (`tests/api`) and
//! PostgreSQL (`tests/api_postgres`), on the real binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use crate::cli::{client, run_to_exit, serve, sign_in, Finished, Running};
use crate::support::TestDb;

const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "admin passphrase for tests 7";

/// Firebase's sample project (github.com/firebase/scrypt's README).
const FIREBASE: [&str; 8] = [
    "--firebase-signer-key",
    "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
    "--firebase-salt-separator",
    "Bw==",
    "--firebase-rounds",
    "8",
    "--firebase-mem-cost",
    "14",
];

/// A virtualenv with the pinned reference implementations, made once per
/// build directory (as `.ci/schemathesis` makes its own).
fn python() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/transfer");
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hash-fixtures-venv");
        let requirements = std::fs::read(here.join("requirements.txt")).unwrap();
        let installed = std::fs::read(venv.join("installed.txt")).ok();
        if installed.as_deref() != Some(&requirements[..]) {
            let _ = std::fs::remove_dir_all(&venv);
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 runs");
            assert!(made.success(), "python3 -m venv failed (python3-venv?)");
            let pip = Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check", "-r"])
                .arg(here.join("requirements.txt"))
                .status()
                .unwrap();
            assert!(pip.success(), "pip install of the reference hashers failed");
            std::fs::write(venv.join("installed.txt"), &requirements).unwrap();
        }
        venv.join("bin/python")
    })
}

/// Writes the fixture files into `dir`; the users that must sign in, with
/// their passwords, per format.
fn fixtures(dir: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/transfer/fixtures.py");
    let out = Command::new(python())
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn import(db: &TestDb, dir: &TempDir, format: &str, file: &str, extra: &[&str]) -> Finished {
    let path = dir.path().join(file);
    let mut args = vec![
        "users",
        "import",
        "--database-url",
        &db.url,
        "--format",
        format,
        "--from",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_to_exit(&args, &[], dir.path(), None)
}

/// Every user of the store by email, as `users export` writes them.
fn export(db: &TestDb, dir: &TempDir) -> BTreeMap<String, Value> {
    let done = run_to_exit(
        &["users", "export", "--database-url", &db.url],
        &[],
        dir.path(),
        None,
    );
    assert!(done.status.success(), "{done:?}");
    done.stdout
        .lines()
        .map(|line| {
            let user: Value = serde_json::from_str(line).unwrap();
            (user["email"].as_str().unwrap().to_owned(), user)
        })
        .collect()
}

fn admin_create(db: &TestDb, dir: &TempDir) {
    let done = run_to_exit(
        &[
            "admin",
            "create",
            "--email",
            ADMIN_EMAIL,
            "--name",
            "Root",
            "--database-url",
            &db.url,
        ],
        &[],
        dir.path(),
        Some(ADMIN_PASSWORD),
    );
    assert!(done.status.success(), "{done:?}");
}

fn serve_on(db: &TestDb, dir: &TempDir) -> Running {
    serve(dir, &["--database-url", &db.url], &[])
}

fn admin_token(app: &Running) -> String {
    let response = sign_in(app, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `type` of every event in the feed.
fn event_types(app: &Running, token: &str) -> Vec<String> {
    let events: Value = client()
        .get(app.url("/events?limit=1000"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_format_imports_and_its_users_sign_in_with_their_source_passwords_then_hold_argon2id() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh();
    let signins = fixtures(dir.path());
    // A store that already has a user: imports go in beside it.
    admin_create(&db, &dir);
    for (format, file, extra) in [
        ("auth0", "auth0.json", &[][..]),
        ("supabase", "supabase.csv", &[]),
        ("keycloak", "keycloak.json", &[]),
        ("django", "django.json", &[]),
        ("firebase", "firebase.json", &FIREBASE[..]),
        ("user-api", "user-api.jsonl", &[]),
    ] {
        let done = import(&db, &dir, format, file, extra);
        assert!(done.status.success(), "{format}: {done:?}");
        assert!(done.stdout.starts_with("imported "), "{format}: {done:?}");
    }
    // The Supabase JSON form: the same rows, already there.
    let again = import(
        &db,
        &dir,
        "supabase",
        "supabase.json",
        &["--on-conflict", "skip"],
    );
    assert!(
        again.stdout.contains("imported 0 users, skipped 2"),
        "{again:?}"
    );

    let before = export(&db, &dir);
    assert_eq!(before.len(), 1 + 3 + 2 + 4 + 3 + 2 + 3, "{before:#?}");
    assert_eq!(before["auth0.user@example.com"]["name"], "Ada Auth0");
    assert_eq!(before["kc256@example.com"]["name"], "Kay Sha");
    assert_eq!(before["supa@example.com"]["name"], "Supa Base");
    assert_eq!(before["kcoff@example.com"]["is_active"], false);
    assert_eq!(before["scrypt@example.com"]["role"], "admin");
    assert_eq!(
        before["dj@example.com"]["role"], "user",
        "role is user outside user-api's format"
    );
    assert_eq!(before["social@example.com"]["password_hash"], Value::Null);
    assert!(before["sample@example.com"]["password_hash"]
        .as_str()
        .unwrap()
        .starts_with("$firebase-scrypt$r=8,m=14$"));

    let app = serve_on(&db, &dir);
    let token = admin_token(&app);
    for (format, users) in &signins {
        for (n, (email, password)) in users.iter().enumerate() {
            let response = sign_in(&app, email, password);
            assert_eq!(response.status(), StatusCode::OK, "{format}: {email}");
            // Fewer wrong attempts than the address may make in a minute.
            if n == 0 {
                let wrong = sign_in(&app, email, "not the password at all");
                // RFC 6749's invalid_grant.
                assert_eq!(wrong.status(), StatusCode::BAD_REQUEST, "{format}: {email}");
            }
        }
    }
    // Without a usable password, no password lets them in.
    for email in [
        "social@example.com",
        "dj3@example.com",
        "oauth@example.com",
        "google@example.com",
    ] {
        let status = sign_in(&app, email, "!").status();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{email}");
    }
    // One `user.created` per imported user, beside the admin's.
    let types = event_types(&app, &token);
    assert_eq!(types.len(), before.len(), "{types:?}");
    assert!(types.iter().all(|t| t == "user.created"), "{types:?}");

    let after = export(&db, &dir);
    for (format, users) in &signins {
        for (email, _) in users {
            let hash = after[email]["password_hash"].as_str().unwrap();
            assert!(hash.starts_with("$argon2id$"), "{format}: {email}: {hash}");
        }
    }
    // Keycloak's argon2id (m=7168, t=5) is stronger than the test's
    // hashing: kept as it came.
    assert_eq!(
        after["kcargon@example.com"]["password_hash"],
        before["kcargon@example.com"]["password_hash"]
    );
    assert_ne!(
        after["dj@example.com"]["password_hash"],
        before["dj@example.com"]["password_hash"]
    );
}

#[test]
fn a_bad_record_a_cost_over_the_cap_an_unknown_hash_or_a_repeated_email_stops_the_import_at_its_line_and_writes_nothing(
) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::fresh();
    admin_create(&db, &dir);
    let good = |n: u32| {
        format!(
            "{{\"email\":\"u{n}@example.com\",\"name\":\"U {n}\",\"password_hash\":\"$2b$04$abcdefghijklmnopqrstuu5ZQUq4pvEE9N8pF7zvYlXkmCRzOXhJ.\"}}\n"
        )
    };
    let file = |name: &str, lines: &[String]| {
        std::fs::write(dir.path().join(name), lines.concat()).unwrap();
        name.to_owned()
    };
    let cost = std::fs::read_to_string(dir.path().join({
        fixtures(dir.path());
        "bcrypt-cost.txt"
    }))
    .unwrap();
    let cases = [
        (
            file("bad.jsonl", &[good(1), good(2), "{\"email\": \n".into()]),
            "line 3: not a JSON object",
        ),
        (
            file(
                "cost.jsonl",
                &[
                    good(1),
                    format!("{{\"email\":\"c@example.com\",\"password_hash\":\"{cost}\"}}\n"),
                ],
            ),
            "line 2: password hash: bcrypt cost 15 is above the cap of 14",
        ),
        (
            file(
                "md5.jsonl",
                &[
                    good(1),
                    good(2),
                    good(3),
                    "{\"email\":\"m@example.com\",\"password_hash\":\"md5$abc$0123\"}\n".into(),
                ],
            ),
            "line 4: password hash: unknown password hash kind \"md5\"",
        ),
        (
            file("twice.jsonl", &[good(1), good(2), good(1)]),
            "line 3: email u1@example.com is also on line 1",
        ),
        (
            file(
                "email.jsonl",
                &[good(1), "{\"email\":\"not an email\"}\n".into()],
            ),
            "line 2: email:",
        ),
        (
            file(
                "taken.jsonl",
                &[good(1), format!("{{\"email\":\"{ADMIN_EMAIL}\"}}\n")],
            ),
            "line 2: email already registered",
        ),
    ];
    for (name, expected) in &cases {
        let done = import(&db, &dir, "user-api", name, &[]);
        assert!(done.failed(), "{name}: {done:?}");
        let lines = done.stderr_lines();
        assert_eq!(lines.len(), 1, "{name}: one line: {lines:?}");
        assert!(lines[0].contains(expected), "{name}: {lines:?}");
        assert!(
            lines[0].ends_with("nothing was imported"),
            "{name}: {lines:?}"
        );
    }
    // A JSON array: the record's position is its line.
    std::fs::write(
        dir.path().join("auth0.json"),
        r#"[{"email":"a@example.com"},{"email":"b@example.com","password_hash":"plain"}]"#,
    )
    .unwrap();
    let done = import(&db, &dir, "auth0", "auth0.json", &[]);
    assert!(
        done.stderr
            .contains("line 2: password hash: unknown password hash kind"),
        "{done:?}"
    );

    // A dry run checks everything and writes nothing.
    let dry = import(
        &db,
        &dir,
        "user-api",
        "taken.jsonl",
        &["--dry-run", "--on-conflict", "skip"],
    );
    assert!(dry.status.success(), "{dry:?}");
    assert!(
        dry.stdout.contains("1 users would be imported, 1 skipped"),
        "{dry:?}"
    );

    let app = serve_on(&db, &dir);
    let token = admin_token(&app);
    assert_eq!(event_types(&app, &token), ["user.created"]);
    drop(app);
    assert_eq!(export(&db, &dir).len(), 1);

    // Skipping the registered email imports the rest.
    let skip = import(
        &db,
        &dir,
        "user-api",
        "taken.jsonl",
        &["--on-conflict", "skip"],
    );
    assert!(
        skip.stdout.contains("imported 1 users, skipped 1"),
        "{skip:?}"
    );
    assert_eq!(export(&db, &dir).len(), 2);
}

#[test]
fn an_export_imports_into_another_store_whole_with_ids_assigned_anew() {
    let dir = tempfile::tempdir().unwrap();
    let source = TestDb::fresh();
    fixtures(dir.path());
    admin_create(&source, &dir);
    for (format, file, extra) in [
        ("keycloak", "keycloak.json", &[][..]),
        ("firebase", "firebase.json", &FIREBASE[..]),
        ("user-api", "user-api.jsonl", &[]),
        ("django", "django.json", &[]),
    ] {
        assert!(import(&source, &dir, format, file, extra).status.success());
    }
    let exported = dir.path().join("users.jsonl");
    let done = run_to_exit(
        &[
            "users",
            "export",
            "--database-url",
            &source.url,
            "--to",
            exported.to_str().unwrap(),
        ],
        &[],
        dir.path(),
        None,
    );
    assert!(done.status.success(), "{done:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&exported).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The target has a user of its own: the imported ones get new ids.
    let target = TestDb::fresh();
    let own = dir.path().join("own.jsonl");
    std::fs::write(&own, "{\"email\":\"own@example.com\"}\n").unwrap();
    let path = own.to_str().unwrap();
    let args = [
        "users",
        "import",
        "--database-url",
        &target.url,
        "--format",
        "user-api",
        "--from",
        path,
    ];
    assert!(run_to_exit(&args, &[], dir.path(), None).status.success());
    let path = exported.to_str().unwrap();
    let args = [
        "users",
        "import",
        "--database-url",
        &target.url,
        "--format",
        "user-api",
        "--from",
        path,
    ];
    let done = run_to_exit(&args, &[], dir.path(), None);
    assert!(done.status.success(), "{done:?}");

    let mut copied = export(&target, &dir);
    assert!(copied.remove("own@example.com").is_some());
    assert_eq!(
        copied,
        export(&source, &dir),
        "the same users, field by field"
    );
    assert_eq!(copied[ADMIN_EMAIL]["role"], "admin");
    assert_eq!(
        copied["scrypt@example.com"]["created_at"],
        "2020-01-02T03:04:05Z"
    );
    assert_eq!(
        copied["scrypt@example.com"]["updated_at"],
        "2021-01-02T03:04:05Z"
    );
    assert_eq!(copied["kcoff@example.com"]["is_active"], false);

    // Everyone signs in on the copy as on the source.
    let app = serve_on(&target, &dir);
    assert_eq!(
        sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).status(),
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&app, "sample@example.com", "user1password").status(),
        StatusCode::OK
    );
    let token = admin_token(&app);
    let listed: Value = client()
        .get(app.url("/users?limit=100"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let own_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "own@example.com")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        own_id, 1,
        "the target's own user keeps its id; the imported come after"
    );
}

#[test]
fn import_flags_are_refused_with_one_line_that_never_quotes_the_signer_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.json"), "[]").unwrap();
    let db = TestDb::fresh();
    for (extra, expected) in [
        (
            &["--format", "nope"][..],
            "invalid value 'nope' for '--format",
        ),
        (
            &["--format", "auth0", "--on-conflict", "maybe"],
            "possible values: fail, skip",
        ),
        (
            &["--format", "firebase", "--firebase-rounds", "8"],
            "go together",
        ),
        (
            &[
                "--format",
                "firebase",
                "--firebase-signer-key",
                "%%secret%%",
                "--firebase-salt-separator",
                "Bw==",
                "--firebase-rounds",
                "8",
                "--firebase-mem-cost",
                "14",
            ],
            "--firebase-signer-key: not standard base64",
        ),
    ] {
        let path = dir.path().join("users.json");
        let mut args = vec![
            "users",
            "import",
            "--database-url",
            &db.url,
            "--from",
            path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let done = run_to_exit(&args, &[], dir.path(), None);
        assert!(done.failed(), "{extra:?}: {done:?}");
        let lines = done.stderr_lines();
        assert_eq!(lines.len(), 1, "{extra:?}: {lines:?}");
        assert!(lines[0].contains(expected), "{extra:?}: {lines:?}");
        assert!(!lines[0].contains("secret"), "{lines:?}");
    }
}
