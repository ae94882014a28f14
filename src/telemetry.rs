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

/// Dependencies whose `debug` output carries values we must never log:
/// tokio-postgres prints every statement's parameters (password hashes,
/// token hashes, emails). Capped whatever `RUST_LOG` asks for.
const QUIET: &[&str] = &["tokio_postgres=info", "postgres_protocol=info"];

/// Installs the global subscriber. `RUST_LOG` overrides the default level
/// (`info`), but never lifts the caps of `QUIET`. User-supplied text is
/// given to events as a `&str` field, never with `%`: the text format then
/// quotes and escapes it, so no value can forge a field or a line.
pub fn init(format: LogFormat) {
    let filter = QUIET.iter().fold(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        |filter, directive| match directive.parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        },
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
