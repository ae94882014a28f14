"""GET /users at a million users, on SQLite and PostgreSQL (see ./run).

Seeds a store at schema version 7 directly (untimed), times `user-api
migrate` building migration 8 over it, serves it with the release binary
and times each query shape from one client, sequentially, checking
`X-Total-Count` against a count in SQL. Standard library only, plus the
`psql` client for PostgreSQL."""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

# One well-formed argon2id hash (of no known password), shared by every user.
PHC = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY"
CREATED_AT = 1767225600  # 2026-01-01T00:00:00Z
TARGET_MS = 20.0

FIRST = """anna ben carla david emma felix greta hugo iris jonas karin leon mara nils olga paul
rita sven tina urs vera walter xenia yusuf zoe aaron bianca carlos dora elias fatima georg hanna
ivan julia kemal lara marco nadia oskar petra quentin rosa samir tamara ulla viktor wanda yara
zeno alma bruno cleo dario elif frida gustav helga ilse jakob kira lukas mila noah ophelia pia
rafael selma timo ute valentin wilma xaver yvonne zara adrian beate cem dana emil flora gerd
hedda ines jan kai lina moritz nora otto paula ronja simon theo anton berta clara dieter eva
franz""".split()
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
DOMAINS = ["example.com", "mail.example.org", "post.example.net", "corp.example.com",
           "uni.example.edu", "web.example.de", "inbox.example.fr", "home.example.it"]


def last_names(count: int) -> list[str]:
    rng = random.Random(14)
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(3)))
    return sorted(names)


LAST = last_names(1000)


def person(i: int) -> tuple[str, str, str, str, bool]:
    """User i: email, name, name folded (ASCII here: lower-cased), role,
    is_active. 100 first names × 1,000 last names: at a million users each
    last name is 1,000 users' and each full name 10 users'."""
    if i == 1:
        return "admin@example.com", "Bench Admin", "bench admin", "admin", True
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    email = f"{first}.{last}{i}@{DOMAINS[i % len(DOMAINS)]}"
    name = f"{first.capitalize()} {last.capitalize()}"
    role = "admin" if i % 1000 == 0 else "user"
    return email, name, name.lower(), role, i % 20 != 7


def admin_token() -> str:
    digest = hashlib.sha256(b"user-api million bench admin").digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def migration_files(root: Path, dialect: str) -> list[str]:
    folder = root / "migrations" / dialect
    return [(folder / name).read_text() for name in sorted(os.listdir(folder)) if name[:4] <= "0007"]


# --- seeding ---------------------------------------------------------------

def seed_sqlite(root: Path, path: Path, users: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for script in migration_files(root, "sqlite"):
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 7")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO users (id, email, name, name_lower, role, is_active, password_hash, version,"
        " created_at, updated_at, email_verified) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, 0)",
        ((i, *person(i)[:4], int(person(i)[4]), PHC, CREATED_AT, CREATED_AT) for i in range(1, users + 1)))
    token = hashlib.sha256(admin_token().encode()).digest()
    conn.execute("INSERT INTO tokens (hash, user_id, expires_at, created_at) VALUES (?, 1, ?, ?)",
                 (token, int(time.time()) + 86400, int(time.time())))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def psql(url: str, sql: str) -> str:
    r = subprocess.run(["psql", url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"psql: {r.stderr[-2000:]}")
    return r.stdout.strip()


def seed_postgres(root: Path, url: str, users: int) -> None:
    p = subprocess.Popen(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null"],
                         stdin=subprocess.PIPE, text=True)
    assert p.stdin
    p.stdin.write("BEGIN;\n")
    for script in migration_files(root, "postgres"):
        p.stdin.write(script + "\n")
    p.stdin.write("CREATE TABLE user_api_schema (version BIGINT NOT NULL);\n"
                  "INSERT INTO user_api_schema (version) VALUES (7);\n")
    p.stdin.write("COPY users (id, email, name, name_lower, role, is_active, password_hash, version,"
                  " created_at, updated_at, email_verified) FROM STDIN;\n")
    for i in range(1, users + 1):
        email, name, lower, role, active = person(i)
        p.stdin.write(f"{i}\t{email}\t{name}\t{lower}\t{role}\t{'t' if active else 'f'}\t{PHC}\t1"
                      f"\t{CREATED_AT}\t{CREATED_AT}\tf\n")
    p.stdin.write("\\.\n")
    token = hashlib.sha256(admin_token().encode()).hexdigest()
    now = int(time.time())
    p.stdin.write(f"INSERT INTO tokens (hash, user_id, expires_at, created_at)"
                  f" VALUES ('\\x{token}', 1, {now + 86400}, {now});\n")
    p.stdin.write("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));\n")
    p.stdin.write("COMMIT;\nANALYZE;\n")
    p.stdin.close()
    if p.wait(timeout=900) != 0:
        raise RuntimeError("seeding PostgreSQL failed")


# --- the service -----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, binary: str, url: str, log: Path, flags: tuple[str, ...] = ()):
        self.port = free_port()
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--database-url", url,
             "--signup-rate", "0", *flags], stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the service did not start; see {log}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


