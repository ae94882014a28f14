//! `--version` and `--help`: the package version, every subcommand, and every
//! flag of `serve` explained and paired with the environment variable that
//! stands for it.

use super::run_to_exit;

/// Every flag of the contract's table and the ones this service adds, with
/// the environment variable that must stand for it.
const FLAGS: [(&str, &str); 24] = [
    ("--listen", "USER_API_LISTEN"),
    ("--database-url", "USER_API_DATABASE_URL"),
    ("--metrics-addr", "USER_API_METRICS_ADDR"),
    ("--cors-origins", "USER_API_CORS_ORIGINS"),
    ("--signup", "USER_API_SIGNUP"),
    ("--password-min-length", "USER_API_PASSWORD_MIN_LENGTH"),
    ("--token-ttl", "USER_API_TOKEN_TTL"),
    ("--trusted-proxies", "USER_API_TRUSTED_PROXIES"),
    ("--log-format", "USER_API_LOG_FORMAT"),
    ("--signup-rate", "USER_API_SIGNUP_RATE"),
    ("--request-timeout", "USER_API_REQUEST_TIMEOUT"),
    ("--hash-concurrency", "USER_API_HASH_CONCURRENCY"),
    ("--argon2-memory-kib", "USER_API_ARGON2_MEMORY_KIB"),
    ("--argon2-iterations", "USER_API_ARGON2_ITERATIONS"),
    ("--argon2-parallelism", "USER_API_ARGON2_PARALLELISM"),
    ("--db-pool-size", "USER_API_DB_POOL_SIZE"),
    ("--shutdown-grace", "USER_API_SHUTDOWN_GRACE"),
    ("--max-connections", "USER_API_MAX_CONNECTIONS"),
    (
        "--max-connections-per-address",
        "USER_API_MAX_CONNECTIONS_PER_ADDRESS",
    ),
    ("--header-timeout", "USER_API_HEADER_TIMEOUT"),
    ("--max-in-flight", "USER_API_MAX_IN_FLIGHT"),
    ("--max-websockets", "USER_API_MAX_WEBSOCKETS"),
    ("--sqlite-max-mib", "USER_API_SQLITE_MAX_MIB"),
    ("--prune-interval", "USER_API_PRUNE_INTERVAL"),
];

#[test]
fn version_prints_the_package_version() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["--version"], &[], dir.path(), None);
    assert!(exit.status.success(), "{exit:?}");
    assert_eq!(
        exit.stdout.trim(),
        format!("user-api {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_names_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["--help"], &[], dir.path(), None);
    assert!(exit.status.success(), "{exit:?}");
    for command in ["serve", "migrate", "admin", "openapi"] {
        assert!(
            exit.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(command)),
            "`user-api --help` names `{command}`:\n{}",
            exit.stdout
        );
    }
}

#[test]
fn serve_help_explains_every_flag_and_names_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let exit = run_to_exit(&["serve", "--help"], &[], dir.path(), None);
    assert!(exit.status.success(), "{exit:?}");
    for (flag, variable) in FLAGS {
        let entry = help_entry(&exit.stdout, flag)
            .unwrap_or_else(|| panic!("`serve --help` lists {flag}:\n{}", exit.stdout));
        let (explanation, after) = entry
            .split_once("[env: ")
            .unwrap_or_else(|| panic!("{flag} names an environment variable: {entry}"));
        assert!(
            after.starts_with(&format!("{variable}=")),
            "{flag} names {variable}: {entry}"
        );
        assert!(
            explanation.trim().len() > 10,
            "{flag} is explained: {entry}"
        );
    }
}

#[test]
fn migrate_and_admin_create_help_name_the_database_url_and_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    for command in [&["migrate", "--help"][..], &["admin", "create", "--help"]] {
        let exit = run_to_exit(command, &[], dir.path(), None);
        assert!(exit.status.success(), "{command:?}: {exit:?}");
        let entry = help_entry(&exit.stdout, "--database-url")
            .unwrap_or_else(|| panic!("{command:?} lists --database-url:\n{}", exit.stdout));
        assert!(
            entry.contains("[env: USER_API_DATABASE_URL="),
            "{command:?}: {entry}"
        );
    }
}

/// The text of `flag`'s entry in clap's help (whitespace collapsed, so line
/// wrapping does not matter), after its value name, up to the next flag.
fn help_entry(help: &str, flag: &str) -> Option<String> {
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = flat.find(&format!("{flag} <"))?;
    let after_flag = &flat[start..];
    let rest = &after_flag[after_flag.find('>')? + 1..];
    let end = rest.find(" --").unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}
