"""The driver behind `bench/run`: seeds every store, checks every service
answers the same way, runs every scenario against every service (interleaved:
for each scenario, round after round, every service in turn), the server
pinned to CPU 1 and the load generator to CPU 0, then again unpinned, then
the million-user set (user-api on a store of 10,000 users beside one of
1,000,000, pinned), then the PostgreSQL set (user-api, its build from before
the round-trip change, Gin with lib/pq and FastAPI with asyncpg, each on its
own database of one PostgreSQL server), then the million-user set's
PostgreSQL part (million-pg), and writes the raw figures as JSON for
report.py.

Everything it starts it stops: servers run in their own process groups, are
killed after each measurement, on any error and on SIGINT/SIGTERM, and every
load generator has a bounded duration and a timeout. Loopback only."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import seed as seeding

HARNESS = Path(__file__).resolve().parent
BENCH = HARNESS.parent
ROOT = BENCH.parent
BUILD = Path(os.environ.get("BENCH_BUILD_DIR", BENCH / ".build"))
RUN = BUILD / "run"
LUA = HARNESS / "lua"
PEERS = BENCH / "peers"
SCHEMA = PEERS / "schema.sql"

USER_API = Path(os.environ["BENCH_USER_API"]) if "BENCH_USER_API" in os.environ else None
HELLO = Path(os.environ["BENCH_HELLO"]) if "BENCH_HELLO" in os.environ else None
# The ceiling of the authenticated read (bench/hello/src/bin/axum-ceiling.rs),
# built beside the hello-world.
CEILING = HELLO.with_name("axum-ceiling") if HELLO else None
OHA = Path(os.environ.get("BENCH_OHA", BUILD / "tools" / "bin" / "oha"))
GIN = BUILD / "bin" / "gin-peer"
NETHTTP = BUILD / "bin" / "nethttp-peer"
VENV = BUILD / "venv-fastapi"
# user-api as built from the commit before its authenticated read became one
# PostgreSQL round trip (bench/build --before; the PostgreSQL set only).
USER_API_BEFORE = BUILD / "bin" / "user-api-before"
PG_SCHEMA = PEERS / "schema-postgres.sql"
# The PostgreSQL server of the PostgreSQL set: any database on it to connect
# to; each service gets a database of its own there (PG_DATABASES), made and
# dropped by the harness. Every client runs with TLS off.
PG_SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DATABASES = {"user-api": "bench_userapi", "user-api-before": "bench_userapi_before", "gin": "bench_gin",
                "gin-pool": "bench_gin_pool", "fastapi-raw": "bench_fastapi"}
PG_SCENARIOS = ("user_by_id", "signup")
# The million-user set (issue 14: sign-in, sign-up and the authenticated read
# at 1,000,000 users within 10% of their 10,000-user figures): user-api on
# two stores, measured side by side like any two services.
MILLION_SCENARIOS = ("user_by_id", "list_users", "signup", "login")
MILLION_SERVICES = ("user-api", "user-api-1m")
# Its PostgreSQL part (the million-pg set): the same two on two databases of
# the PostgreSQL set's server, unpinned as that set is.
MILLION_PG_DATABASES = {"user-api": "bench_million_small", "user-api-1m": "bench_million_big"}
MILLION_SETS = ("million", "million-pg")
PG_SETS = ("postgres", "million-pg")

SERVER_CPU = 1
LOAD_CPU = 0
PIDFILE = RUN / "servers.pgid"


# --- services -------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    name: str
    store: str | None  # "user-api", "peer" or None (no database)
    api: bool  # has the whole API, not only /health


SERVICES = [
    Service("user-api", "user-api", True),
    Service("axum-hello", None, False),
    # The authenticated read's ceiling: axum + rusqlite on user-api's store,
    # the token lookup and the user read inline, nothing else. Measured on
    # `GET /users/{id}` only.
    Service("axum-ceiling", "user-api", False),
    Service("gin", "peer", True),
    Service("net/http", None, False),
    Service("fastapi-raw", "peer", True),
    Service("fastapi-orm", "peer", True),
    # The PostgreSQL set only: user-api built from before its read became
    # one round trip, and Gin with a pool of 10 kept open beside Gin with
    # database/sql's default pool (which keeps 2 idle and churns the rest).
    Service("user-api-before", "user-api", True),
    Service("gin-pool", "peer", True),
    # The million-user set only: the same binary on a store seeded with
    # 1,000,000 users (--million-users), beside user-api on the usual one.
    Service("user-api-1m", "user-api-1m", True),
]
BY_NAME = {s.name: s for s in SERVICES}


def pg_url(database: str) -> str:
    """A URL of the PostgreSQL set's server for `database`, TLS off."""
    base = PG_SERVER.split("?", 1)[0].rsplit("/", 1)[0]
    return f"{base}/{database}?sslmode=disable"