# --- the query shapes ------------------------------------------------------

def shapes(users: int):
    """(label, in the target?, requests factor, params for request k)."""
    deep = lambda r: r.randint(users // 2, max(users // 2 + 1, users - 50))
    combo = lambda r: f"{r.choice(FIRST)} {r.choice(LAST)}"
    return [
        ("unfiltered, first page", True, 1, lambda r: {}),
        ("role=admin", True, 1, lambda r: {"role": "admin"}),
        ("role=user", True, 1, lambda r: {"role": "user"}),
        ("is_active=false", True, 1, lambda r: {"is_active": "false"}),
        ("role=admin&is_active=false", True, 1, lambda r: {"role": "admin", "is_active": "false"}),
        ("after_id deep", True, 1, lambda r: {"after_id": deep(r)}),
        ("role=admin&after_id deep", True, 1, lambda r: {"role": "admin", "after_id": deep(r)}),
        ("q ≈10 users (a full name)", True, 1, lambda r: {"q": combo(r)}),
        ("q ≈1,000 users (a last name)", True, 1, lambda r: {"q": r.choice(LAST)}),
        ("q ≈1,000 users & is_active=true", True, 1, lambda r: {"q": r.choice(LAST), "is_active": "true"}),
        ("q ≈1,000 users, after_id deep", True, 1, lambda r: {"q": r.choice(LAST), "after_id": deep(r)}),
        ("skip=10000", True, 1, lambda r: {"skip": 10000}),
        ("skip=100000 (deeper than the target)", False, 0.25, lambda r: {"skip": 100000}),
        ("q of 2 characters (a scan; not in the target)", False, 0.05,
         lambda r: {"q": r.choice(SYLLABLES[:20])}),
        ("q matching every user (not in the target)", False, 0.05, lambda r: {"q": "example"}),
    ]


def path_of(params: dict) -> str:
    return "/users?" + urllib.parse.urlencode({**params, "limit": 10})


def sql_count(backend: str, store: str, params: dict) -> int:
    conds, values = [], []
    if "q" in params:
        if backend == "sqlite":
            conds.append("(instr(email, ?) > 0 OR instr(name_lower, ?) > 0)")
            values += [params["q"], params["q"]]
        else:
            q = params["q"].replace("'", "''")
            conds.append(f"(strpos(email, '{q}') > 0 OR strpos(name_lower, '{q}') > 0)")
    if "role" in params:
        conds.append(f"role = '{params['role']}'")
    if "is_active" in params:
        conds.append(f"is_active = {params['is_active'].upper()}")
    sql = "SELECT count(*) FROM users" + (" WHERE " + " AND ".join(conds) if conds else "")
    if backend == "sqlite":
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            return conn.execute(sql, values).fetchone()[0]
        finally:
            conn.close()
    return int(psql(store, sql))


def measure(port: int, backend: str, store: str, users: int, requests: int, seed: int) -> list[dict]:
    token = admin_token()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}

    def get(path: str) -> tuple[float, http.client.HTTPResponse, bytes]:
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        return (time.perf_counter() - start) * 1000, response, body

    rows = []
    for label, in_target, factor, make in shapes(users):
        rng = random.Random(seed)
        n = max(5, int(requests * factor))
        for _ in range(5 if in_target else 1):  # warm-up: statements prepared, pages cached
            get(path_of(make(rng)))
        times, first, refused = [], None, None
        for _ in range(n):
            params = make(rng)
            ms, response, body = get(path_of(params))
            if response.status != 200:
                if in_target:
                    raise RuntimeError(f"{label}: {response.status} {body[:200]!r}")
                refused = response.status
                break
            if first is None:
                first = (params, int(response.getheader("X-Total-Count")), len(json.loads(body)))
            times.append(ms)
        if first is None:
            rows.append({"shape": label, "target": in_target, "requests": n, "refused": refused})
            print(f"  {backend:8} {label:48} answered {refused}", flush=True)
            continue
        params, header, page = first
        counted = sql_count(backend, store, params)
        times.sort()
        p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
        row = {"shape": label, "target": in_target, "requests": n,
               "p50": statistics.median(times), "p99": p99, "max": times[-1],
               "example": path_of(params), "x_total_count": header, "sql_count": counted,
               "page": page}
        rows.append(row)
        print(f"  {backend:8} {label:48} p50 {row['p50']:7.2f} ms  p99 {p99:7.2f} ms"
              f"  total {header} (SQL {counted})", flush=True)
    return rows


