//! Logging: one `tracing` subscriber, text or JSON, to stderr. Request lines
//! come from `http::observe`; sign-in and admin audit events use the
//! `user_api::audit` target. Secrets have redacting `Debug` impls and are
//! never fields of an event.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written: `text` for people, `json` for collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level
/// (`info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
