//! A PostgreSQL cluster of a test's own, for what cannot be done to the
//! server other tests share: TLS with certificates the test made, few
//! connections, a stop and a start. Debian's postgresql package
//! (`/usr/lib/postgresql/<version>/bin`), run as the `postgres` user since
//! initdb refuses root; its own port, directory and Unix socket. A CA and
//! a server certificate for `localhost` (no IP address in it) come from
//! openssl.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::database::postgres_execute;

pub struct Cluster {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// Runs `program` as the `postgres` user when we are root.
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's postgresql package")
        .map(|e| e.unwrap().path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("an initdb")
}

/// A CA (`name`.crt/.key) in `dir`.
pub fn make_ca(dir: &Path, name: &str) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={name}")])
        .args([
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
}

/// A server certificate for `localhost` signed by the CA `ca`, as
/// `name`.crt/.key in `dir`.
pub fn make_server_cert(dir: &Path, ca: &str, name: &str) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args([
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]));
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["x509", "-req", "-days", "2", "-in", &format!("{name}.csr")])
        .args(["-CA", &format!("{ca}.crt"), "-CAkey", &format!("{ca}.key")])
        .args(["-CAcreateserial", "-out", &format!("{name}.crt")])
        .args(["-extfile", &format!("{name}.ext")]));
}

impl Cluster {
    /// initdb, a CA `ca` and a server certificate `server` signed by it,
    /// `settings` appended to postgresql.conf, `hba` as pg_hba.conf (the
    /// Unix socket is always trusted), then started.
    pub fn start(settings: &str, hba: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        run(Command::new("chmod").arg("755").arg(path));
        make_ca(path, "ca");
        make_server_cert(path, "ca", "server");
        run(Command::new("chown").args(["-R", "postgres"]).arg(path));
        for key in ["ca.key", "server.key"] {
            run(Command::new("chmod").arg("600").arg(path.join(key)));
        }
        let bin = bin_dir();
        let data = path.join("data");
        run(as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data));
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\n\
             ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n\
             fsync = off\n{settings}\n",
            dir = path.display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut all = std::fs::read_to_string(&conf_path).unwrap();
        all.push_str(&conf);
        std::fs::write(&conf_path, all).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("local all all trust\n{hba}\n"),
        )
        .unwrap();
        let cluster = Self { dir, bin, port };
        cluster.pg_ctl(&["start", "-w", "-t", "30"]);
        cluster.admin("CREATE DATABASE app");
        cluster
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pg_ctl(&self, args: &[&str]) {
        run(as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(args));
    }

    /// Statements as the superuser on database `postgres`, over the Unix
    /// socket (never refused by pg_hba, and no TLS).
    pub fn admin(&self, sql: &str) {
        postgres_execute(&self.socket_url("postgres"), sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn socket_url(&self, db: &str) -> String {
        let encoded = self.dir.path().display().to_string().replace('/', "%2F");
        format!("postgres://postgres@{encoded}:{}/{db}", self.port)
    }

    /// The service's URL: database `app` on `host` over TCP, a password
    /// (trust ignores it) that must never be shown, and `query`.
    pub fn url(&self, host: &str, query: &str) -> String {
        format!(
            "postgres://postgres:{PG_PASSWORD}@{host}:{}/app?{query}",
            self.port
        )
    }

    pub fn ca_file(&self) -> String {
        self.dir.path().join("ca.crt").display().to_string()
    }
}

/// In every URL of these tests; it must reach no output.
pub const PG_PASSWORD: &str = "hunter2-pg-secret";

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["stop", "-m", "immediate"])
            .output();
    }
}

/// Polls `check` until it holds or `within` passes.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