def signup_rate(port: int, seconds: float, threads: int, tag: str) -> float:
    """Successful sign-ups per second with `threads` clients for `seconds`."""
    stop = time.time() + seconds
    done = [0] * threads
    failed = []

    def client(k: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = 0
        while time.time() < stop:
            body = json.dumps({"email": f"signup-{tag}-{k}-{n}@bench.example", "name": "New User",
                               "password": "a fresh passphrase for each new account"})
            c.request("POST", "/users", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status == 201:
                done[k] += 1
            else:
                failed.append(r.status)
            n += 1

    started = time.time()
    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failed:
        print(f"  sign-ups refused: {sorted(set(failed))}", file=sys.stderr)
    return sum(done) / (time.time() - started)


# --- one backend -----------------------------------------------------------

def run_backend(backend: str, args, work: Path) -> dict:
    root = Path(args.root)
    result: dict = {"backend": backend}
    if backend == "sqlite":
        path = work / "million.db"
        url = store = f"sqlite:{path}"
        store = str(path)
        started = time.time()
        seed_sqlite(root, path, args.users)
    else:
        server = args.postgres
        name = f"user_api_bench_million_{os.getpid()}"
        psql(server, f"DROP DATABASE IF EXISTS {name}")
        psql(server, f"CREATE DATABASE {name}")
        base, _, query = server.partition("?")
        url = store = base.rsplit("/", 1)[0] + "/" + name + (("?" + query) if query else "")
        result["database"] = name
        started = time.time()
        seed_postgres(root, url, args.users)
    result["seed_s"] = time.time() - started
    print(f"{backend}: seeded {args.users} users at schema 7 in {result['seed_s']:.1f} s", flush=True)

    started = time.time()
    migrate = subprocess.run([args.binary, "migrate", "--database-url", url],
                             capture_output=True, text=True, timeout=1800)
    result["migrate_s"] = time.time() - started
    if migrate.returncode != 0:
        raise RuntimeError(f"migrate failed: {migrate.stderr[-2000:]}")
    result["migrate_log"] = [line for line in (migrate.stdout + migrate.stderr).splitlines()
                             if "migration" in line][-14:]
    print(f"{backend}: migration 8 over {args.users} users took {result['migrate_s']:.1f} s", flush=True)
    if backend == "sqlite":
        result["store_mb"] = sum(f.stat().st_size for f in work.glob("million.db*")) / 1e6
    else:
        result["store_mb"] = int(psql(url, "SELECT pg_database_size(current_database())")) / 1e6

    service = Service(args.binary, url, work / f"{backend}.log")
    try:
        result["rows"] = measure(service.port, backend, store, args.users, args.requests, args.seed)
        if backend == "postgres" and args.signup_seconds > 0:
            result["signups"] = signups_with_and_without_counters(service.port, url, args, "")
    finally:
        service.stop()
    if backend == "postgres" and args.signup_seconds > 0 and args.weak_hash_binary:
        # A debug build with test-only cheap hashing: sign-ups bound by the
        # database, not by argon2, so contention on the counters would show.
        weak = Service(args.weak_hash_binary, url, work / "weak.log",
                       ("--test-weak-argon2", "--argon2-memory-kib", "1024", "--argon2-iterations", "1"))
        try:
            result["signups_weak_hash"] = signups_with_and_without_counters(weak.port, url, args, "weak-")
        finally:
            weak.stop()
    if backend == "postgres":
        psql(args.postgres, f"DROP DATABASE IF EXISTS {result['database']} WITH (FORCE)")
    return result


def signups_with_and_without_counters(port: int, url: str, args, tag: str) -> dict:
    """Sign-ups per second with the counter trigger, then with it disabled,
    then with it again (same binary, same store; the store's counters are
    wrong after this, which is why it is the last step)."""
    rates = {"with_counters": [], "without_counters": []}
    for enabled in (True, False, True):
        if not enabled:
            psql(url, "ALTER TABLE users DISABLE TRIGGER user_counts_insert")
        label = "with_counters" if enabled else "without_counters"
        rate = signup_rate(port, args.signup_seconds, 16, f"{tag}{label}-{len(rates[label])}")
        rates[label].append(rate)
        if not enabled:
            psql(url, "ALTER TABLE users ENABLE TRIGGER user_counts_insert")
    out = {k: statistics.mean(v) for k, v in rates.items()}
    print(f"postgres: {tag}sign-ups/s with the counter trigger {out['with_counters']:.1f},"
          f" without {out['without_counters']:.1f}", flush=True)
    return out




def report(results: list[dict], args, out: Path) -> None:
    lines = [
        "# `GET /users` at a million users",
        "",
        f"`bench/million/run` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.node()}, {os.cpu_count()} CPUs, release build, loopback, one client, "
        f"requests one after another, service and database unpinned). {args.users:,} users seeded "
        "directly at schema version 7 (one precomputed argon2id hash; 100 first names × 1,000 "
        "last names, so a last name is 1,000 users' and a full name 10 users'; every 1,000th an "
        "admin, every 20th inactive); then `user-api migrate` builds migration 8 over them "
        "(timed below); then each shape is asked "
        f"{args.requests} times (fewer for those outside the target), each request a fresh "
        "`q`/`after_id` where the shape has one. `X-Total-Count` of the first request is "
        f"checked against `SELECT count(*)` with the contract's scan. Target: p99 ≤ {TARGET_MS:g} ms "
        "with an exact count.",
        "",
    ]
    for r in results:
        lines += [f"## {'SQLite' if r['backend'] == 'sqlite' else 'PostgreSQL'}", "",
                  f"- seeding (untimed part): {r['seed_s']:.1f} s; store after migration 8: "
                  f"{r['store_mb']:.0f} MB",
                  f"- **migration 8 (search index + counters) over {args.users:,} users: "
                  f"{r['migrate_s']:.1f} s** (`user-api migrate`, the delay before readiness "
                  "of the first start after an upgrade)", ""]
        lines += ["| query shape | requests | p50 ms | p99 ms | X-Total-Count | SQL count | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for row in r["rows"]:
            if "refused" in row:
                lines.append(f"| {row['shape']} | — | — | — | — | — | answered {row['refused']} |")
                continue
            exact = row["x_total_count"] == row["sql_count"]
            if not exact:
                verdict = "**count wrong**"
            elif not row["target"]:
                verdict = "(outside the target)"
            else:
                verdict = "met" if row["p99"] <= TARGET_MS else f"**missed** ({row['p99'] / TARGET_MS:.1f}×)"
            lines.append(f"| {row['shape']} | {row['requests']} | {row['p50']:.2f} | {row['p99']:.2f} "
                         f"| {row['x_total_count']:,} | {row['sql_count']:,} | {verdict} |")
        if "signups" in r:
            s = r["signups"]
            lines += ["", f"Sign-ups (`POST /users`, 16 clients, {args.signup_seconds:g} s per run, "
                      "runs with / without / with the counter trigger, same binary, same store), "
                      f"argon2id at the default m=19456 KiB, t=2: {s['with_counters']:.1f}/s with "
                      f"the counter trigger, {s['without_counters']:.1f}/s with it disabled."]
        if "signups_weak_hash" in r:
            s = r["signups_weak_hash"]
            lines += ["", "The same with a debug build and test-only cheap hashing (m=1024 KiB, t=1), "
                      "so the database bounds sign-ups rather than argon2: "
                      f"{s['with_counters']:.1f}/s with the counter trigger, "
                      f"{s['without_counters']:.1f}/s with it disabled."]
        lines += ["", "Migration log (last lines):", "", "```"] + r["migrate_log"] + ["```", ""]
    out.write_text("\n".join(lines) + "\n")
    (out.with_suffix(".json")).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--signup-seconds", type=float, default=8)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default=os.environ.get(
        "USER_API_BENCH_POSTGRES", os.environ.get("USER_API_TEST_POSTGRES",
                                                  "postgres://postgres@127.0.0.1:5432/test")))
    parser.add_argument("--out", default="million")
    parser.add_argument("--weak-hash-binary", help="a debug build: also measure sign-ups with cheap hashing")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="user-api-million-") as work:
        for backend in args.backends.split(","):
            results.append(run_backend(backend, args, Path(work)))
    report(results, args, Path(args.root) / "bench" / "results" / f"{args.out}.md")


if __name__ == "__main__":
    main()
