//! The command line: every flag of the contract's table, each with its
//! `USER_API_…` environment variable. These names are an interface that
//! scripts depend on; change them only with the contract.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

use crate::config::{parse_duration, parse_net, parse_origin, parse_ttl};
use crate::domain::policy::SignupMode;
use crate::events::relay::RetrySchedule;
use crate::events::signature::{parse_secrets, WebhookSecret};
use crate::store::DatabaseUrl;
pub use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "user-api",
    version,
    about = "A self-hosted user-account HTTP service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (migrations run first).
    Serve(Box<ServeArgs>),
    /// Apply the embedded schema migrations and exit.
    Migrate(StoreArgs),
    /// Manage accounts from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Print the OpenAPI 3.1 document of the HTTP API.
    Openapi,
    /// Copy or back up a whole user store.
    #[command(subcommand)]
    Db(DbCommand),
    /// Manage the delivery of events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Move users in (from Auth0, Firebase, Supabase, Keycloak, Django or
    /// user-api, keeping their password hashes) and out.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Write every user as JSON Lines (the resource's fields and the
    /// password hash in a form `users import --format user-api` takes back),
    /// streamed from one snapshot.
    Export(UsersExportArgs),
    /// Import users from a file in one transaction: a bad record stops it
    /// with its line and nothing is written. Password hashes are kept as
    /// they are (argon2, bcrypt, scrypt, PBKDF2, Firebase scrypt) and
    /// replaced by argon2id at each user's first successful sign-in.
    Import(UsersImportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct UsersExportArgs {
    /// The file to write (created with mode 0600; it must not exist yet).
    /// Standard output when not given.
    #[arg(long, env = "USER_API_TO")]
    pub to: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UsersImportArgs {
    /// The file to read.
    #[arg(long, env = "USER_API_FROM")]
    pub from: std::path::PathBuf,

    /// What the file is: `user-api` (its own export, JSON Lines), `auth0`
    /// (bulk-import JSON), `firebase` (`auth:export` JSON), `supabase`
    /// (`auth.users` rows as a JSON array or CSV), `keycloak` (realm
    /// export JSON), `django` (`dumpdata auth.User` JSON).
    #[arg(long, env = "USER_API_FORMAT", value_enum)]
    pub format: crate::transfer::Format,

    /// Check everything (records, emails, hashes, registered emails) and
    /// write nothing.
    #[arg(long, env = "USER_API_DRY_RUN")]
    pub dry_run: bool,

    /// An email that is already registered: `fail` stops the import (nothing
    /// is written), `skip` leaves that user as it is and goes on. The same
    /// email twice in the file is always an error.
    #[arg(long, env = "USER_API_ON_CONFLICT", default_value = "fail", value_parser = on_conflict())]
    pub on_conflict: crate::store::transfer::OnConflict,

    /// Firebase: the project's base64 signer key (Authentication → Users →
    /// Password hash parameters).
    /// Read as given and decoded in `firebase_project`: clap's own refusal
    /// would quote the value, and the key never prints.
    #[arg(long, env = "USER_API_FIREBASE_SIGNER_KEY", hide_env_values = true)]
    pub firebase_signer_key: Option<RawSecret>,

    /// Firebase: the project's base64 salt separator.
    #[arg(long, env = "USER_API_FIREBASE_SALT_SEPARATOR", value_parser = parse_base64)]
    pub firebase_salt_separator: Option<Base64>,

    /// Firebase: the project's scrypt rounds (r).
    #[arg(long, env = "USER_API_FIREBASE_ROUNDS", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub firebase_rounds: Option<u32>,

    /// Firebase: the project's scrypt memory cost (N = 2^mem_cost).
    #[arg(long, env = "USER_API_FIREBASE_MEM_COST", value_parser = clap::value_parser!(u8).range(1..=20))]
    pub firebase_mem_cost: Option<u8>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Argon2 memory in KiB the service is configured with: no imported
    /// hash may need more memory per check than this (`serve`'s flag).
    #[arg(long, env = "USER_API_ARGON2_MEMORY_KIB", default_value_t = 19456, value_parser = clap::value_parser!(u32).range(8..=4_194_304))]
    pub argon2_memory_kib: u32,
}

/// Bytes given in standard base64 on the command line.
#[derive(Clone)]
pub struct Base64(pub Vec<u8>);

impl std::fmt::Debug for Base64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64(<{} bytes>)", self.0.len())
    }
}

