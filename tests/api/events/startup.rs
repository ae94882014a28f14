//! "`--webhook-url` without `--webhook-secret`, or a malformed secret, is
//! refused at start": the real binary exits non-zero with a one-line reason
//! naming the flag, and never repeats a secret it was given. These need no
//! database, so both runs of the suite run them; they cost milliseconds.

use super::harness::run_serve_to_exit;
use super::SECRET;

const URL: &str = "http://127.0.0.1:9/hooks/user-api";

#[test]
fn serve_with_a_webhook_url_and_no_webhook_secret_exits_non_zero_with_a_one_line_reason_naming_webhook_secret(
) {
    let dir = tempfile::tempdir().unwrap();

    let exit = run_serve_to_exit(&dir, &["--webhook-url", URL]);

    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--webhook-secret"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_with_a_webhook_secret_without_whsec_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();

    let exit = run_serve_to_exit(
        &dir,
        &[
            "--webhook-url",
            URL,
            "--webhook-secret",
            "dXNlci1hcGkgdGVzdCBrZXkgb25lLCAzMiBieXRlcw==",
        ],
    );

    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--webhook-secret"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn serve_with_a_webhook_secret_that_is_not_base64_exits_non_zero_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();

    let exit = run_serve_to_exit(
        &dir,
        &[
            "--webhook-url",
            URL,
            "--webhook-secret",
            "whsec_not*base64!",
        ],
    );

    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(exit.stderr.contains("--webhook-secret"), "{exit:?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:?}");
}

#[test]
fn a_malformed_second_webhook_secret_is_refused_without_printing_either_secret() {
    let dir = tempfile::tempdir().unwrap();
    let key = SECRET.trim_start_matches("whsec_");
    let malformed = "whsec_n0t*base64";

    let exit = run_serve_to_exit(
        &dir,
        &[
            "--webhook-url",
            URL,
            "--webhook-secret",
            &format!("{SECRET},{malformed}"),
        ],
    );

    assert!(exit.failed(), "{exit:?}");
    assert_eq!(exit.stderr_lines().len(), 1, "{exit:?}");
    assert!(!exit.stderr.contains(key), "{exit:?}");
    assert!(!exit.stderr.contains("n0t*base64"), "{exit:?}");
    assert!(!exit.stdout.contains(key), "{exit:?}");
}
