//! `user-api users import` and `users export`: moving users in from other
//! systems (keeping their password hashes) and out as JSON Lines.
//!
//! Import: a reader thread parses the file record by record (`formats`),
//! checks each as a sign-up is checked (`Email::parse`, `UserName::parse`)
//! plus its hash's kind and cost (`auth::imported`), and hands batches to
//! the store through a bounded channel; the store writes them in one
//! transaction with their `user.created` events. Memory is bounded by the
//! batches in flight plus 24 bytes per user for the duplicate check (a
//! 16-byte digest of each email and its line).
//!
//! Export: one snapshot streamed to a file created with mode 0600 (it holds
//! password hashes) or to standard output.

pub mod formats;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::accounts::Accounts;
use crate::auth::imported;
use crate::domain::{Email, Role, UserName};
use crate::progress::Progress;
use crate::store::transfer::{
    ExportRow, ImportOutcome, ImportRow, ImportStop, ImportTally, OnConflict, BATCH,
    BATCHES_IN_FLIGHT,
};
use crate::store::{PasswordHash, Store};
pub use formats::FirebaseProject;

/// The formats of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// user-api's own `users export` (JSON Lines).
    #[value(name = "user-api")]
    UserApi,
    /// Auth0's bulk-import JSON (an array of users).
    Auth0,
    /// Firebase's `auth:export` JSON (`{"users": [...]}`).
    Firebase,
    /// Supabase's `auth.users` rows, as a JSON array or CSV with a header.
    Supabase,
    /// A Keycloak realm export (`{"users": [...]}`).
    Keycloak,
    /// Django's `dumpdata auth.User` JSON.
    Django,
}

/// How an import runs.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub from: PathBuf,
    pub format: Format,
    pub on_conflict: OnConflict,
    pub dry_run: bool,
    pub firebase: Option<FirebaseProject>,
    /// The configured argon2 block: no imported hash may need more memory
    /// per check.
    pub argon2_memory_kib: u32,
}

/// Runs an import; the one-line summary, or the reason it stopped (with
/// its line) and wrote nothing.
pub async fn import(accounts: &Accounts, settings: ImportSettings) -> Result<String, String> {
    let file = std::fs::File::open(&settings.from)
        .map_err(|e| format!("cannot read {}: {e}", settings.from.display()))?;
    let progress = Progress::start("importing", "users");
    let (feed, batches) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
    let started = Instant::now();
    let reader = {
        let settings = settings.clone();
        let progress = progress.clone();
        std::thread::Builder::new()
            .name("import-reader".into())
            .spawn(move || {
                let mut batcher = Batcher::new(feed, &settings, progress);
                let result = read(file, settings.format, &mut |line, record| {
                    batcher.push(line, record)
                });
                match result.and_then(|()| batcher.flush()) {
                    Ok(()) => {}
                    Err(stop) => {
                        let _ = batcher.feed.blocking_send(Err(stop));
                    }
                }
            })
            .map_err(|e| format!("cannot start the reader: {e}"))?
    };
    let outcome = accounts
        .import_users(batches, settings.on_conflict, settings.dry_run)
        .await;
    let _ = reader.join();
    progress.finish();
    let elapsed = started.elapsed();
    match outcome.map_err(|e| e.to_string())? {
        ImportOutcome::Stopped(stop) => Err(format!(
            "{}: {stop}; nothing was imported",
            settings.from.display()
        )),
        ImportOutcome::Done(ImportTally { imported, skipped }) => {
            let rate = imported as f64 / elapsed.as_secs_f64().max(0.001);
            Ok(if settings.dry_run {
                format!("dry run: {imported} users would be imported, {skipped} skipped as already registered; nothing was written")
            } else {
                format!(
                    "imported {imported} users, skipped {skipped} already registered, in {:.1} s ({rate:.0}/s)",
                    elapsed.as_secs_f64()
                )
            })
        }
    }
}

/// Calls `each` with every record of the file and its line (JSON Lines,
/// CSV) or 1-based position (a JSON array).
fn read(
    file: std::fs::File,
    format: Format,
    each: &mut dyn FnMut(u64, Record) -> Result<(), ImportStop>,
) -> Result<(), ImportStop> {
    let mut input = BufReader::with_capacity(1 << 16, file);
    match format {
        Format::UserApi => read_lines(input, each),
        Format::Supabase if !starts_with_bracket(&mut input) => read_csv(input, each),
        _ => read_json(input, each),
    }
}

