//! A real SMTP server for the mail tests: `tests/smtp_sink.py` (aiosmtpd,
//! Debian's `python3-aiosmtpd`) started on a free port, writing each mail
//! it receives as a JSON file the test reads, as a user reads a mailbox.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long a test waits for a mail before it fails: far above what
/// sending takes, so it fails only when the mail never comes.
const MAIL_DEADLINE: Duration = Duration::from_secs(30);

/// The interpreter with aiosmtpd (Debian's package, not a pyenv shim).
const PYTHON: &str = "/usr/bin/python3";

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    maildir: TempDir,
}

/// What the sink does besides accepting mail.
#[derive(Default, Clone)]
pub struct SinkOptions {
    pub port: Option<u16>,
    /// `(cert, key)`: offer STARTTLS and require it.
    pub starttls: Option<(PathBuf, PathBuf)>,
    /// `(cert, key)`: TLS from the first byte.
    pub smtps: Option<(PathBuf, PathBuf)>,
    /// `user:password` required.
    pub auth: Option<String>,
}

/// Whether aiosmtpd is importable; outside CI its absence skips the mail
/// tests, in CI it fails them.
fn installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let found = *INSTALLED.get_or_init(|| {
        Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    if found {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{PYTHON} cannot import aiosmtpd; install Debian's python3-aiosmtpd \
         (`apt-get install -y python3-aiosmtpd`) so mail is tested against a real SMTP server"
    );
    eprintln!("skipped: {PYTHON} cannot import aiosmtpd (Debian's python3-aiosmtpd)");
    false
}

impl SmtpSink {
    /// A sink, or `None` (the test then returns) where aiosmtpd is not
    /// installed outside CI.
    pub fn start() -> Option<Self> {
        Self::start_with(SinkOptions::default())
    }

    pub fn start_with(options: SinkOptions) -> Option<Self> {
        if !installed() {
            return None;
        }
        let maildir = tempfile::tempdir().expect("maildir");
        Some(Self::start_in(maildir, options))
    }

    fn start_in(maildir: TempDir, options: SinkOptions) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut command = Command::new(PYTHON);
        command
            .arg(script)
            .arg("--maildir")
            .arg(maildir.path())
            .arg("--port")
            .arg(options.port.unwrap_or(0).to_string());
        if let Some((cert, key)) = &options.starttls {
            command.arg("--starttls").arg(cert).arg(key);
        }
        if let Some((cert, key)) = &options.smtps {
            command.arg("--smtps").arg(cert).arg(key);
        }
        if let Some(auth) = &options.auth {
            command.arg("--auth").arg(auth);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the SMTP sink starts (needs python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("sink stdout"))
            .read_line(&mut line)
            .expect("sink says where it listens");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP sink did not start: {line:?}"));
        Self {
            child,
            port,
            maildir,
        }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far, in order.
    pub fn mails(&self) -> Vec<Value> {
        read_mails(self.maildir.path())
    }

    /// Waits until a mail to `to` whose subject contains `subject` has
    /// arrived (beyond the first `skip` such mails) and returns it.
    pub async fn wait_for(&self, to: &str, subject: &str, skip: usize) -> Value {
        let started = Instant::now();
        loop {
            let found: Vec<Value> = self
                .mails()
                .into_iter()
                .filter(|m| {
                    m["rcpt_tos"][0] == to
                        && m["subject"].as_str().is_some_and(|s| s.contains(subject))
                })
                .collect();
            if let Some(mail) = found.into_iter().nth(skip) {
                return mail;
            }
            assert!(
                started.elapsed() < MAIL_DEADLINE,
                "no mail {subject:?} to {to} arrived; received: {:?}",
                self.mails()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_mails(dir: &Path) -> Vec<Value> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|e| e == "json"));
    names.sort();
    names
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect()
}

/// The token of the link in a mail's plain part.
pub fn link_token(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("a plain part");
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The link (up to its end) in a mail's plain part.
pub fn link(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("a plain part");
    let start = text.find("http").expect("a link");
    text[start..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A port nothing listens on now (for a sink started later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl SmtpSink {
    /// `wait_for` for tests that run no async runtime (child processes).
    pub fn wait_for_blocking(&self, to: &str, subject: &str, skip: usize) -> Value {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(self.wait_for(to, subject, skip))
    }
}

/// A CA (`ca.crt`) and a certificate for `localhost` signed by it
/// (`server.crt`, `server.key`) in `dir`, made by openssl.
pub fn make_tls(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test mail CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions file");
    run(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-extfile",
        "server.ext",
    ]);
}
