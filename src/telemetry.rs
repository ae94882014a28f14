//! Logging: one `tracing` subscriber, text or JSON, to stderr. Request lines
//! come from `http::observe`; sign-in and admin audit events use the
//! `user_api::audit` target. Secrets have redacting `Debug` impls and are
//! never fields of an event.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::MakeWriter;
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
    install(format, std::io::stderr);
}

/// As `init`, for `serve`: lines are handed to a logging thread that writes
/// whatever has queued up in one `write` (a `BufWriter` flushed each time
/// the queue empties), instead of one `write` per request line on the
/// request's own thread (issue 14: that syscall was the one the ceiling
/// peer does not make). Nothing is dropped: a full queue makes callers
/// wait. The guard flushes at exit; lines still queued when the process is
/// killed are lost, as with any buffered logger.
pub fn init_buffered(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(false)
        .thread_name("log-writer")
        .finish(BufWriter::new(std::io::stderr()));
    install(format, writer);
    guard
}

/// Lines the logging thread's queue holds. The queue is a channel whose
/// slots are all allocated and touched at start: the crate's default of
/// 128,000 lines was 4 MB of the idle process (a third of its PSS). A few
/// thousand lines is many milliseconds of the busiest load measured (one
/// `write` drained about 9 lines), after which callers wait rather than
/// lose a line.
const LOG_QUEUE_LINES: usize = 4096;

fn install<W>(format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = QUIET.iter().fold(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        |filter, directive| match directive.parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        },
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