/// A record as read: JSON, or a CSV row turned into a JSON object.
pub type Record = Value;

fn starts_with_bracket(input: &mut BufReader<std::fs::File>) -> bool {
    input
        .fill_buf()
        .ok()
        .and_then(|buf| buf.iter().find(|b| !b.is_ascii_whitespace()).copied())
        == Some(b'[')
}

fn read_lines(
    input: impl BufRead,
    each: &mut dyn FnMut(u64, Record) -> Result<(), ImportStop>,
) -> Result<(), ImportStop> {
    for (n, line) in input.lines().enumerate() {
        let line_no = n as u64 + 1;
        let line = line.map_err(|e| ImportStop {
            line: line_no,
            reason: format!("cannot read: {e}"),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|e| ImportStop {
            line: line_no,
            reason: format!("not a JSON object: {e}"),
        })?;
        each(line_no, record)?;
    }
    Ok(())
}

fn read_csv(
    input: impl Read,
    each: &mut dyn FnMut(u64, Record) -> Result<(), ImportStop>,
) -> Result<(), ImportStop> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| ImportStop {
            line: 1,
            reason: format!("unreadable CSV header: {e}"),
        })?
        .clone();
    for row in reader.records() {
        let row = row.map_err(|e| ImportStop {
            line: e.position().map_or(0, |p| p.line()),
            reason: format!("unreadable CSV: {e}"),
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let object = headers
            .iter()
            .zip(row.iter())
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        each(line, Value::Object(object))?;
    }
    Ok(())
}

/// A JSON array of records, or an object whose `users` member is one,
/// read one record at a time (a realm export's other members are skipped
/// unread).
fn read_json(
    input: impl Read,
    each: &mut dyn FnMut(u64, Record) -> Result<(), ImportStop>,
) -> Result<(), ImportStop> {
    let mut stop = None;
    let mut position = 0u64;
    let mut de = serde_json::Deserializer::from_reader(input);
    let result = Records {
        each,
        stop: &mut stop,
        position: &mut position,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match (stop, result) {
        (Some(stop), _) => Err(stop),
        (None, Ok(())) => Ok(()),
        (None, Err(e)) => Err(ImportStop {
            line: position + 1,
            reason: format!(
                "not valid JSON ({e}); want an array of users or an object with a \"users\" array"
            ),
        }),
    }
}

struct Records<'a> {
    each: &'a mut dyn FnMut(u64, Record) -> Result<(), ImportStop>,
    stop: &'a mut Option<ImportStop>,
    position: &'a mut u64,
}

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of users or an object with a \"users\" array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Value>()? {
            *self.position += 1;
            if let Err(stop) = (self.each)(*self.position, record) {
                *self.stop = Some(stop);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Records {
            each,
            stop,
            position,
        } = self;
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "users" && !found {
                found = true;
                map.next_value_seed(Records {
                    each: &mut *each,
                    stop: &mut *stop,
                    position: &mut *position,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !found {
            return Err(serde::de::Error::custom("no \"users\" array"));
        }
        Ok(())
    }
}

/// Checks records and sends them on in batches.
struct Batcher {
    feed: tokio::sync::mpsc::Sender<Result<Vec<ImportRow>, ImportStop>>,
    format: Format,
    firebase: Option<FirebaseProject>,
    argon2_memory_kib: u32,
    batch: Vec<ImportRow>,
    /// A digest of each email so far and its line: the same address twice
    /// is an error naming both lines.
    seen: HashMap<[u8; 16], u64>,
    progress: Progress,
}

impl Batcher {
    fn new(
        feed: tokio::sync::mpsc::Sender<Result<Vec<ImportRow>, ImportStop>>,
        settings: &ImportSettings,
        progress: Progress,
    ) -> Self {
        Self {
            feed,
            format: settings.format,
            firebase: settings.firebase.clone(),
            argon2_memory_kib: settings.argon2_memory_kib,
            batch: Vec::with_capacity(BATCH),
            seen: HashMap::new(),
            progress,
        }
    }

    fn push(&mut self, line: u64, record: Record) -> Result<(), ImportStop> {
        let at = |reason: String| ImportStop { line, reason };
        let source = match self.format {
            Format::UserApi => formats::user_api(&record),
            Format::Auth0 => formats::auth0(&record),
            Format::Firebase => formats::firebase(&record, self.firebase.as_ref()),
            Format::Supabase => formats::supabase(&record),
            Format::Keycloak => formats::keycloak(&record),
            Format::Django => match formats::django(&record).map_err(at)? {
                Some(source) => Ok(source),
                None => return Ok(()),
            },
        }
        .map_err(at)?;
        let row = self.check(line, source).map_err(at)?;
        let digest: [u8; 16] = Sha256::digest(row.email.as_str().as_bytes())[..16]
            .try_into()
            .unwrap_or_default();
        if let Some(first) = self.seen.insert(digest, line) {
            return Err(at(format!(
                "email {} is also on line {first}: the same address twice",
                row.email.as_str()
            )));
        }
        self.batch.push(row);
        self.progress.advance(1);
        if self.batch.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }

    /// What a sign-up checks, and the hash's kind and cost.
    fn check(&self, line: u64, source: formats::Source) -> Result<ImportRow, String> {
        let email = Email::parse(&source.email).map_err(|e| format!("email: {e}"))?;
        let name = match &source.name {
            Some(name) => UserName::parse(name).map_err(|e| format!("name: {e}"))?,
            None => {
                let local = email.as_str().split('@').next().unwrap_or_default();
                UserName::parse(local).map_err(|e| format!("name (the email's local part): {e}"))?
            }
        };
        let password_hash = match source.hash {
            None => imported::NO_PASSWORD.to_owned(),
            Some(hash) => {
                let kind = imported::classify(&hash).map_err(|e| format!("password hash: {e}"))?;
                kind.importable(self.argon2_memory_kib)
                    .map_err(|e| format!("password hash: {e}"))?;
                hash
            }
        };
        Ok(ImportRow {
            line,
            email,
            name,
            role: source.role.unwrap_or(Role::User),
            is_active: source.is_active,
            email_verified: source.email_verified,
            password_hash: PasswordHash(password_hash),
            created_at: source.created_at,
            updated_at: source.updated_at,
        })
    }

    fn send(&mut self) -> Result<(), ImportStop> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let last = batch.last().map_or(0, |r| r.line);
        self.feed.blocking_send(Ok(batch)).map_err(|_| ImportStop {
            line: last,
            reason: "the store stopped reading".into(),
        })
    }

    fn flush(&mut self) -> Result<(), ImportStop> {
        if self.batch.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// `users export`: every user as a JSON line, to `to` (created with mode
/// 0600, refused when it exists) or to standard output. The summary line.
pub async fn export(store: &Store, to: Option<&Path>) -> Result<String, String> {
    let out: Box<dyn Write + Send> = match to {
        Some(path) => Box::new(create_private(path)?),
        None => Box::new(std::io::stdout()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let progress = Progress::start("exporting", "users");
    let started = Instant::now();
    let mut line = Vec::with_capacity(512);
    let mut write = |user: ExportRow| -> Result<(), String> {
        line.clear();
        serde_json::to_writer(&mut line, &exported(&user)).map_err(|e| e.to_string())?;
        line.push(b'\n');
        out.write_all(&line)
            .map_err(|e| format!("cannot write: {e}"))?;
        progress.advance(1);
        Ok(())
    };
    let count = store
        .export_users(&mut write)
        .await
        .map_err(|e| e.to_string())?;
    out.flush().map_err(|e| format!("cannot write: {e}"))?;
    progress.finish();
    Ok(format!(
        "exported {count} users in {:.1} s",
        started.elapsed().as_secs_f64()
    ))
}

/// The line of one user: the resource's fields (no id: an import assigns
/// its own) and the stored hash, `null` for a user without a password.
fn exported(user: &ExportRow) -> Value {
    use crate::domain::resource::rfc3339;
    let hash = (user.password_hash != imported::NO_PASSWORD).then_some(&user.password_hash);
    serde_json::json!({
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "email_verified": user.email_verified,
        "created_at": rfc3339(user.created_at),
        "updated_at": rfc3339(user.updated_at),
        "password_hash": hash,
    })
}

fn create_private(path: &Path) -> Result<std::fs::File, String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))
}
