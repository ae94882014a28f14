//! The `user-api` binary: parse the command line, start logging, dispatch.
//! A startup failure becomes one line on stderr and exit code 1.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use user_api::cli::{
    AdminCommand, AdminCreateArgs, Cli, Command, DbCommand, EventsCommand, LogFormat, UsersCommand,
};
use user_api::domain::{NewUser, NewUserFields, PasswordPolicy, Violations};
use user_api::progress::Progress;
use user_api::{app, telemetry, App};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => {
                let _log_writer = telemetry::init_buffered(args.log_format);
                let app = App::build(*args).await.map_err(|e| e.to_string())?;
                let shutdown = app::shutdown_signal()
                    .map_err(|e| format!("cannot install signal handlers: {e}"))?;
                match app.metrics_addr() {
                    Some(metrics) => println!(
                        "user-api listening on http://{} (metrics on http://{metrics}/metrics)",
                        app.local_addr()
                    ),
                    None => println!("user-api listening on http://{}", app.local_addr()),
                }
                app.run_until(shutdown).await.map_err(|e| e.to_string())
            }
            Command::Migrate(args) => {
                telemetry::init(LogFormat::Text);
                app::open_store(&args).await.map_err(|e| e.to_string())?;
                println!("schema is at version {}", user_api::store::LATEST_VERSION);
                Ok(())
            }
            Command::Admin(AdminCommand::Create(args)) => create_admin(args).await,
            Command::Db(DbCommand::Backup(args)) => {
                telemetry::init(LogFormat::Text);
                let progress = Progress::start("backing up", "pages");
                let done =
                    user_api::store::backup::run(&args.store.database_url, &args.to, &progress)
                        .await
                        .map_err(|e| e.to_string());
                progress.finish();
                let done = done?;
                println!("{done}");
                Ok(())
            }
            Command::Db(DbCommand::Copy(args)) => {
                telemetry::init(LogFormat::Text);
                let progress = Progress::start("reading", "rows");
                let done =
                    user_api::store::copy::run(&args.from, &args.to, args.overwrite, &progress)
                        .await
                        .map_err(|e| e.to_string());
                progress.finish();
                let done = done?;
                println!("{done}");
                Ok(())
            }
            Command::Events(EventsCommand::Retry(args)) => {
                telemetry::init(LogFormat::Text);
                let store = app::open_store(&args).await.map_err(|e| e.to_string())?;
                let queued = store.retry_failed().await.map_err(|e| e.to_string())?;
                println!("{queued} failed deliveries queued again");
                Ok(())
            }
            Command::Users(UsersCommand::Export(args)) => {
                telemetry::init(LogFormat::Text);
                let store = app::open_store(&args.store)
                    .await
                    .map_err(|e| e.to_string())?;
                let done = user_api::transfer::export(&store, args.to.as_deref()).await?;
                // Standard output may be the export itself.
                if args.to.is_some() {
                    println!("{done}");
                } else {
                    eprintln!("{done}");
                }
                Ok(())
            }
            Command::Users(UsersCommand::Import(args)) => {
                telemetry::init(LogFormat::Text);
                let settings = args.settings()?;
                if !settings.from.is_file() {
                    return Err(format!("--from {}: no such file", settings.from.display()));
                }
                let store = app::open_store(&args.store)
                    .await
                    .map_err(|e| e.to_string())?;
                let accounts = app::accounts(store, &import_hashing(&args), None)
                    .map_err(|e| e.to_string())?;
                let done = user_api::transfer::import(&accounts, settings).await?;
                println!("{done}");
                Ok(())
            }
            Command::Openapi => {
                let doc = user_api::http::docs::openapi();
                let json = doc.to_pretty_json().map_err(|e| e.to_string())?;
                println!("{json}");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

/// Help and version go to stdout as clap renders them; a usage error becomes
/// the contract's one-line reason (clap's own adds usage lines and a hint).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            // The message up to the usage lines, on one line: clap puts
            // what is missing (e.g. the required flags) on lines of its own.
            let rendered = e.render().to_string();
            let message = rendered
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty() && !line.starts_with("Usage:"))
                .collect::<Vec<_>>()
                .join(" ");
            let message = message.trim_start_matches("error: ");
            let message = if message.is_empty() {
                "invalid command line"
            } else {
                message
            };
            eprintln!("user-api: {message}");
            ExitCode::from(2)
        }
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("user-api: {message}");
    ExitCode::FAILURE
}

async fn create_admin(args: AdminCreateArgs) -> Result<(), String> {
    telemetry::init(LogFormat::Text);
    // A weak hashing cost is refused before a password is asked for.
    args.hashing.config()?;
    let password = read_password()?;
    let policy = PasswordPolicy {
        min_chars: usize::from(args.hashing.password_min_length),
    };
    let mut violations = Violations::default();
    let fields = NewUserFields {
        email: Some(&args.email),
        name: Some(&args.name),
        password: Some(&password),
        role: None,
        email_verified: None,
    };
    let new = NewUser::parse(fields, &policy, &mut violations);
    let new = match (new, violations.is_empty()) {
        (Some(new), true) => new,
        _ => {
            let reasons: Vec<String> = violations
                .into_vec()
                .into_iter()
                .map(|e| format!("{} {}", e.field, e.message))
                .collect();
            return Err(format!("invalid admin: {}", reasons.join("; ")));
        }
    };
    // Only a valid admin opens (and perhaps creates) the database.
    let store = app::open_store(&args.store)
        .await
        .map_err(|e| e.to_string())?;
    let accounts = app::accounts(store, &args.hashing, None).map_err(|e| e.to_string())?;
    let user = accounts
        .create_admin(new)
        .await
        .map_err(|e| e.to_string())?;
    println!("created admin {} with id {}", user.email, user.id);
    Ok(())
}

/// An import hashes nothing: one hashing thread; its memory is the cap for
/// imported hashes, and the iterations only need to meet OWASP's floor
/// (m × t ≥ 35,840) with it, as `serve`'s costs do.
fn import_hashing(args: &user_api::cli::UsersImportArgs) -> user_api::cli::HashArgs {
    user_api::cli::HashArgs {
        argon2_memory_kib: args.argon2_memory_kib,
        argon2_iterations: 35_840_u32
            .div_ceil(args.argon2_memory_kib.max(1))
            .clamp(2, 100),
        argon2_parallelism: 1,
        hash_concurrency: Some(1),
        password_min_length: 15,
        test_weak_argon2: false,
    }
}

/// From a prompt without echo on a terminal (asked twice), else one line of
/// standard input.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Password again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