fn parse_base64(raw: &str) -> Result<Base64, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map(Base64)
        .map_err(|_| "not standard base64".to_owned())
}

impl UsersImportArgs {
    /// Firebase's project parameters: all four flags, or none.
    pub fn firebase_project(&self) -> Result<Option<crate::transfer::FirebaseProject>, String> {
        match (
            &self.firebase_signer_key,
            &self.firebase_salt_separator,
            self.firebase_rounds,
            self.firebase_mem_cost,
        ) {
            (Some(RawSecret(key)), Some(separator), Some(rounds), Some(mem_cost)) => {
                let key = parse_base64(key)
                    .map_err(|reason| format!("--firebase-signer-key: {reason}"))?;
                Ok(Some(crate::transfer::FirebaseProject {
                    signer_key: key.0,
                    salt_separator: separator.0.clone(),
                    rounds,
                    mem_cost,
                }))
            }
            (None, None, None, None) => Ok(None),
            _ => Err("--firebase-signer-key, --firebase-salt-separator, --firebase-rounds and --firebase-mem-cost go together".into()),
        }
    }

    pub fn settings(&self) -> Result<crate::transfer::ImportSettings, String> {
        Ok(crate::transfer::ImportSettings {
            from: self.from.clone(),
            format: self.format,
            on_conflict: self.on_conflict,
            dry_run: self.dry_run,
            firebase: self.firebase_project()?,
            argon2_memory_kib: self.argon2_memory_kib,
        })
    }
}

