//! Wiring: `App::build` opens the store, binds the listeners and assembles
//! the router; `App::run_until` serves until shutdown. No rules here.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accounts::{
    Accounts, EventSettings, MailSettings, SignupLimiter, MAIL_REQUESTS_PER_MINUTE,
};
use crate::auth::hashing::Hasher;
use crate::cli::{EventArgs, HashArgs, ServeArgs, StoreArgs};
use crate::domain::throttle::ThrottleRules;
use crate::domain::PasswordPolicy;
use crate::events::nats::NatsSink;
use crate::events::relay::{nats_sink_name, webhook_sink_name, RetrySchedule, Sink, Wake};
use crate::events::signature::WebhookSecret;
use crate::events::webhook::WebhookSink;
use crate::http::connections::{CappedListener, ConnectionLimits};
use crate::http::{self, AppState, StateParts, WebSettings};
use crate::mail::{MailSecret, Mailer, SmtpMailer};
use crate::store::{OpenOptions, Store};

/// Why the service could not start; printed as one line by `main`.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the database {url}: {source}")]
    Store {
        url: String,
        source: crate::store::Error,
    },
    #[error("invalid hashing parameters: {0}")]
    Hashing(#[from] crate::auth::Error),
    #[error("{0}")]
    WeakHashing(String),
    #[error("{0}")]
    Events(String),
    #[error("{0}")]
    Mail(String),
}

pub struct App {
    listener: TcpListener,
    metrics: Option<TcpListener>,
    state: AppState,
    request_timeout: Duration,
    shutdown_grace: Duration,
    header_timeout: Duration,
    connection_limits: ConnectionLimits,
    prune_interval: Duration,
    sinks: Vec<Arc<Sink>>,
    retry_schedule: RetrySchedule,
    /// The mail sender's setup; `None` when mail is off.
    mailer: Option<Mailer>,
}

/// Opens the store named by the flags (running migrations).
pub async fn open_store(args: &StoreArgs) -> Result<Store, StartError> {
    let options = OpenOptions {
        max_bytes: args.max_bytes(),
        pool_size: args.db_pool_size,
    };
    Store::open(&args.database_url, options)
        .await
        .map_err(|source| StartError::Store {
            url: args.database_url.to_string(),
            source,
        })
}

/// The names the configured sinks have in the outbox.
fn sink_names(args: &EventArgs) -> Vec<String> {
    let webhooks = args.webhook_url.iter().map(|url| webhook_sink_name(url));
    let nats = args
        .nats_url
        .iter()
        .map(|_| nats_sink_name(&args.nats_stream));
    webhooks.chain(nats).collect()
}

/// The sinks the flags configure. Connecting is left to the first
/// delivery: a sink that is down never stops the service from starting.
fn sinks(args: &EventArgs) -> Result<Vec<Arc<Sink>>, StartError> {
    let mut sinks = Vec::new();
    let secrets: Arc<[WebhookSecret]> = args.webhook_secrets().map_err(StartError::Events)?.into();
    if !secrets.is_empty() {
        for url in &args.webhook_url {
            let sink =
                WebhookSink::new(url.clone(), secrets.clone()).map_err(StartError::Events)?;
            sinks.push(Arc::new(Sink::Webhook(sink)));
        }
    }
    if let Some(url) = &args.nats_url {
        let sink = NatsSink::new(url, &args.nats_subject_prefix, &args.nats_stream)
            .map_err(|e| StartError::Events(e.to_string()))?;
        sinks.push(Arc::new(Sink::Nats(Box::new(sink))));
    }
    Ok(sinks)
}

/// The account use cases over an opened store, as `serve` and `admin` use them.
pub fn accounts(
    store: Store,
    hashing: &HashArgs,
    args: Option<&ServeArgs>,
) -> Result<Accounts, StartError> {
    let shared = store.is_shared();
    Ok(Accounts {
        store,
        hasher: Hasher::new(hashing.config().map_err(StartError::WeakHashing)?)?,
        password_policy: PasswordPolicy {
            min_chars: usize::from(hashing.password_min_length),
        },
        token_ttl: args.map_or(Duration::from_secs(3600), |a| a.token_ttl),
        signup: args.map_or(crate::domain::policy::SignupMode::Open, |a| a.signup),
        signup_limiter: args.and_then(|a| SignupLimiter::per_minute(a.signup_rate, shared)),
        throttle: ThrottleRules::default(),
        request_timeout: args.map_or(Duration::from_secs(30), |a| a.request_timeout),
        signin_gate: Default::default(),
        events: EventSettings {
            wake: Wake::default(),
            retention: args.map_or(Duration::from_secs(7 * 86_400), |a| {
                a.events.event_retention
            }),
            sinks: args.map(|a| sink_names(&a.events)).unwrap_or_default(),
        },
        mail: args
            .filter(|a| a.mail.smtp_url.is_some())
            .map(|a| MailSettings {
                require_verified: a.mail.require_verified_email,
                limiter: SignupLimiter::per_minute(MAIL_REQUESTS_PER_MINUTE, shared),
            }),
    })
}