def psql(url: str, sql: str, timeout: float = 60) -> str:
    r = subprocess.run(["psql", url, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"psql: {sql[:80]}: {r.stderr.strip()[-500:]}")
    return r.stdout.strip()


def server_argv(svc: Service, port: int, db: Path | str | None, cpus: int, scenario: str) -> tuple[list[str], dict, Path]:
    """How each service is started, as shipped (default log level). `db` is
    a SQLite file, or in the PostgreSQL set a postgres:// URL."""
    env = dict(os.environ)
    addr = f"127.0.0.1:{port}"
    pg = isinstance(db, str)
    if svc.name in ("user-api", "user-api-before", "user-api-1m"):
        binary = USER_API_BEFORE if svc.name == "user-api-before" else USER_API
        argv = [str(binary), "serve", "--database-url", db if pg else f"sqlite:{db}", "--listen", addr]
        if scenario == "signup":
            argv += ["--signup-rate", "0"]  # the peers have no per-address sign-up limit
        if scenario == "conn10k":
            # All 10,000 connections come from 127.0.0.1, past the default
            # 256 per address; the peers have no such cap either.
            argv += ["--max-connections-per-address", "0"]
        return argv, env, RUN
    if svc.name == "axum-hello":
        return [str(HELLO), "--listen", addr], env, RUN
    if svc.name == "axum-ceiling":
        return [str(CEILING), "--database", str(db), "--listen", addr], env, RUN
    if svc.name in ("gin", "gin-pool"):
        env.update(GIN_MODE="release", PEER_SCHEMA=str(SCHEMA))
        if pg:
            pool = ["-pg-pool", "10"] if svc.name == "gin-pool" else []
            return [str(GIN), "-pg", db, *pool, "-listen", addr], env, RUN
        return [str(GIN), "-db", str(db), "-listen", addr], env, RUN
    if svc.name == "net/http":
        return [str(NETHTTP), "-listen", addr], env, RUN
    if svc.name.startswith("fastapi-"):
        module = "app_raw:app" if svc.name == "fastapi-raw" else "app_orm:app"
        if pg:
            module = "app_pg:app"
            env.update(PEER_DATABASE_URL=db)
        else:
            env.update(PEER_DB=str(db), PEER_SCHEMA=str(SCHEMA))
        argv = [str(VENV / "bin" / "uvicorn"), module, "--host", "127.0.0.1", "--port", str(port),
                "--loop", "uvloop", "--http", "httptools"]
        if cpus > 1:
            argv += ["--workers", str(cpus)]  # one process per core the server may use
        return argv, env, PEERS / "fastapi"
    raise ValueError(svc.name)


# --- processes --------------------------------------------------------------

_live: dict[int, subprocess.Popen] = {}


def _write_pidfile() -> None:
    PIDFILE.write_text("".join(f"{pgid}\n" for pgid in _live))


def spawn(argv: list[str], cpus: set[int] | None, **kw) -> subprocess.Popen:
    """Starts a process in its own process group on `cpus`: the harness takes
    that affinity for the fork, so the child has it from its first
    instruction (no taskset exec in the way of cold-start timing)."""
    old = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        return subprocess.Popen(argv, start_new_session=True, **kw)
    finally:
        os.sched_setaffinity(0, old)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_all() -> None:
    for proc in list(_live.values()):
        kill_group(proc)
    _live.clear()
    if PIDFILE.parent.exists():
        _write_pidfile()


def _on_signal(signum, _frame):
    kill_all()
    raise SystemExit(128 + signum)


def tree_pids(pid: int) -> list[int]:
    pids, i = [pid], 0
    while i < len(pids):
        p = pids[i]
        i += 1
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    pids += [int(x) for x in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return pids


def pss_kb(pid: int) -> int:
    """Proportional set size of the process and all its descendants."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def cpu_seconds(pid: int) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / tick


def postgres_cpu_seconds() -> float | None:
    """CPU seconds used by every postgres process of this machine: each live
    one's own, plus what the postmaster's exited children used (it reaps
    them: cutime/cstime), so backends that come and go inside a window are
    counted too. None when no PostgreSQL runs here (a remote server)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        if comm == "postgres" or comm.startswith("postgres:"):
            fields = raw.rsplit(")", 1)[1].split()
            procs[int(d)] = (int(fields[1]), [int(x) for x in fields[11:15]])  # ppid; utime, stime, cutime, cstime
    if not procs:
        return None
    total = 0
    for ppid, (ut, st, cut, cst) in procs.values():
        total += ut + st
        if ppid not in procs:  # the postmaster
            total += cut + cst
    return total / tick


def http(port: int, method: str, path: str, headers: dict | None = None, body: bytes = b"",
         timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 request on a new connection; (status, headers, body)."""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for k, v in (headers or {}).items():
        head.append(f"{k}: {v}")
    if body or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    raw = b"".join(chunks)
    header_blob, _, rest = raw.partition(b"\r\n\r\n")
    lines = header_blob.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out, buf = b"", rest
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, buf = out + buf[:size], buf[size + 2:]
        rest = out
    return status, hdrs, rest


def first_200(port: int, deadline: float) -> float | None:
    """Polls GET /health until it answers 200; the time it did, or None."""
    req = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
                s.sendall(req)
                data = s.recv(64)
                if data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200"):
                    return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.0002)
    return None


_next_port = [0]


def free_port() -> int:
    """A new port for every server start, so no connection of an earlier run
    (TIME_WAIT after 10,000 connections) is ever in the way."""
    if not _next_port[0]:
        _next_port[0] = 21000 + (os.getpid() % 50) * 200
    while True:
        _next_port[0] += 1
        port = _next_port[0]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


class Server:
    """One service, started on a fresh copy of its seeded store."""

    def __init__(self, h: "Harness", svc: Service, scenario: str, fresh_db: bool = True):
        self.h, self.svc, self.scenario = h, svc, scenario
        self.port = free_port()
        self.db = None
        if h.set == "postgres":
            self.db = pg_url(PG_DATABASES[svc.name])
        elif h.set == "million-pg":
            self.db = pg_url(MILLION_PG_DATABASES[svc.name])
        elif svc.store:
            self.db = RUN / "db" / f"{svc.name.replace('/', '-')}.db"
            if fresh_db:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.db}{suffix}").unlink(missing_ok=True)
                shutil.copyfile(h.templates[svc.store], self.db)
                if h.set == "million":
                    # A million users' copy is half a gigabyte of dirty
                    # pages: written back now, before the server starts,
                    # not by the kernel's flusher ~30 s later, in the middle
                    # of another measurement (both stores alike).
                    fd = os.open(self.db, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        self.log = RUN / "logs" / f"{svc.name.replace('/', '-')}-{scenario}.log"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0

    def start(self, wait: bool = True) -> "Server":
        argv, env, cwd = server_argv(self.svc, self.port, self.db, len(self.h.server_cpus), self.scenario)
        self.logf = open(self.log, "wb")
        self.started = time.perf_counter()
        self.proc = spawn(argv, self.h.server_cpus, env=env, cwd=cwd, stdout=self.logf, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
        _live[self.proc.pid] = self.proc
        _write_pidfile()
        if wait:
            self.ready_at = first_200(self.port, time.perf_counter() + 60)
            if self.ready_at is None:
                self.stop()
                raise RuntimeError(f"{self.svc.name} did not answer GET /health within 60 s; log:\n{self.tail()}")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def pss_mb(self) -> float:
        return pss_kb(self.proc.pid) * 1024 / 1e6

    def stop(self, keep_log: bool = False) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            _live.pop(self.proc.pid, None)
            _write_pidfile()
        if getattr(self, "logf", None):
            self.logf.close()
        if not keep_log:
            self.log.unlink(missing_ok=True)


# --- load generators ----------------------------------------------------------

BENCHJSON = re.compile(r"^BENCHJSON (\{.*\})$", re.M)


def wrk_argv(port: int, script: str, path: str, conns: int, duration: float, timeout: str = "2s") -> list[str]:
    # wrk takes whole seconds only.
    return ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s", f"--timeout={timeout}", "--latency", "-s",
            str(LUA / script), f"http://127.0.0.1:{port}{path}"]


def parse_wrk(out: str) -> dict:
    m = BENCHJSON.search(out)
    if not m:
        raise RuntimeError(f"no figures in wrk's output:\n{out[-2000:]}")
    r = json.loads(m.group(1))
    dur = r["duration_us"] / 1e6
    bad = r["status"]
    sock = r["connect"] + r["read"] + r["write"] + r["timeout"]
    ok = max(r["requests"] - bad, 0)
    return {
        "rps": ok / dur,  # successful (2xx/3xx) responses a second
        "requests": r["requests"],
        "non2xx": bad,
        "socket_errors": sock,
        "errors": bad + sock,
        "p50": r["p50"] / 1000, "p90": r["p90"] / 1000, "p99": r["p99"] / 1000, "p999": r["p999"] / 1000,
        "max": r["max"] / 1000,
        "duration": dur,
    }


def oha_argv(port: int, path: str, rate: float, duration: float, conns: int, token: str | None = None,
             rand_path: str | None = None) -> list[str]:
    argv = [str(OHA), "--no-tui", "--output-format", "json", "-z", f"{duration:g}s", "-c", str(conns),
            "-q", f"{rate:.0f}", "--latency-correction", "--disable-compression", "-t", "5s", "-w"]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    if rand_path:
        argv += ["--rand-regex-url", f"http://127.0.0.1:{port}{rand_path}"]
    else:
        argv += [f"http://127.0.0.1:{port}{path}"]
    return argv


def parse_oha(out: str, rate: float) -> dict:
    r = json.loads(out)
    s, lp = r["summary"], r["latencyPercentiles"]
    codes = {int(k): v for k, v in (r.get("statusCodeDistribution") or {}).items()}
    errors = sum((r.get("errorDistribution") or {}).values())
    ok = sum(v for k, v in codes.items() if 200 <= k < 400)
    bad = sum(v for k, v in codes.items() if k >= 400)

    def ms(key):
        v = lp.get(key)
        return None if v is None else v * 1000

    return {
        "rate": rate,
        "achieved": s.get("requestsPerSec") or 0.0,
        "ok": ok,
        "errors": bad + errors,
        "p50": ms("p50"), "p99": ms("p99"), "p999": ms("p99.9"),
        "success_rate": s.get("successRate"),
    }


# --- the harness ----------------------------------------------------------------


@dataclass
class Plan:
    mode: str
    users: int
    warmup: float
    duration: float
    rounds: int
    conns: int = 64
    hash_conns: int = 16
    conn10k: int = 10000
    conn10k_duration: float = 10
    cold_starts: int = 20
    idle_wait: float = 2.0
    probe_rate: int = 200
    login_duration: float = 8
    million: int = 1_000_000  # users of the million-user set's second store
    sets: list = field(default_factory=lambda: ["pinned", "unpinned", "million", "postgres", "million-pg"])
    scenarios: list = field(default_factory=list)
    services: list = field(default_factory=list)


SCENARIOS = ["health", "user_by_id", "list_users", "signup", "login", "conn10k", "coldstart", "idle"]
API_ONLY = {"user_by_id", "list_users", "signup", "login"}
TITLES = {
    "health": "GET /health",
    "user_by_id": "GET /users/{id} with a bearer token",
    "list_users": "GET /users?limit=20 as admin",
    "signup": "POST /users (sign-up, argon2-bound)",
    "login": "POST /token (login, argon2-bound), with GET /health and GET /users/me probed meanwhile",
    "conn10k": "10,000 concurrent connections (GET /health)",
    "coldstart": "Cold start: exec to first 200 on GET /health",
    "idle": "Idle memory",
}


class Harness:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.records: list[dict] = []
        self.failures: list[str] = []
        self.skipped: list[str] = []
        self.templates: dict[str, Path] = {}
        self.server_cpus: set[int] | None = None
        self.load_cpus: set[int] | None = None
        self.set = "pinned"
        self.tokens_file = RUN / "tokens.txt"
        # The million-user set's store, its tokens for the wrk scripts and
        # what seeding it took (the report gives it).
        self.million_files: list[Path] = []
        self.million_info: dict = {}
        self.million_pg_info: dict = {}
        self.pg_made: list[str] = []  # databases this run made on the PostgreSQL server

    # -- setup --

    def prepare(self) -> None:
        for d in (RUN / "db", RUN / "logs", RUN / "templates"):
            d.mkdir(parents=True, exist_ok=True)
        for old in (RUN / "logs").iterdir():
            old.unlink()
        users = self.plan.users
        phc = subprocess.run(
            [str(VENV / "bin" / "python"), "-c",
             "import sys; from argon2 import PasswordHasher as P; "
             "print(P(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16).hash(sys.argv[1]))",
             seeding.PASSWORD], check=True, capture_output=True, text=True, timeout=60).stdout.strip()
        self.phc = phc
        seeding.write_tokens(self.tokens_file, users)
        if any(x in MILLION_SETS for x in self.plan.sets):
            self.million_tokens()
        if not any(x not in PG_SETS for x in self.plan.sets):
            return  # PostgreSQL sets only: no SQLite store to make
        t0 = time.perf_counter()
        ua = self.seed_user_api(RUN / "templates" / f"user-api-{users}.db", users)
        self.templates = {"user-api": ua}
        if any(x in ("pinned", "unpinned") for x in self.plan.sets):
            peer = RUN / "templates" / f"peer-{users}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{peer}{suffix}").unlink(missing_ok=True)
            seeding.seed("peer", peer, users, phc, SCHEMA.read_text())
            self.templates["peer"] = peer
        print(f"seeded {users} users into each store in {time.perf_counter() - t0:.1f} s (one argon2id hash: {phc[:31]}…)",
              flush=True)
        if "million" in self.plan.sets:
            self.prepare_million()

    def seed_user_api(self, path: Path, users: int) -> Path:
        """A store of user-api's schema (its own `migrate`) seeded directly."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        subprocess.run([str(USER_API), "migrate", "--database-url", f"sqlite:{path}"], check=True,
                       capture_output=True, timeout=60)
        seeding.seed("user-api", path, users, self.phc)
        return path

    def million_tokens(self) -> None:
        """The tokens of every user of the million-user sets' big store, for
        the wrk scripts, so the authenticated read picks its users across
        the whole store."""
        n = self.plan.million
        t0 = time.perf_counter()
        tokens = RUN / f"tokens-{n}.txt"
        self.million_files.append(tokens)
        seeding.write_tokens(tokens, n)
        self.million_info.update(users=n, tokens_s=time.perf_counter() - t0, tokens_mb=tokens.stat().st_size / 1e6)

    def prepare_million(self) -> None:
        """The million-user set's second store, seeded as the first (the
        same rows, the run's one hash; through migration 8's search-index
        and counter triggers, as a sign-up writes). Outside every timed
        part; its time is printed and kept in the results."""
        n = self.plan.million
        t0 = time.perf_counter()
        path = RUN / "templates" / f"user-api-1m-{n}.db"
        self.million_files += [path, RUN / "db" / "user-api-1m.db"]
        self.seed_user_api(path, n)
        seeded = time.perf_counter() - t0
        self.templates["user-api-1m"] = path
        self.million_info.update(seed_s=seeded, store_mb=path.stat().st_size / 1e6)
        print(f"million-user set: seeded {n:,} users into user-api's store in {seeded:.1f} s "
              f"({self.million_info['store_mb']:.0f} MB); their tokens for wrk written in "
              f"{self.million_info['tokens_s']:.1f} s (untimed)", flush=True)

    def prepare_million_pg(self) -> None:
        """The million-pg set's two databases on the PostgreSQL server, made
        afresh: user-api's `migrate` (migration 8 creates the trigram GIN
        indexes and the counter triggers on the empty table), then the same
        users and tokens as the SQLite stores COPYed through them — slower
        than seeding before the indexes, and what a store that grew by
        sign-ups holds. Made once per run, outside the timed part; each
        seeding's time is printed and kept. Dropped at the end."""
        pg = {}
        for name, users in (("user-api", self.plan.users), ("user-api-1m", self.plan.million)):
            db = MILLION_PG_DATABASES[name]
            t0 = time.perf_counter()
            psql(PG_SERVER, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            psql(PG_SERVER, f"CREATE DATABASE {db}")
            self.pg_made.append(db)
            url = pg_url(db)
            r = subprocess.run([str(USER_API), "migrate", "--database-url", url], capture_output=True, text=True,
                               timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"user-api migrate: {r.stderr[-1000:]}")
            seeding.seed_postgres("user-api", url, users, self.phc, timeout=120 + users / 1000)
            size = int(psql(PG_SERVER, f"SELECT pg_database_size('{db}')"))
            pg[name] = {"users": users, "seed_s": time.perf_counter() - t0, "store_mb": size / 1e6}
            print(f"million-pg set: seeded {users:,} users into {db} (after migrate) in {pg[name]['seed_s']:.1f} s "
                  f"({pg[name]['store_mb']:.0f} MB, untimed)", flush=True)
        self.million_pg_info = pg

    def drop_million(self) -> None:
        """The million-user store, its copy and its tokens: over a gigabyte
        that no later run reuses (each seeds with its own hash)."""
        for p in self.million_files:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{p}{suffix}").unlink(missing_ok=True)
        self.million_files.clear()

    def tokens_for(self, svc: Service) -> Path:
        """The "id token" lines of the users of `svc`'s store."""
        if svc.store == "user-api-1m":
            return RUN / f"tokens-{self.plan.million}.txt"
        return self.tokens_file

    def users_for(self, svc: Service) -> int:
        return self.plan.million if svc.store == "user-api-1m" else self.plan.users

    def prepare_postgres(self) -> None:
        """A database per service on the PostgreSQL server, made afresh:
        user-api's (and its before build's) by that binary's own `migrate`,
        the peers' from schema-postgres.sql; then the same users and tokens
        as the SQLite stores, with the same precomputed hash. Made once per
        run (sign-ups add rows; reads do not change), dropped at the end."""
        t0 = time.perf_counter()
        users = self.plan.users
        for svc in self.services_for("user_by_id") + self.services_for("signup"):
            db = PG_DATABASES[svc.name]
            if db in self.pg_made:
                continue
            psql(PG_SERVER, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            psql(PG_SERVER, f"CREATE DATABASE {db}")
            self.pg_made.append(db)
            url = pg_url(db)
            if svc.store == "user-api":
                binary = USER_API if svc.name == "user-api" else USER_API_BEFORE
                r = subprocess.run([str(binary), "migrate", "--database-url", url], capture_output=True, text=True,
                                   timeout=120)
                if r.returncode != 0:
                    raise RuntimeError(f"{svc.name} migrate: {r.stderr[-1000:]}")
                seeding.seed_postgres("user-api", url, users, self.phc)
            else:
                seeding.seed_postgres("peer", url, users, self.phc, PG_SCHEMA.read_text())
        version = psql(PG_SERVER, "SHOW server_version")
        print(f"seeded {users} users into {', '.join(self.pg_made)} on PostgreSQL {version} "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)

    def drop_postgres(self) -> None:
        for db in self.pg_made:
            try:
                psql(PG_SERVER, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                print(f"could not drop {db}: {e}", file=sys.stderr)
        self.pg_made.clear()

    def use_set(self, name: str) -> None:
        self.set = name
        everything = set(range(os.cpu_count() or 1))
        if name in ("pinned", "million"):  # million-pg: unpinned, as the PostgreSQL set
            self.server_cpus, self.load_cpus = {SERVER_CPU}, {LOAD_CPU}
        else:
            self.server_cpus, self.load_cpus = everything, everything
        os.sched_setaffinity(0, self.load_cpus)

    def services_for(self, scenario: str) -> list[Service]:
        out = []
        for s in SERVICES:
            # user-api on the million store goes with user-api.
            chosen = s.name in self.plan.services or (s.name == "user-api-1m" and "user-api" in self.plan.services)
            if self.plan.services and not chosen:
                continue
            if self.set in MILLION_SETS:
                if s.name in MILLION_SERVICES:
                    out.append(s)
                continue
            if self.set == "postgres":
                if s.name not in PG_DATABASES:
                    continue
                # The before build: smoke-checked, then measured on the
                # authenticated read only; absent unless bench/build --before.
                if s.name == "user-api-before" and (scenario not in ("health", "user_by_id")
                                                    or not USER_API_BEFORE.exists()):
                    continue
            elif s.name in ("user-api-before", "gin-pool", "user-api-1m"):
                continue
            if s.name == "axum-ceiling":
                if scenario == "user_by_id" and self.set != "postgres":
                    out.append(s)
                continue
            if scenario in API_ONLY and not s.api:
                continue
            out.append(s)
        return out

    def order(self, services: list[Service], rnd: int) -> list[Service]:
        """Gin first (its maximum sets the fixed rate of the others), the rest
        rotated every round so no service always follows the same one."""
        gin = [s for s in services if s.name == "gin"]
        rest = [s for s in services if s.name != "gin"]
        if rest:
            k = rnd % len(rest)
            rest = rest[k:] + rest[:k]
        return gin + rest

    def record(self, scenario: str, svc: Service, rnd: int, **fields) -> dict:
        rec = {"set": self.set, "scenario": scenario, "service": svc.name, "round": rnd, **fields}
        self.records.append(rec)
        return rec

    def fail(self, what: str) -> None:
        print(f"FAILED: {what}", flush=True)
        self.failures.append(what)

    def run_load(self, argv: list[str], env_extra: dict | None = None, timeout: float = 60) -> tuple[str, float]:
        """Runs a load generator to the end; its output and CPU seconds.
        `env_extra` may name another store's tokens (BENCH_TOKENS)."""
        env = {**os.environ, "BENCH_LUA_DIR": str(LUA), "BENCH_TOKENS": str(self.tokens_file),
               "BENCH_USERS": str(self.plan.users), **(env_extra or {})}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = spawn(argv, self.load_cpus, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _live[proc.pid] = proc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise RuntimeError(f"{Path(argv[0]).name} did not finish within {timeout:.0f} s")
        finally:
            _live.pop(proc.pid, None)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:6])}… exited {proc.returncode}: {err[-1000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return out, cpu

    # -- correctness: same endpoints, same JSON --

    def smoke(self) -> None:
        """Every API service answers the benchmarked requests the same way."""
        tok = seeding.token_for
        expected_keys = {"id", "email", "name", "role", "is_active", "created_at", "updated_at"}
        # The seed's fields; user-api's resource also has `email_verified`
        # (the contract's "Email"), which the peers do not know.
        def fields(user):
            return set(user) - {"email_verified"}
        for svc in self.services_for("health"):
            srv = Server(self, svc, "smoke").start()
            problems = []
            try:
                st, _, body = http(srv.port, "GET", "/health")
                if st != 200 or json.loads(body) != {"status": "healthy"}:
                    problems.append(f"GET /health → {st} {body[:80]!r}")
                if svc.api:
                    auth = {"Authorization": f"Bearer {tok(2)}"}
                    st, _, body = http(srv.port, "GET", "/users/2", auth)
                    user = json.loads(body) if st == 200 else {}
                    if st != 200 or fields(user) != expected_keys or user.get("email") != "user2@example.com" \
                            or user.get("created_at") != "2026-01-01T00:00:00Z" or user.get("role") != "user":
                        problems.append(f"GET /users/2 → {st} {body[:160]!r}")
                    for path, hdrs, want in (("/users/3", auth, 404), ("/users/2", {}, 401),
                                             ("/users?limit=20", auth, 403)):
                        st, _, _ = http(srv.port, "GET", path, hdrs)
                        if st != want:
                            problems.append(f"GET {path} → {st}, expected {want}")
                    st, _, body = http(srv.port, "GET", "/users?limit=20", {"Authorization": f"Bearer {tok(1)}"})
                    users = json.loads(body) if st == 200 else []
                    if st != 200 or len(users) != 20 or users[0].get("id") != 1 or fields(users[0]) != expected_keys:
                        problems.append(f"GET /users?limit=20 as admin → {st} {body[:120]!r}")
                    st, _, body = http(srv.port, "GET", "/users/me", auth)
                    if st != 200 or json.loads(body).get("id") != 2:
                        problems.append(f"GET /users/me → {st} {body[:120]!r}")
                    signup = json.dumps({"email": "Smoke@Example.com", "name": "Smoke", "password": seeding.SIGNUP_PASSWORD}).encode()
                    st, hdrs, body = http(srv.port, "POST", "/users", {"Content-Type": "application/json"}, signup, timeout=30)
                    created = json.loads(body) if st == 201 else {}
                    if st != 201 or created.get("email") != "smoke@example.com" or fields(created) != expected_keys \
                            or hdrs.get("location") != f"/users/{created.get('id')}":
                        problems.append(f"POST /users → {st} {body[:160]!r}")
                    st, _, _ = http(srv.port, "POST", "/users", {"Content-Type": "application/json"}, signup, timeout=30)
                    if st != 400:
                        problems.append(f"POST /users again → {st}, expected 400")
                    form = f"username=user2%40example.com&password={seeding.PASSWORD.replace(' ', '+')}".encode()
                    st, hdrs, body = http(srv.port, "POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"}, form, timeout=30)
                    granted = json.loads(body) if st == 200 else {}
                    if st != 200 or granted.get("token_type") != "bearer" or granted.get("expires_in") != 3600 \
                            or "no-store" not in hdrs.get("cache-control", ""):
                        problems.append(f"POST /token → {st} {body[:160]!r}")
                    else:
                        st, _, body = http(srv.port, "GET", "/users/me", {"Authorization": f"Bearer {granted['access_token']}"})
                        if st != 200 or json.loads(body).get("id") != 2:
                            problems.append(f"GET /users/me with the new token → {st}")
                    bad = form.replace(b"password=", b"password=wrong")
                    st, _, body = http(srv.port, "POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"}, bad, timeout=30)
                    if st != 400 or json.loads(body).get("error") != "invalid_grant":
                        problems.append(f"POST /token with a wrong password → {st} {body[:100]!r}")
            except Exception as e:  # noqa: BLE001 — reported, not hidden
                problems.append(f"{type(e).__name__}: {e}")
            finally:
                srv.stop(keep_log=bool(problems))
            self.smoke_verdict(svc, problems)
        for svc in self.services_for("user_by_id"):
            if svc.name == "axum-ceiling":
                self.smoke_ceiling(svc)

    def smoke_ceiling(self, svc: Service) -> None:
        """The ceiling answers the authenticated read as user-api does (the
        same user, the resource's fields and time format) and refuses as it
        does (401 without a token, 404 for another's id)."""
        tok = seeding.token_for
        srv = Server(self, svc, "smoke").start()
        problems = []
        try:
            for path, token, want in (("/users/2", tok(2), 200), ("/users/3", tok(2), 404), ("/users/2", None, 401),
                                      ("/users/5", tok(1), 200)):
                st, _, body = http(srv.port, "GET", path, {"Authorization": f"Bearer {token}"} if token else {})
                user = json.loads(body) if st == 200 else {}
                if st != want or (want == 200 and (user.get("id") != int(path.rsplit("/", 1)[1])
                                                   or user.get("created_at") != "2026-01-01T00:00:00Z"
                                                   or "email_verified" not in user)):
                    problems.append(f"GET {path} → {st} {body[:160]!r}, expected {want}")
        except Exception as e:  # noqa: BLE001 — reported, not hidden
            problems.append(f"{type(e).__name__}: {e}")
        finally:
            srv.stop(keep_log=bool(problems))
        self.smoke_verdict(svc, problems)

    def smoke_verdict(self, svc: Service, problems: list) -> None:
        for p in problems:
            self.fail(f"smoke {svc.name}: {p}")
        print(f"  smoke {svc.name}: {'ok' if not problems else 'FAILED'}", flush=True)

    # -- versions and sizes --

    def facts(self) -> dict:
        def out(argv):
            try:
                return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                return ""

        sqlite = {}
        blob = USER_API.read_bytes()
        m = re.search(rb"[\x00-\x1f](3\.\d{1,2}\.\d{1,2})\x00", blob)
        src = re.search(rb"(20\d\d-\d\d-\d\d \d\d:\d\d:\d\d) [0-9a-f]{60}", blob)
        sqlite["user-api"] = f"{m.group(1).decode() if m else '?'} (bundled by rusqlite" + \
            (f", source {src.group(1).decode()}" if src else "") + ")"
        libsqlite = out(["sh", "-c", "ldd " + str(GIN) + " | grep -o '/[^ ]*libsqlite3[^ ]*'"])
        sqlite["gin"] = f"{out([str(GIN), '-sqlite-version'])} (Debian's libsqlite3, {libsqlite or 'dynamic'})"
        pyver = out([str(VENV / "bin" / "python"), "-c", "import sqlite3; print(sqlite3.sqlite_version)"])
        sqlite["fastapi-raw"] = sqlite["fastapi-orm"] = f"{pyver} (the Python interpreter's sqlite3 module)"
        sqlite["axum-hello"] = sqlite["net/http"] = "none (no database)"
        sqlite["axum-ceiling"] = "bundled by rusqlite 0.37, as user-api's (bench/hello/Cargo.lock)"

        def du(*paths, skip=()):
            """Bytes of the files under `paths`, leaving out the top-level
            entries named in `skip`."""
            total = 0
            for p in paths:
                p = Path(p)
                if p.is_file():
                    total += p.stat().st_size
                elif p.is_dir():
                    for top in p.iterdir():
                        if top.name in skip:
                            continue
                        if top.is_file() and not top.is_symlink():
                            total += top.stat().st_size
                        elif top.is_dir() and not top.is_symlink():
                            total += sum(f.stat().st_size for f in top.rglob("*") if f.is_file() and not f.is_symlink())
            return total

        base = out([str(VENV / "bin" / "python"), "-c", "import sys, sysconfig; print(sys.base_prefix); "
                    "print(sysconfig.get_paths()['stdlib']); print(sysconfig.get_paths()['purelib']); "
                    "print(sysconfig.get_config_var('INSTSONAME') or '')"]).splitlines()
        # What a deployment needs: the packages (not pip and setuptools, which
        # only install them), and the interpreter with its standard library
        # (not its tests, IDLE, tkinter, nor what is installed beside it).
        py_site = du(base[2], skip={"pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth"}
                     ) if len(base) > 2 else 0
        py_stdlib = du(base[1], skip={"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip",
                                      "lib2to3", f"config-{sys.version_info.major}.{sys.version_info.minor}-x86_64-linux-gnu"}
                       ) if len(base) > 1 else 0
        py_bin = du(Path(base[0]) / "bin" / "python3.11") if base else 0
        if len(base) > 3 and base[3]:
            py_bin += du(Path(base[0]) / "lib" / base[3])
        fastapi_app = du(PEERS / "fastapi" / "common.py", PEERS / "schema.sql")
        sizes = {
            "user-api": {"bytes": USER_API.stat().st_size, "what": "one stripped binary, SQLite inside (links only glibc and libgcc_s)"},
            "gin": {"bytes": GIN.stat().st_size, "what": "binary, stripped; plus libsqlite3.so"},
        }
        for name, binary in (("axum-hello", HELLO), ("net/http", NETHTTP)):
            if binary is not None and binary.exists():  # not built for the PostgreSQL set alone
                sizes[name] = {"bytes": binary.stat().st_size, "what": "binary" if name == "axum-hello" else "binary, stripped"}
        libsz = du(libsqlite) if libsqlite else 0
        if libsz:
            sizes["gin"]["bytes_with_libs"] = sizes["gin"]["bytes"] + libsz
        for name, app in (("fastapi-raw", "app_raw.py"), ("fastapi-orm", "app_orm.py")):
            code = fastapi_app + du(PEERS / "fastapi" / app)
            sizes[name] = {"bytes": py_site + code, "bytes_with_libs": py_site + code + py_stdlib + py_bin,
                           "what": "site-packages (less pip, setuptools) + app; with CPython 3.11 (binary, libpython, stdlib less tests/IDLE/tkinter)"}
        cpu = ""
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem = ""
        try:
            kb = int(Path("/proc/meminfo").read_text().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
        except (OSError, ValueError, IndexError):
            pass
        debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
        machine = {
            "cpu": cpu, "cores": os.cpu_count(), "memory": mem, "kernel": platform.release(),
            "os": f"Debian {debian}", "virtualisation": out(["systemd-detect-virt"]) or "unknown",
            "wrk": out(["sh", "-c", "wrk -v 2>&1 | head -1"]), "oha": out([str(OHA), "--version"]),
            "go": out(["go", "version"]), "rustc": out(["rustc", "--version"]),
            "python": out([str(VENV / "bin" / "python"), "--version"]),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        }
        fastapi_pkgs = out([str(VENV / "bin" / "python"), "-m", "pip", "freeze"]).splitlines()
        postgres = {}
        if any(x in PG_SETS for x in self.plan.sets):
            before = USER_API_BEFORE.with_name(USER_API_BEFORE.name + ".commit")
            postgres = {
                "server": out(["psql", PG_SERVER, "-X", "-tAc", "SELECT version()"]),
                "settings": out(["psql", PG_SERVER, "-X", "-tAc",
                                 "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE "
                                 "name IN ('max_connections', 'shared_buffers', 'synchronous_commit', 'fsync', "
                                 "'wal_sync_method', 'ssl')"]),
                "lib/pq": out(["dpkg-query", "-W", "-f=${Version}", "golang-github-lib-pq-dev"]),
                "asyncpg": next((x.split("==")[1] for x in fastapi_pkgs if x.lower().startswith("asyncpg==")), ""),
                "before_commit": before.read_text().strip() if before.exists() else None,
            }
        return {"sqlite": sqlite, "sizes": sizes, "machine": machine, "python_packages": fastapi_pkgs,
                "postgres": postgres}

    # -- scenarios --

    def throughput(self, scenario: str, rnd: int, gin_rate: dict) -> None:
        """wrk at full speed, then (for the GET scenarios) oha at half of
        Gin's maximum of this round, on the same server."""
        p = self.plan
        path, script, env, token, rand = {
            "health": ("/health", "get.lua", {}, None, None),
            "user_by_id": ("/users/1", "user_by_id.lua", {}, seeding.token_for(1), f"/users/[1-9][0-9]{{0,{len(str(p.users)) - 2}}}"),
            "list_users": ("/users?limit=20", "get.lua", {"BENCH_TOKEN": seeding.token_for(1)}, seeding.token_for(1), None),
            "signup": ("/users", "signup.lua", {"BENCH_SIGNUP_PASSWORD": seeding.SIGNUP_PASSWORD}, None, None),
        }[scenario]
        conns = p.hash_conns if scenario == "signup" else p.conns
        for svc in self.order(self.services_for(scenario), rnd):
            srv = Server(self, svc, scenario).start()
            try:
                nonce = f"{rnd}{int(time.time() * 1000) % 10**7}"
                senv = dict(env, BENCH_TOKENS=str(self.tokens_for(svc)), BENCH_USERS=str(self.users_for(svc)))
                self.run_load(wrk_argv(srv.port, script, path, conns, p.warmup),
                              dict(senv, BENCH_NONCE=nonce + "w"), timeout=p.warmup + 60)
                pg0 = postgres_cpu_seconds() if self.set in PG_SETS else None
                cpu0, t0 = cpu_seconds(srv.proc.pid), time.perf_counter()
                out, load_cpu = self.run_load(wrk_argv(srv.port, script, path, conns, p.duration),
                                              dict(senv, BENCH_NONCE=nonce + "m"), timeout=p.duration + 60)
                wall = time.perf_counter() - t0
                server_cpu_s = cpu_seconds(srv.proc.pid) - cpu0
                pg1 = postgres_cpu_seconds() if pg0 is not None else None
                r = parse_wrk(out)
                # The million-user set: the server's CPU over wrk's own timed
                # window, since before it wrk's script reads the tokens of a
                # million users (~1 s, the server idle; not in wrk's figures).
                window = r["duration"] if self.set in MILLION_SETS else wall
                server_cpu = server_cpu_s / window
                r.update(server_cpu=server_cpu, load_cpu=load_cpu / wall)
                if self.set in PG_SETS or self.set in MILLION_SETS:
                    # CPU per successful request, in µs: the service's
                    # processes (and every postgres process), over the window.
                    ok = r["rps"] * r["duration"]
                    r["server_us"] = server_cpu_s / ok * 1e6 if ok else None
                    r["pg_cpu"] = (pg1 - pg0) / window if pg1 is not None else None
                    r["pg_us"] = (pg1 - pg0) / ok * 1e6 if pg1 is not None and ok else None
                if svc.name == "gin" and scenario != "signup" and self.set != "postgres":
                    gin_rate[rnd] = r["rps"] / 2
                rate = gin_rate.get(rnd)
                if rate and scenario != "signup":
                    out, _ = self.run_load(oha_argv(srv.port, path, rate, p.duration, p.conns, token, rand),
                                           timeout=p.duration + 60)
                    r["fixed"] = parse_oha(out, rate)
                r["pss_mb"] = srv.pss_mb()
                if not srv.alive():
                    raise RuntimeError(f"{svc.name} exited during the run:\n{srv.tail()}")
                self.record(scenario, svc, rnd, **r)
                fx = r.get("fixed")
                pgnote = ""
                if r.get("server_us") is not None:
                    pgnote = f"  {r['server_us']:.0f} µs/req" + (
                        f" + PostgreSQL {r['pg_us']:.0f} µs/req ({r['pg_cpu']:.0%})" if r.get("pg_us") is not None else "")
                print(f"  {self.set:8} {scenario:10} r{rnd} {svc.name:15} {r['rps']:>10.0f} req/s  p99 {r['p99']:7.2f} ms"
                      f"  err {r['errors']:>6}  PSS {r['pss_mb']:6.1f} MB  srv {server_cpu:4.0%}{pgnote}"
                      + (f"  @{fx['rate']:.0f}/s p99 {fx['p99']:.2f} ms" if fx and fx['p99'] is not None else ""),
                      flush=True)
                srv.stop()
            except Exception as e:  # noqa: BLE001
                srv.stop(keep_log=True)
                self.fail(f"{self.set} {scenario} {svc.name} round {rnd}: {e}")

    def login(self, rnd: int) -> None:
        """POST /token saturated by wrk; meanwhile oha probes GET /health and
        GET /users/me at a fixed rate, with coordinated-omission correction."""
        p = self.plan
        dur = p.login_duration
        lead = min(1.0, dur / 6)  # wrk saturates /token before the probes start
        probe = dur - 2 * lead
        for svc in self.order(self.services_for("login"), rnd):
            srv = Server(self, svc, "login").start()
            try:
                env = {"BENCH_PASSWORD": seeding.PASSWORD, "BENCH_USERS": str(self.users_for(svc))}
                self.run_load(wrk_argv(srv.port, "login.lua", "/token", p.hash_conns, p.warmup, "10s"), env,
                              timeout=p.warmup + 60)
                wrk_env = {**os.environ, "BENCH_LUA_DIR": str(LUA), **env}
                pg0 = postgres_cpu_seconds() if self.set in PG_SETS else None
                cpu0, t0 = cpu_seconds(srv.proc.pid), time.perf_counter()
                w = spawn(wrk_argv(srv.port, "login.lua", "/token", p.hash_conns, dur, "10s"), self.load_cpus,
                          env=wrk_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                _live[w.pid] = w
                time.sleep(lead)
                probes = []
                for path, token in (("/health", None), ("/users/me", seeding.token_for(2))):
                    pr = spawn(oha_argv(srv.port, path, p.probe_rate, probe, 4, token), self.load_cpus,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    _live[pr.pid] = pr
                    probes.append(pr)
                outs = []
                for pr in probes:
                    try:
                        o, e = pr.communicate(timeout=probe + 60)
                    finally:
                        kill_group(pr)
                        _live.pop(pr.pid, None)
                    if pr.returncode != 0:
                        raise RuntimeError(f"oha exited {pr.returncode}: {e[-500:]}")
                    outs.append(parse_oha(o, p.probe_rate))
                try:
                    o, e = w.communicate(timeout=dur + 60)
                finally:
                    kill_group(w)
                    _live.pop(w.pid, None)
                if w.returncode != 0:
                    raise RuntimeError(f"wrk exited {w.returncode}: {e[-500:]}")
                wall = time.perf_counter() - t0
                server_cpu_s = cpu_seconds(srv.proc.pid) - cpu0
                pg1 = postgres_cpu_seconds() if pg0 is not None else None
                r = parse_wrk(o)
                r.update(server_cpu=server_cpu_s / wall, health_probe=outs[0], me_probe=outs[1],
                         pss_mb=srv.pss_mb())
                if self.set in MILLION_SETS:
                    ok = r["rps"] * r["duration"]  # µs of CPU per sign-in (the probes' requests included)
                    r["server_us"] = server_cpu_s / ok * 1e6 if ok else None
                    r["pg_us"] = (pg1 - pg0) / ok * 1e6 if pg1 is not None and ok else None
                if not srv.alive():
                    raise RuntimeError(f"{svc.name} exited during the run:\n{srv.tail()}")
                self.record("login", svc, rnd, **r)
                print(f"  {self.set:8} login      r{rnd} {svc.name:12} {r['rps']:>10.1f} req/s  p99 {r['p99']:7.1f} ms"
                      f"  err {r['errors']:>4}  /health p99 {outs[0]['p99'] or float('nan'):.2f} ms"
                      f"  /users/me p99 {outs[1]['p99'] or float('nan'):.2f} ms  PSS {r['pss_mb']:.1f} MB", flush=True)
                srv.stop()
            except Exception as e:  # noqa: BLE001
                srv.stop(keep_log=True)
                self.fail(f"{self.set} login {svc.name} round {rnd}: {e}")

    def conn10k(self, rnd: int) -> None:
        p = self.plan
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if limit < p.conn10k + 1000:
            note = f"{self.set} conn10k: skipped, it needs `ulimit -n` above {p.conn10k + 1000} (it is {limit})"
            print(f"  {note}", flush=True)
            self.skipped.append(note)
            return
        for svc in self.order(self.services_for("conn10k"), rnd):
            srv = Server(self, svc, "conn10k").start()
            try:
                env = dict(os.environ, BENCH_LUA_DIR=str(LUA))
                w = spawn(wrk_argv(srv.port, "get.lua", "/health", p.conn10k, p.conn10k_duration, "5s"), self.load_cpus,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                _live[w.pid] = w
                peak, deadline = 0.0, time.perf_counter() + p.conn10k_duration + 60
                while w.poll() is None and time.perf_counter() < deadline:
                    peak = max(peak, srv.pss_mb())
                    time.sleep(0.25)
                try:
                    o, e = w.communicate(timeout=max(deadline - time.perf_counter(), 1))
                finally:
                    kill_group(w)
                    _live.pop(w.pid, None)
                if w.returncode != 0:
                    raise RuntimeError(f"wrk exited {w.returncode}: {e[-500:]}")
                r = parse_wrk(o)
                r.update(pss_mb=peak, pss_after_mb=srv.pss_mb(), alive=srv.alive())
                self.record("conn10k", svc, rnd, **r)
                print(f"  {self.set:8} conn10k    r{rnd} {svc.name:12} {r['rps']:>10.0f} req/s  err {r['errors']:>7}"
                      f" (socket {r['socket_errors']}, non-2xx {r['non2xx']})  peak PSS {peak:6.1f} MB", flush=True)
                srv.stop()
            except Exception as e:  # noqa: BLE001
                srv.stop(keep_log=True)
                self.fail(f"{self.set} conn10k {svc.name} round {rnd}: {e}")

    def coldstart(self) -> None:
        """Exec to the first 200 on GET /health, interleaved across services,
        each start on a fresh copy of the seeded store."""
        services = self.services_for("coldstart")
        samples: dict[str, list[float]] = {s.name: [] for s in services}
        for i in range(self.plan.cold_starts):
            for svc in self.order(services, i):
                srv = Server(self, svc, "coldstart")
                try:
                    srv.start(wait=False)
                    ready = first_200(srv.port, srv.started + 60)
                    if ready is None:
                        raise RuntimeError(f"no 200 within 60 s:\n{srv.tail()}")
                    samples[svc.name].append((ready - srv.started) * 1000)
                    srv.stop()
                except Exception as e:  # noqa: BLE001
                    srv.stop(keep_log=True)
                    self.fail(f"{self.set} coldstart {svc.name} #{i}: {e}")
        for svc in services:
            s = samples[svc.name]
            if s:
                self.record("coldstart", svc, 0, median_ms=statistics.median(s), min_ms=min(s), max_ms=max(s),
                            samples=len(s))
                print(f"  {self.set:8} coldstart     {svc.name:12} median {statistics.median(s):7.1f} ms"
                      f" (min {min(s):.1f}, max {max(s):.1f}, n={len(s)})", flush=True)

    def idle(self, rnd: int) -> None:
        for svc in self.order(self.services_for("idle"), rnd):
            srv = Server(self, svc, "idle").start()
            try:
                time.sleep(self.plan.idle_wait)
                pss = srv.pss_mb()
                rss = sum(int(l.split()[1]) for pid in tree_pids(srv.proc.pid)
                          for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("VmRSS:"))
                self.record("idle", svc, rnd, pss_mb=pss, rss_mb=rss * 1024 / 1e6,
                            processes=len(tree_pids(srv.proc.pid)))
                print(f"  {self.set:8} idle       r{rnd} {svc.name:12} PSS {pss:6.2f} MB (RSS {rss * 1024 / 1e6:.1f} MB)",
                      flush=True)
                srv.stop()
            except Exception as e:  # noqa: BLE001
                srv.stop(keep_log=True)
                self.fail(f"{self.set} idle {svc.name} round {rnd}: {e}")

    def run(self) -> dict:
        p = self.plan
        started = time.time()
        self.prepare()
        if any(x in ("pinned", "unpinned") for x in p.sets):
            self.use_set("pinned")
            print("checking that every service answers the same way…", flush=True)
            self.smoke()
        facts = self.facts()
        for set_name in p.sets:
            self.use_set(set_name)
            print(f"== {set_name}: server on CPUs {sorted(self.server_cpus)}, load on CPUs {sorted(self.load_cpus)}",
                  flush=True)
            if set_name == "postgres":
                try:
                    self.prepare_postgres()
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    self.fail(f"postgres: cannot make the databases: {e}")
                    continue
                if not USER_API_BEFORE.exists():
                    note = (f"postgres: user-api before the round-trip change not measured: {USER_API_BEFORE} "
                            "is not built (bench/build --before; bench/run builds it for a full run)")
                    print(f"  {note}", flush=True)
                    self.skipped.append(note)
                print("checking that every PostgreSQL service answers the same way…", flush=True)
                self.smoke()
            if set_name == "million-pg":
                try:
                    self.prepare_million_pg()
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    self.fail(f"million-pg: cannot make the databases: {e}")
                    continue
            if set_name in MILLION_SETS:
                print(f"checking that user-api answers alike on {p.users:,} and on {p.million:,} users…", flush=True)
                self.smoke()
            for scenario in p.scenarios:
                if set_name == "postgres" and scenario not in PG_SCENARIOS:
                    continue
                if set_name in MILLION_SETS and scenario not in MILLION_SCENARIOS:
                    continue
                t0 = time.perf_counter()
                if scenario in ("health", "user_by_id", "list_users", "signup"):
                    gin_rate: dict = {}
                    for rnd in range(p.rounds):
                        self.throughput(scenario, rnd, gin_rate)
                elif scenario == "login":
                    for rnd in range(p.rounds):
                        self.login(rnd)
                elif scenario == "conn10k":
                    for rnd in range(p.rounds):
                        self.conn10k(rnd)
                elif scenario == "coldstart":
                    self.coldstart()
                elif scenario == "idle":
                    for rnd in range(p.rounds):
                        self.idle(rnd)
                print(f"   ({scenario}: {time.perf_counter() - t0:.0f} s)", flush=True)
        out = {
            "plan": p.__dict__, "started": started, "elapsed_s": time.time() - started,
            "records": self.records, "failures": self.failures, "skipped": self.skipped, **facts,
        }
        if self.million_info.get("seed_s") is not None:
            out["million"] = self.million_info
        if self.million_pg_info:
            out["million_pg"] = self.million_pg_info
        return out


def merge(old: dict, new: dict, sets: list) -> dict:
    """The new run's sets over an earlier run's others: each set stays one
    run's figures (every ratio is within a set), and `set_runs` says which."""
    kept = [r for r in old["records"] if r["set"] not in sets]
    runs = {x: {"started": old["started"], "plan": old["plan"]} for x in {r["set"] for r in kept}}
    runs.update({k: v for k, v in old.get("set_runs", {}).items() if k not in sets})
    runs.update(new["set_runs"])
    merged = {**old, **{k: v for k, v in new.items() if k not in ("records", "sqlite", "sizes")}}
    merged["records"] = kept + new["records"]
    merged["set_runs"] = runs
    for k in ("sqlite", "sizes", "postgres"):
        if k in old or k in new:
            # What a set of this run did not know (the PostgreSQL set's
            # before build, for a million-pg run) keeps the older value.
            merged[k] = {**old.get(k, {}), **{f: v for f, v in new.get(k, {}).items() if v is not None}}
    return merged


def estimate_seconds(p: Plan, services: int = 6, api: int = 4) -> float:
    """What a run of this plan takes, from its durations (server start and
    stop included; FastAPI's ~1 s imports dominate those)."""
    start = {"fast": 0.1, "py": 0.8}  # seconds to start, wait for and stop one server (measured)
    per_start = (start["fast"] * (services - 2) + start["py"] * 2) / services
    sqlite_sets = len([x for x in p.sets if x in ("pinned", "unpinned")])
    m = p.million / 1e6

    def million_rounds(per_round: float) -> float:
        """Both services in every round of every scenario, wrk's read of a
        million users' tokens before each authenticated-read run, and
        `per_round` more."""
        total = 0.0
        for sc in MILLION_SCENARIOS:
            if sc in p.scenarios:
                d = p.login_duration if sc == "login" else p.duration
                lua = 2 * MILLION_LUA_S * m if sc == "user_by_id" else 0
                total += p.rounds * (2 * (start["fast"] + p.warmup + d + 0.5) + per_round + lua)
        return total

    million = 0.0
    if "million" in p.sets:
        # The big store's copy (and its fsync) before each of its starts;
        # seeding and the smoke check.
        million += million_rounds(MILLION_COPY_S * m) + MILLION_SEED_S * m + 2 * MILLION_COPY_S * m + 5
    if "million-pg" in p.sets:
        # No copies (the databases are made once); seeding through the
        # indexes migrate made first.
        million += million_rounds(0.0) + MILLION_PG_SEED_S * m + 10
    pg = 0.0
    if "postgres" in p.sets:
        # 5 services on the read (4 without the before build), 4 on sign-up;
        # the databases made and seeded, and the smoke checks.
        pg_start = (start["fast"] * 4 + start["py"]) / 5
        for sc in PG_SCENARIOS:
            if sc in p.scenarios:
                n = 5 if sc == "user_by_id" else 4
                pg += p.rounds * n * (pg_start + p.warmup + p.duration + 0.5)
        pg += 10 + 5 * p.users / 2000
    t = 0.0
    for sc in p.scenarios:
        n = api if sc in API_ONLY else services
        if sc in ("health", "user_by_id", "list_users"):
            t += p.rounds * n * (per_start + p.warmup + 2 * p.duration + 0.5)
        elif sc == "signup":
            t += p.rounds * n * (per_start + p.warmup + p.duration + 0.5)
        elif sc == "login":
            t += p.rounds * n * (per_start + p.warmup + p.login_duration + 0.5)
        elif sc == "conn10k":
            t += p.rounds * n * (per_start + p.conn10k_duration + 1)
        elif sc == "coldstart":
            t += p.cold_starts * (0.05 * (services - 2) + 0.7 * 2)
        elif sc == "idle":
            t += p.rounds * n * (per_start + p.idle_wait)
    if not sqlite_sets:
        return pg + million + 2 + (p.users / 2000 if "million" in p.sets else 0)
    return t * sqlite_sets + 15 + p.users / 1000 + pg + million  # seeding and the smoke checks


# The million-user sets' own costs at 1,000,000 users (measured on a busy
# 2-core machine; scaled to --million-users): seeding the SQLite store and
# writing the tokens, one copy of the store with its fsync, one read of the
# tokens file by user_by_id.lua, seeding the PostgreSQL database after
# migrate (through its GIN indexes).
MILLION_SEED_S = 80.0
MILLION_COPY_S = 1.0
MILLION_LUA_S = 0.8
MILLION_PG_SEED_S = 55.0


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small seed, seconds per scenario, pinned set only (CI)")
    ap.add_argument("--pinned-only", action="store_true", help="skip the unpinned set")
    ap.add_argument("--sets", help="comma-separated sets to run: pinned, unpinned, million, postgres, million-pg "
                                   "(default all five; quick: pinned)")
    ap.add_argument("--duration", type=int, help="seconds of each measurement (default 8; quick 2)")
    ap.add_argument("--warmup", type=int, help="seconds of warm-up before each (default 2; quick 1)")
    ap.add_argument("--rounds", type=int, help="rounds of every scenario (default 3; quick 1)")
    ap.add_argument("--users", type=int, help="seeded users (default 10000; quick 1000)")
    ap.add_argument("--million-users", type=int, dest="million",
                    help="users of the million-user set's second store (default 1000000; smaller for a trial)")
    ap.add_argument("--cold-starts", type=int, help="cold starts per service (default 20; quick 5)")
    ap.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    ap.add_argument("--services", help=f"comma-separated subset of {','.join(s.name for s in SERVICES)}")
    ap.add_argument("--out", help="results name under bench/results/ (default latest; quick: quick-latest)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other sets of the existing results (--out's), replacing only the sets run; "
                         "the report names each set's run")
    ap.add_argument("--estimate", action="store_true", help="print how long this run would take, and exit")
    args = ap.parse_args()

    if args.quick:
        plan = Plan("quick", users=1000, warmup=1, duration=2, rounds=1, conn10k_duration=2, cold_starts=5,
                    idle_wait=1.0, login_duration=3, sets=["pinned"])
    else:
        plan = Plan("full", users=10000, warmup=2, duration=8, rounds=3)
    for attr in ("duration", "warmup", "rounds", "users", "cold_starts", "million"):
        if getattr(args, attr) is not None:
            setattr(plan, attr, getattr(args, attr))
    if args.duration is not None:
        plan.conn10k_duration = plan.login_duration = max(args.duration, 2)
    if args.sets:
        plan.sets = args.sets.split(",")
    if args.pinned_only:
        plan.sets = ["pinned"]
    if not plan.sets or any(x not in ("pinned", "unpinned", "million", "postgres", "million-pg") for x in plan.sets):
        ap.error("--sets takes pinned, unpinned, million, postgres, million-pg, or several comma-separated")
    plan.scenarios = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    plan.services = args.services.split(",") if args.services else []
    unknown = [s for s in plan.scenarios if s not in SCENARIOS] + [s for s in plan.services if s not in BY_NAME]
    if unknown:
        ap.error(f"unknown scenario or service: {', '.join(unknown)}")
    if plan.users < 100 or plan.million < 100:
        ap.error("--users and --million-users must be at least 100")
    if (os.cpu_count() or 1) < 2:
        ap.error("the pinned set needs two CPUs")

    est = estimate_seconds(plan)
    million = f" (and {plan.million} in the million set)" if any(x in MILLION_SETS for x in plan.sets) else ""
    print(f"{plan.mode} run: {plan.users} users{million}, {plan.rounds} round(s) of {plan.warmup:g}+{plan.duration:g} s, "
          f"sets {', '.join(plan.sets)}; about {est / 60:.1f} min", flush=True)
    if args.estimate:
        return 0
    sqlite_sets = any(x in ("pinned", "unpinned") for x in plan.sets)
    needed = (USER_API, HELLO, CEILING, OHA, GIN, NETHTTP, VENV / "bin" / "uvicorn") if sqlite_sets else \
        (USER_API, GIN, VENV / "bin" / "uvicorn")
    for tool in needed:
        if tool is None or not Path(tool).exists():
            print(f"missing {tool}: run bench/build first (bench/run does)", file=sys.stderr)
            return 2
    if any(x in PG_SETS for x in plan.sets):
        if not shutil.which("psql"):
            print("the postgres set needs psql (Debian's postgresql-client; bench/build installs it)", file=sys.stderr)
            return 2
        try:
            psql(PG_SERVER, "SELECT 1", timeout=10)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"the postgres set needs a PostgreSQL server at {PG_SERVER} (set BENCH_POSTGRES, or leave the set out: "
                  f"--sets pinned,unpinned): {e}", file=sys.stderr)
            return 2

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    RUN.mkdir(parents=True, exist_ok=True)
    h = Harness(plan)
    try:
        result = h.run()
    finally:
        kill_all()
        h.drop_postgres()
        h.drop_million()
    name = args.out or ("quick-latest" if args.quick else "latest")
    out = BENCH / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    result["set_runs"] = {x: {"started": result["started"], "plan": result["plan"]} for x in plan.sets}
    if args.merge and out.exists():
        result = merge(json.loads(out.read_text()), result, plan.sets)
    out.write_text(json.dumps(result, indent=1))
    print(f"raw figures: {out.relative_to(ROOT)} ({result['elapsed_s'] / 60:.1f} min)", flush=True)
    try:
        import report

        report.write(name)
    except ImportError as e:  # matplotlib missing: the figures are still there
        print(f"no report ({e}); render it later with harness/report.py {name}", file=sys.stderr)
    if h.failures:
        print(f"{len(h.failures)} failure(s):", *h.failures, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