/// `skip` or `fail`, listed in `--help`.
fn on_conflict() -> impl clap::builder::TypedValueParser<Value = crate::store::transfer::OnConflict>
{
    use crate::store::transfer::OnConflict;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["fail", "skip"]).map(|v| match v.as_str() {
        "skip" => OnConflict::Skip,
        _ => OnConflict::Fail,
    })
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Queue every delivery that failed for good (its retry schedule used
    /// up) again, due now; a running service delivers them.
    Retry(StoreArgs),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Take an online copy of the SQLite store that `--database-url` names,
    /// while it serves (SQLite's backup API), into a new file.
    Backup(DbBackupArgs),
    /// Move a whole user store (users, password hashes, tokens, sign-in
    /// counts) from one backend to another, verified by counts and a
    /// checksum.
    Copy(DbCopyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DbBackupArgs {
    /// The file to write; it must not exist yet.
    #[arg(long, env = "USER_API_TO")]
    pub to: std::path::PathBuf,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DbCopyArgs {
    /// The store to read: `sqlite:PATH` or `postgres://…`.
    #[arg(long, env = "USER_API_FROM", value_parser = DatabaseUrl::parse)]
    pub from: DatabaseUrl,

    /// The store to fill: `sqlite:PATH` or `postgres://…`. It must hold no
    /// users unless `--overwrite` is given.
    #[arg(long, env = "USER_API_TO", value_parser = DatabaseUrl::parse)]
    pub to: DatabaseUrl,

    /// Empty a target that already holds data before copying into it.
    #[arg(long, env = "USER_API_OVERWRITE")]
    pub overwrite: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account. The password is read from a prompt without
    /// echo, or from standard input when it is not a terminal.
    Create(AdminCreateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where the data lives: `sqlite:PATH` for a file, `postgres://…` for PostgreSQL.
    #[arg(long, env = "USER_API_DATABASE_URL", default_value = "sqlite:user-api.db", value_parser = DatabaseUrl::parse)]
    pub database_url: DatabaseUrl,

    /// PostgreSQL connections per instance.
    #[arg(long, env = "USER_API_DB_POOL_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,

    /// Largest size of the SQLite file in MiB; past it, writes answer 503
    /// while reads go on. 0 = no limit (the disk is the limit).
    #[arg(long, env = "USER_API_SQLITE_MAX_MIB", default_value_t = 0)]
    pub sqlite_max_mib: u64,
}

impl StoreArgs {
    pub fn max_bytes(&self) -> Option<u64> {
        (self.sqlite_max_mib > 0).then(|| self.sqlite_max_mib.saturating_mul(1024 * 1024))
    }
}

#[derive(Debug, Clone, Args)]
pub struct HashArgs {
    /// Argon2id memory cost in KiB (OWASP: 19456).
    #[arg(long, env = "USER_API_ARGON2_MEMORY_KIB", default_value_t = 19456, value_parser = clap::value_parser!(u32).range(8..=4_194_304))]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations (OWASP: 2).
    #[arg(long, env = "USER_API_ARGON2_ITERATIONS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub argon2_iterations: u32,

    /// Argon2id lanes (OWASP: 1).
    #[arg(long, env = "USER_API_ARGON2_PARALLELISM", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub argon2_parallelism: u32,

    /// Argon2 computations at once (default: the number of cores); a short
    /// queue waits behind them, past it requests get 503 with Retry-After.
    #[arg(long, env = "USER_API_HASH_CONCURRENCY", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub hash_concurrency: Option<u32>,

    /// Minimum password length in characters, 8 to 64 (NIST SP 800-63B-4: 15
    /// for a password used alone).
    #[arg(long, env = "USER_API_PASSWORD_MIN_LENGTH", default_value_t = 15, value_parser = clap::value_parser!(u8).range(8..=64))]
    pub password_min_length: u8,

    /// Tests only: accept argon2 costs below OWASP's floor, so a test suite
    /// of thousands of sign-ups stays fast. Honoured only by debug builds
    /// (`cargo test`); a release build refuses weak costs whatever is set.
    #[arg(long, env = "USER_API_TEST_WEAK_ARGON2", hide = true)]
    pub test_weak_argon2: bool,
}

impl HashArgs {
    /// The hashing cost the flags give; one line saying why when it is below
    /// OWASP's weakest row.
    pub fn config(&self) -> Result<crate::auth::hashing::HashingConfig, String> {
        let config = crate::auth::hashing::HashingConfig {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
            concurrency: self.hash_concurrency.map(|n| n as usize),
        };
        let weak_allowed = cfg!(debug_assertions) && self.test_weak_argon2;
        match config.below_owasp() {
            Some(reason) if !weak_allowed => Err(reason),
            _ => Ok(config),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct AdminCreateArgs {
    /// The admin's email address (their sign-in name).
    #[arg(long, env = "USER_API_EMAIL")]
    pub email: String,

    /// The admin's display name.
    #[arg(long, env = "USER_API_NAME")]
    pub name: String,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub hashing: HashArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address of the API.
    #[arg(long, env = "USER_API_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub hashing: HashArgs,

    /// Address of the Prometheus `/metrics` endpoint; off unless set. Never
    /// served beside the API.
    #[arg(long, env = "USER_API_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Comma-separated browser origins allowed by CORS and for WebSockets,
    /// e.g. https://app.example.com. None by default.
    #[arg(long, env = "USER_API_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// `open`: anyone may sign up; `closed`: only admins create users.
    #[arg(long, env = "USER_API_SIGNUP", default_value = "open", value_parser = signup_mode())]
    pub signup: SignupMode,

    /// Access-token lifetime, e.g. 1h, 30m.
    #[arg(long, env = "USER_API_TOKEN_TTL", default_value = "1h", value_parser = parse_ttl)]
    pub token_ttl: Duration,

    /// Comma-separated addresses or CIDR blocks of reverse proxies whose
    /// X-Forwarded-For is believed.
    #[arg(long, env = "USER_API_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<IpNet>,

    /// Log line format.
    #[arg(long, env = "USER_API_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Sign-ups a minute per client address; 0 = no limit.
    #[arg(long, env = "USER_API_SIGNUP_RATE", default_value_t = 20)]
    pub signup_rate: u32,

    /// Time limit of a request, e.g. 30s.
    #[arg(long, env = "USER_API_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Open connections at most; past it a connection gets 503 and is closed.
    #[arg(long, env = "USER_API_MAX_CONNECTIONS", default_value_t = 16384, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Open connections of one client address at most (an IPv6 client
    /// counted by its /64); past it a connection gets 503 and is closed.
    /// Connections from a trusted proxy are not capped. 0 = no cap.
    #[arg(
        long,
        env = "USER_API_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: u32,

    /// Time a connection has to send a whole request head, from its opening
    /// or from its previous response; past it the connection is closed. So
    /// an idle keep-alive connection lasts this long too: a proxy in front
    /// must keep its upstream keep-alive shorter. E.g. 10s.
    #[arg(long, env = "USER_API_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Requests handled at once; past it a request gets 503 with
    /// Retry-After at once instead of waiting in a queue. `/health` and
    /// `/health/ready` are answered outside this cap.
    #[arg(long, env = "USER_API_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Open WebSockets at most; past it a handshake gets 503.
    #[arg(long, env = "USER_API_MAX_WEBSOCKETS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_websockets: u32,

    /// How often expired tokens, idempotency keys and sign-in failure counts
    /// are deleted, e.g. 60s.
    #[arg(long, env = "USER_API_PRUNE_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub prune_interval: Duration,

    #[command(flatten)]
    pub events: EventArgs,

    #[command(flatten)]
    pub mail: MailArgs,

    /// On SIGTERM/SIGINT, how long `/health/ready` answers 503 while the
    /// service still accepts connections, so a load balancer stops sending
    /// new requests before the listener closes. `0s` closes at once.
    #[arg(long, env = "USER_API_SHUTDOWN_GRACE", default_value = "1s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

/// Where events go, and how long they are kept (the contract's "Events").
#[derive(Debug, Clone, Args)]
pub struct EventArgs {
    /// Comma-separated webhook endpoints (http:// or https://) that every
    /// event is POSTed to, signed per Standard Webhooks. Needs
    /// --webhook-secret.
    #[arg(long, env = "USER_API_WEBHOOK_URL", value_delimiter = ',', value_parser = parse_webhook_url, requires = "webhook_secret")]
    pub webhook_url: Vec<String>,

    /// The Standard Webhooks secret (`whsec_` + base64); two, comma-separated,
    /// while rotating: both sign every request.
    /// Read as given and checked at start (`EventArgs::webhook_secrets`):
    /// clap's own refusal would quote the value, and a secret never prints.
    #[arg(long, env = "USER_API_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<RawSecret>,

    /// Waits between delivery attempts; after the last, a delivery is
    /// marked failed (`user-api events retry` queues it again).
    #[arg(long, env = "USER_API_WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5m,30m,2h,5h,10h,10h", value_parser = parse_retry_schedule)]
    pub webhook_retry_schedule: RetrySchedule,

    /// Open `GET /events` streams at most; past it a stream request gets 503.
    #[arg(long, env = "USER_API_MAX_EVENT_STREAMS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_event_streams: u32,

    /// NATS server (nats://host:4222, or tls://) whose JetStream receives
    /// every event; off unless set.
    #[arg(long, env = "USER_API_NATS_URL")]
    pub nats_url: Option<String>,

    /// Events are published to `{prefix}.{type}`, e.g. user-api.user.created.
    #[arg(long, env = "USER_API_NATS_SUBJECT_PREFIX", default_value = "user-api")]
    pub nats_subject_prefix: String,

    /// The JetStream stream (subjects `{prefix}.>`), created when missing.
    #[arg(long, env = "USER_API_NATS_STREAM", default_value = "USER_API_EVENTS")]
    pub nats_stream: String,

    /// How long events stay readable after every sink took them, e.g. 7d.
    #[arg(long, env = "USER_API_EVENT_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub event_retention: Duration,
}

/// A secret flag's value as given; `Debug` hides it.
#[derive(Clone)]
pub struct RawSecret(String);

impl From<String> for RawSecret {
    fn from(raw: String) -> Self {
        Self(raw)
    }
}

impl std::fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawSecret(<redacted>)")
    }
}

impl EventArgs {
    /// The Standard Webhooks secrets, or why they are refused (a reason
    /// that never quotes them).
    pub fn webhook_secrets(&self) -> Result<Vec<WebhookSecret>, String> {
        match &self.webhook_secret {
            Some(RawSecret(raw)) => {
                parse_secrets(raw).map_err(|reason| format!("--webhook-secret: {reason}"))
            }
            None => Ok(Vec::new()),
        }
    }
}

/// An absolute http(s) URL with a host.
fn parse_webhook_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let url: reqwest::Url = raw
        .parse()
        .map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{raw:?} must be an http:// or https:// URL"));
    }
    Ok(raw.to_owned())
}

/// `5s,5m,30m`: one wait per retry, each greater than zero.
fn parse_retry_schedule(raw: &str) -> Result<RetrySchedule, String> {
    raw.split(',')
        .map(|wait| parse_duration(wait.trim()).map_err(|e| format!("{wait:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()
        .map(RetrySchedule)
}

/// `open` or `closed`, listed in `--help`.
fn signup_mode() -> impl clap::builder::TypedValueParser<Value = SignupMode> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["open", "closed"]).map(|mode| match mode.as_str() {
        "closed" => SignupMode::Closed,
        _ => SignupMode::Open,
    })
}

impl ServeArgs {
    /// The settings of `user-api serve` given these arguments (without the
    /// program name and subcommand); used by tests and benchmarks to build
    /// an app exactly as the command line would.
    pub fn from_flags<I, T>(flags: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let args = std::iter::once(std::ffi::OsString::from("serve"))
            .chain(flags.into_iter().map(Into::into));
        Wrapper::try_parse_from(args).map(|w| w.serve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_contract() {
        let args = ServeArgs::from_flags(Vec::<String>::new()).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(
            args.store.database_url,
            DatabaseUrl::Sqlite("user-api.db".into())
        );
        assert_eq!(args.hashing.password_min_length, 15);
        assert_eq!(args.token_ttl, Duration::from_secs(3600));
        assert_eq!(args.signup_rate, 20);
        assert_eq!(args.request_timeout, Duration::from_secs(30));
        assert_eq!(args.hashing.argon2_memory_kib, 19456);
        assert_eq!(args.store.db_pool_size, 10);
        assert_eq!(args.header_timeout, Duration::from_secs(10));
        assert_eq!(args.max_connections_per_address, 256);
        assert!(args.metrics_addr.is_none() && args.cors_origins.is_empty());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(ServeArgs::from_flags(["--password-min-length", "7"]).is_err());
        assert!(ServeArgs::from_flags(["--password-min-length", "65"]).is_err());
        assert!(ServeArgs::from_flags(["--token-ttl", "soon"]).is_err());
        assert!(ServeArgs::from_flags(["--token-ttl", "500ms"]).is_err());
        assert!(ServeArgs::from_flags(["--token-ttl", "500000000000y"]).is_err());
        assert!(ServeArgs::from_flags(["--signup", "maybe"]).is_err());
        assert!(ServeArgs::from_flags(["--header-timeout", "0s"]).is_err());
        assert!(ServeArgs::from_flags(["--header-timeout", "soon"]).is_err());
        assert!(ServeArgs::from_flags(["--max-connections-per-address", "-1"]).is_err());
        assert!(ServeArgs::from_flags(["--trusted-proxies", "10.0.0.0/8,not-an-ip"]).is_err());
    }
}

/// Mail for email verification and password reset (the contract's
/// "Email"): off unless `--smtp-url` is set. Checked together at start
/// (`MailArgs::check`), each refusal one line.
#[derive(Debug, Clone, Args)]
pub struct MailArgs {
    /// SMTP server: smtp://host:port (STARTTLS when the server offers it),
    /// smtps://host:port (TLS from the start); user:password@ to
    /// authenticate. Mail is off unless set. Read as given and checked at
    /// start: a refusal never quotes the password.
    #[arg(long, env = "USER_API_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<RawSecret>,

    /// The sender of the mails, e.g. "User API <noreply@example.com>".
    /// Needed with --smtp-url.
    #[arg(long, env = "USER_API_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// Where users reach the service, for the links in the mails: an
    /// absolute http(s):// URL, e.g. https://id.example.com. Needed with
    /// --smtp-url.
    #[arg(long, env = "USER_API_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Lifetime of a password reset link, e.g. 30m.
    #[arg(long, env = "USER_API_PASSWORD_RESET_TTL", default_value = "30m", value_parser = parse_ttl)]
    pub password_reset_ttl: Duration,

    /// Refuse sign-in (400 invalid_grant "Email not verified") to users
    /// whose email is not verified. Needs --smtp-url.
    #[arg(long, env = "USER_API_REQUIRE_VERIFIED_EMAIL")]
    pub require_verified_email: bool,

    /// A folder of mail templates replacing the built-in ones:
    /// password_reset, verification and email_changed, each as .txt (first
    /// line: the subject) and .html, with {{name}}, {{email}}, {{link}},
    /// {{ttl}} ({{new_email}} for email_changed). Checked at start.
    #[arg(long, env = "USER_API_MAIL_TEMPLATES")]
    pub mail_templates: Option<PathBuf>,

    /// The file holding the secret that mailed links are derived from (256
    /// bits, created with mode 0600 on first start with mail on). Keep it
    /// out of the database's backups; several instances on one PostgreSQL
    /// database must share the same file. Default: `user-api.secret` beside
    /// an SQLite database, else in the working directory.
    #[arg(long, env = "USER_API_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
}

/// The mail configuration, read from `MailArgs`.
pub struct MailConfig {
    pub smtp: crate::mail::SmtpUrl,
    pub from: lettre::message::Mailbox,
    pub public_url: String,
    pub reset_ttl: Duration,
    pub require_verified: bool,
    pub templates: crate::mail::Templates,
    pub secret_file: PathBuf,
}

impl MailArgs {
    /// `None` when mail is off; a one-line reason for anything it cannot
    /// use. Touches no file but the templates folder.
    pub fn check(&self, database: &DatabaseUrl) -> Result<Option<MailConfig>, String> {
        let Some(RawSecret(raw)) = &self.smtp_url else {
            if self.require_verified_email {
                return Err("--require-verified-email needs mail: set --smtp-url".into());
            }
            if self.mail_from.is_some() || self.public_url.is_some() {
                return Err("--mail-from and --public-url only work with --smtp-url".into());
            }
            return Ok(None);
        };
        let smtp = crate::mail::SmtpUrl::parse(raw).map_err(|e| format!("--smtp-url: {e}"))?;
        let from = self
            .mail_from
            .as_deref()
            .ok_or("--smtp-url needs --mail-from (the sender of the mails)")?;
        let from = crate::mail::parse_mail_from(from).map_err(|e| format!("--mail-from: {e}"))?;
        let public_url = self
            .public_url
            .as_deref()
            .ok_or("--smtp-url needs --public-url (where the links in the mails point)")?;
        let public_url =
            crate::mail::parse_public_url(public_url).map_err(|e| format!("--public-url: {e}"))?;
        let templates = match &self.mail_templates {
            Some(dir) => crate::mail::Templates::from_dir(dir)?,
            None => crate::mail::Templates::built_in(),
        };
        let secret_file = self.secret_file.clone().unwrap_or_else(|| match database {
            DatabaseUrl::Sqlite(path) => path.with_file_name("user-api.secret"),
            DatabaseUrl::Postgres(_) => PathBuf::from("user-api.secret"),
        });
        Ok(Some(MailConfig {
            smtp,
            from,
            public_url,
            reset_ttl: self.password_reset_ttl,
            require_verified: self.require_verified_email,
            templates,
            secret_file,
        }))
    }
}