impl App {
    pub async fn build(args: ServeArgs) -> Result<Self, StartError> {
        // Flags first (a bad secret or a weak hashing cost is one line,
        // nothing touched), then the port: a taken port fails before the
        // database is touched.
        args.hashing.config().map_err(StartError::WeakHashing)?;
        let sinks = sinks(&args.events)?;
        let mail = args
            .mail
            .check(&args.store.database_url)
            .map_err(StartError::Mail)?;
        let listener =
            TcpListener::bind(args.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: args.listen,
                    source,
                })?;
        let metrics = match args.metrics_addr {
            Some(addr) => Some(
                crate::metrics::bind(addr)
                    .await
                    .map_err(|source| StartError::Listen { addr, source })?,
            ),
            None => None,
        };
        if metrics.is_some() {
            crate::metrics::handle();
        }
        let mailer = match mail {
            Some(config) => Some(mailer(config)?),
            None => None,
        };
        let store = open_store(&args.store).await?;
        store
            .open_sinks(sinks.iter().map(|s| s.name()).collect())
            .await
            .map_err(|source| StartError::Store {
                url: args.store.database_url.to_string(),
                source,
            })?;
        let accounts = accounts(store, &args.hashing, Some(&args))?;
        let state = AppState::new(StateParts {
            accounts: Arc::new(accounts),
            web: Arc::new(WebSettings {
                cors_origins: args.cors_origins.clone(),
                trusted_proxies: args.trusted_proxies.clone(),
                max_in_flight: args.max_in_flight as usize,
                request_timeout: args.request_timeout,
                // `--public-url` (checked at start with the mail flags):
                // the console's cookie and Origin check follow it.
                public_url: args
                    .mail
                    .public_url
                    .as_deref()
                    .and_then(|url| crate::mail::parse_public_url(url).ok()),
            }),
            draining: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            websockets: TaskTracker::new(),
            websocket_slots: Arc::new(Semaphore::new(args.max_websockets as usize)),
            event_stream_slots: Arc::new(Semaphore::new(args.events.max_event_streams as usize)),
        });
        Ok(Self {
            listener,
            metrics,
            state,
            request_timeout: args.request_timeout,
            shutdown_grace: args.shutdown_grace,
            header_timeout: args.header_timeout,
            connection_limits: ConnectionLimits {
                max_connections: args.max_connections as usize,
                per_address: args.max_connections_per_address as usize,
                exempt: args.trusted_proxies.clone(),
            },
            prune_interval: args.prune_interval,
            sinks,
            retry_schedule: args.events.webhook_retry_schedule.clone(),
            mailer,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The account use cases this app serves (tests use it to create the
    /// first admin, as `user-api admin create` would).
    pub fn accounts(&self) -> Arc<Accounts> {
        self.state.accounts.clone()
    }

    /// Serves until `shutdown` completes, then: readiness turns 503 for the
    /// grace period, no new connections are accepted, requests in flight
    /// finish (bounded by the request time limit), WebSockets close with 1001.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.state.shutdown.clone();
        let websockets = self.state.websockets.clone();
        let drain_limit = self.request_timeout + Duration::from_secs(5);
        let trigger = token.clone();
        let draining = self.state.draining.clone();
        let grace = self.shutdown_grace;
        tokio::spawn(async move {
            shutdown.await;
            draining.cancel();
            tokio::time::sleep(grace).await;
            trigger.cancel();
        });
        if let Some(listener) = self.metrics {
            tokio::spawn(crate::metrics::serve(listener, token.clone()));
        }
        // The relay stops with the listener; what it had not recorded is
        // delivered again by the next start (at least once).
        let relay = tokio::spawn(crate::events::relay::run(
            self.state.accounts.store.clone(),
            self.sinks,
            self.retry_schedule.clone(),
            self.state.accounts.events.wake.clone(),
            token.clone(),
        ));
        // Mail, as events: what was not recorded as sent goes again.
        let mail = self.mailer.map(|mailer| {
            tokio::spawn(crate::mail::sender::run(
                self.state.accounts.store.clone(),
                mailer,
                self.retry_schedule.clone(),
                self.state.accounts.events.wake.clone(),
                token.clone(),
            ))
        });
        tokio::spawn(prune_every(
            self.prune_interval,
            self.state.accounts.clone(),
            token.clone(),
        ));
        let cors_configured = !self.state.web.cors_origins.is_empty();
        let router = http::router(self.state);
        let listener = CappedListener::new(self.listener, self.connection_limits);
        let serve = http::serve::serve(
            listener,
            router,
            cors_configured,
            self.header_timeout,
            token.clone(),
        );
        let serving = tokio::spawn(serve);
        token.cancelled().await;
        match tokio::time::timeout(drain_limit, serving).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
            Err(_) => tracing::warn!("requests still in flight after the drain limit; exiting"),
        }
        websockets.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), websockets.wait()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), relay).await;
        if let Some(mail) = mail {
            let _ = tokio::time::timeout(Duration::from_secs(5), mail).await;
        }
        Ok(())
    }
}

/// The mail sender's setup: the secret file read (or created), the SMTP
/// client built. Nothing connects yet: an SMTP server that is down never
/// stops the service from starting (mail waits in the outbox).
fn mailer(config: crate::cli::MailConfig) -> Result<Mailer, StartError> {
    let secret = MailSecret::load_or_create(&config.secret_file).map_err(StartError::Mail)?;
    let smtp = SmtpMailer::new(&config.smtp, config.from).map_err(StartError::Mail)?;
    Ok(Mailer {
        smtp,
        templates: config.templates,
        secret,
        public_url: config.public_url,
        reset_ttl: config.reset_ttl,
    })
}

/// Prunes what has expired, until `stop`. A failure is logged and tried
/// again next time: pruning is housekeeping, never on a request's path.
async fn prune_every(every: Duration, accounts: Arc<Accounts>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match accounts.prune().await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned expired tokens, keys and failure counts"),
            Err(e) => tracing::warn!(error = %e, "pruning failed; will retry"),
        }
    }
}

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are
/// installed now, not when the future is first polled, so a signal that
/// arrives right after "listening" is printed still shuts down gracefully.
#[cfg(unix)]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}

#[cfg(not(unix))]
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
