#!/usr/bin/env python3
"""bench/events/run's helper: seeding, the event sinks' receiver, CPU
snapshots and the report. Standard library only, except nats-py for the
NATS consumer (imported only when --nats-url is given).

  helper.py freeport
  helper.py seed --base URL --users N --tokens FILE
  helper.py sink --port P [--nats-url U --nats-stream S --nats-prefix X] --ready FILE
  helper.py drain --port P --tag T --sink webhook|nats --want N [--timeout S]
  helper.py stats --port P --tag T
  helper.py snap PID
  helper.py report --results FILE --out RESULTS.md

The sink receives webhooks (any POST: 204 at once, no signature check: this
is for timing) and, with --nats-url, consumes the JetStream stream through a
push consumer. For each event it takes the receive time (time.time() as the
body is complete, or as nats-py hands the message over) less the event's
`timestamp` (commit time, milliseconds). PATCHes name users `TAG.a` /
`TAG.b`, so each `user.updated` event is filed under the TAG of the phase
that caused it; `GET /stats?tag=T` on the sink's port answers the figures.
"""
import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime


def say(*args):
    print("  ", *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- freeport

def cmd_freeport(_args):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


# ---------------------------------------------------------------- seed

PASSWORD = "a quiet harbour at dawn 0123"


def _request(base, method, path, body=None, headers=None, timeout=30):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def cmd_seed(args):
    """Signs up --users users through the service (POST /users) and signs
    each in (POST /token); writes `id token` lines."""
    n = args.users
    results = [None] * n
    errors = []

    def one(i):
        email = f"ev{i}@example.com"
        body = json.dumps({"email": email, "name": f"Bench user {i}", "password": PASSWORD}).encode()
        st, raw = _request(args.base, "POST", "/users", body, {"Content-Type": "application/json"})
        if st != 201:
            raise RuntimeError(f"POST /users {email}: {st} {raw[:200]!r}")
        uid = json.loads(raw)["id"]
        form = urllib.parse.urlencode({"grant_type": "password", "username": email, "password": PASSWORD}).encode()
        st, raw = _request(args.base, "POST", "/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
        if st != 200:
            raise RuntimeError(f"POST /token {email}: {st} {raw[:200]!r}")
        results[i] = (uid, json.loads(raw)["access_token"])

    def worker(k):
        for i in range(k, n, args.parallel):
            try:
                one(i)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(str(e))
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        say("seeding failed:", errors[0])
        sys.exit(1)
    with open(args.tokens, "w") as f:
        for uid, token in results:
            f.write(f"{uid} {token}\n")


# ---------------------------------------------------------------- sink

class Stats:
    def __init__(self):
        # (tag, sink) -> list of latencies in ms; plus first/last receive time
        self.lat = {}
        self.first = {}
        self.last = {}
        self.types = {}
        self.total = {"webhook": 0, "nats": 0}
        self.bad = 0
        self.raw = []  # (sink, tag, seq, timestamp, receive time), for --dump

    def record(self, sink, raw, recv):
        try:
            ev = json.loads(raw)
            ts = datetime.fromisoformat(ev["timestamp"].replace("Z", "+00:00")).timestamp()
            kind = ev["type"]
            name = ev["data"]["user"].get("name") or ""
        except (ValueError, KeyError, TypeError, AttributeError):
            self.bad += 1
            return
        self.total[sink] = self.total.get(sink, 0) + 1
        tag = name.rsplit(".", 1)[0] if kind == "user.updated" and "." in name else "(" + kind + ")"
        key = (tag, sink)
        self.raw.append((sink, tag, ev.get("seq"), ts, recv))
        self.lat.setdefault(key, []).append((recv - ts) * 1000.0)
        self.first.setdefault(key, recv)
        self.last[key] = recv

    def summary(self, tag):
        out = {"tag": tag, "bad": self.bad, "total": self.total}
        for sink in ("webhook", "nats"):
            key = (tag, sink)
            lat = sorted(self.lat.get(key, []))
            n = len(lat)
            d = {"count": n}
            if n:
                d.update(
                    p50=pct(lat, 50), p99=pct(lat, 99), max=lat[-1], min=lat[0],
                    mean=sum(lat) / n, first=self.first[key], last=self.last[key],
                )
            out[sink] = d
        return out


def pct(sorted_values, p):
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-len(sorted_values) * p // 100)) - 1))
    return sorted_values[k]


class HttpIn(asyncio.Protocol):
    """A minimal HTTP/1.1 server: any POST is an event (204), GET /stats."""

    def __init__(self, stats):
        self.stats = stats
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            method, target = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            if len(self.buf) < head_end + 4 + length:
                return
            body = self.buf[head_end + 4:head_end + 4 + length]
            self.buf = self.buf[head_end + 4 + length:]
            if method == "POST":
                self.stats.record("webhook", body, time.time())
                self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
                payload = json.dumps(self.stats.summary(q.get("tag", [""])[0])).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                self.transport.close()
                return


async def sink_main(args):
    stats = Stats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpIn(stats), "127.0.0.1", args.port, backlog=1024)
    nc = None
    if args.nats_url:
        import nats
        from nats.js.api import DeliverPolicy, StorageType, StreamConfig

        nc = await nats.connect(args.nats_url, max_reconnect_attempts=-1)
        js = nc.jetstream()
        # Created here, as user-api would create it (subjects {prefix}.>,
        # duplicate window 120 s), so the consumer exists before the first event.
        await js.add_stream(StreamConfig(
            name=args.nats_stream, subjects=[args.nats_prefix + ".>"],
            storage=StorageType.FILE, duplicate_window=120.0))

        async def on_msg(msg):
            stats.record("nats", msg.data, time.time())

        await js.subscribe(args.nats_prefix + ".>", stream=args.nats_stream, cb=on_msg,
                           deliver_policy=DeliverPolicy.ALL,
                           pending_msgs_limit=1_000_000, pending_bytes_limit=1 << 30)
    with open(args.ready, "w") as f:
        f.write("ready\n")
    stop = asyncio.Event()
    import signal
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    if args.dump:
        with open(args.dump, "w") as f:
            for sink, tag, seq, ts, recv in stats.raw:
                f.write(f"{sink} {tag} {seq} {ts:.3f} {recv:.6f}\n")
    if nc is not None:
        try:
            if args.delete_stream:
                await nc.jetstream().delete_stream(args.nats_stream)
        finally:
            await nc.close()


def cmd_sink(args):
    asyncio.run(sink_main(args))


def get_stats(port, tag):
    url = f"http://127.0.0.1:{port}/stats?" + urllib.parse.urlencode({"tag": tag})
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def cmd_stats(args):
    print(json.dumps(get_stats(args.port, args.tag)))


def cmd_drain(args):
    """Waits until each sink of --sink (comma-separated) has --want events
    of the tag (then 0.3 s more for stragglers), or --timeout. Prints the
    tag's stats plus, per sink, `lag_s`: how long after this call (the end
    of the load) its last event arrived."""
    sinks = args.sink.split(",")
    t0 = time.time()
    deadline = t0 + args.timeout
    while True:
        st = get_stats(args.port, args.tag)
        if all(st[s]["count"] >= args.want for s in sinks) or time.time() >= deadline:
            break
        time.sleep(0.02)
    time.sleep(0.3)
    st = get_stats(args.port, args.tag)
    for sink in sinks:
        s = st[sink]
        s["drained"] = s["count"] >= args.want
        s["lag_s"] = max(0.0, s["last"] - t0) if s["count"] else None
    print(json.dumps(st))


def cmd_count(args):
    print(get_stats(args.port, args.tag)[args.sink]["count"])


def _proc_times():
    """pid -> (comm, ppid, utime+stime jiffies)."""
    times = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        times[pid] = (comm, fields[1], int(fields[11]) + int(fields[12]))
    return times


def _sample(seconds, exclude_tree=None):
    """CPU used by each process name over the next `seconds` (fractions of
    one CPU), leaving out the process tree under `exclude_tree`."""
    a = _proc_times()
    t0 = time.time()
    time.sleep(seconds)
    b = _proc_times()
    wall = time.time() - t0
    hz = os.sysconf("SC_CLK_TCK")

    def ours(pid):
        seen = 0
        while pid and pid != "0" and seen < 64:
            if pid == exclude_tree:
                return True
            pid = b.get(pid, a.get(pid, (None, None)))[1]
            seen += 1
        return False

    by_comm = {}
    for pid, (comm, _ppid, t) in b.items():
        if pid in a and not (exclude_tree and ours(pid)):
            by_comm[comm] = by_comm.get(comm, 0) + (t - a[pid][2]) / hz / wall
    return by_comm


def describe(by_comm):
    busiest = sorted(by_comm.items(), key=lambda kv: -kv[1])[:4]
    total = sum(by_comm.values())
    return f"{total * 100:.0f}% of a CPU (" + (", ".join(f"{c} {v * 100:.0f}%" for c, v in busiest if v >= 0.02) or "idle") + ")"


def cmd_top(args):
    """The busiest processes over the next second, as one line."""
    print(describe(_sample(args.seconds, args.exclude_tree)))


def cmd_monitor(args):
    """Until killed: every --seconds, one JSON line to --out with the CPU of
    every process outside the run's own tree (the machine's other load)."""
    with open(args.out, "a") as f:
        while True:
            by_comm = _sample(args.seconds, args.exclude_tree)
            f.write(json.dumps({"t": time.time(), "by_comm": by_comm}) + "\n")
            f.flush()


def cmd_brief(args):
    """One progress line (stderr) for a wrk result or a latency result."""
    if args.wrk:
        w = json.loads(args.wrk)
        d = active_seconds(w)
        errors = w["status"] + w["connect"] + w["read"] + w["write"] + w["timeout"]
        say(f"{args.tag:<24} {(w['requests'] - w['status']) / d:>9,.0f} req/s  p99 {w['p99'] / 1000:6.2f} ms  errors {errors}")
    if args.events:
        e = json.loads(args.events)
        for sink in ("webhook", "nats"):
            d = e[sink]
            if d["count"]:
                say(f"{sink:<8} {d['count']:>6} events  p50 {d['p50']:6.1f} ms  p99 {d['p99']:6.1f} ms  max {d['max']:6.1f} ms")


# ---------------------------------------------------------------- snap

def cmd_snap(args):
    """CPU counters: the process's utime+stime (all threads); per CPU the
    jiffies of processes (user+nice+system), of interrupts (irq+softirq:
    loopback TCP is largely softirq work, charged to no process), of steal
    (the hypervisor's) and in all; the wall time."""
    with open(f"/proc/{args.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    proc = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    cpus = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                v = [int(x) for x in parts[1:9]]  # user nice system idle iowait irq softirq steal
                cpus[parts[0]] = {"procs": v[0] + v[1] + v[2], "irq": v[5] + v[6], "steal": v[7], "total": sum(v)}
    print(json.dumps({"t": time.time(), "proc": proc, "hz": os.sysconf("SC_CLK_TCK"), "cpus": cpus}))


def cpu_share(a, b):
    """The server's CPU (fraction of one core) and, per CPU, the fractions
    of its time spent in processes, interrupts and steal between two snaps."""
    wall = b["t"] - a["t"]
    server = (b["proc"] - a["proc"]) / a["hz"] / wall if wall > 0 else None
    cpus = {}
    for cpu in a["cpus"]:
        dt = b["cpus"][cpu]["total"] - a["cpus"][cpu]["total"]
        cpus[cpu] = {k: (b["cpus"][cpu][k] - a["cpus"][cpu][k]) / dt if dt else None
                     for k in ("procs", "irq", "steal")}
    return server, cpus


# ---------------------------------------------------------------- report

def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def fmt(x, spec="{:,.0f}"):
    return "—" if x is None else spec.format(x)


def load_results(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    return recs


def active_seconds(w):
    """The time the load ran: wrk's duration, or for patch.lua (which stops
    sending before wrk ends) the first to the last request sent plus the
    mean latency (the last one's answer)."""
    if w.get("active_us"):
        return (w["active_us"] + w["mean"]) / 1e6
    return w["duration_us"] / 1e6


def wrk_figures(rec):
    w = rec["wrk"]
    secs = active_seconds(w)
    errors = w["status"] + w["connect"] + w["read"] + w["write"] + w["timeout"]
    ok = w["requests"] - w["status"]
    server, cpus = cpu_share(rec["snap_before"], rec["snap_after"])
    c1, c0 = cpus.get("cpu1", {}), cpus.get("cpu0", {})
    others = None if server is None or c1.get("procs") is None else max(0.0, c1["procs"] - server)
    busy0 = None if c0.get("procs") is None else c0["procs"] + c0["irq"] + c0["steal"]
    return {
        "rps": ok / secs, "p50": w["p50"] / 1000, "p99": w["p99"] / 1000, "errors": errors,
        "ok": ok, "secs": secs, "server_cpu": server, "others_cpu1": others,
        "irq_cpu1": c1.get("irq"), "steal_cpu1": c1.get("steal"), "cpu0_busy": busy0,
    }


def pct_or_dash(x):
    return "—" if x is None else f"{x * 100:.0f}%"


def ab_table(recs, part, configs, labels):
    """Rows per round, then the medians and the same-run ratio."""
    rows = []
    per = {c: [] for c in configs}
    for rec in recs:
        if rec.get("part") != part:
            continue
        f = wrk_figures(rec)
        f["round"], f["config"], f["rec"] = rec["round"], rec["config"], rec
        per[rec["config"]].append(f)
        rows.append(f)
    lines = [
        "| round | sink | req/s | p50 ms | p99 ms | errors | server CPU | CPU 1: other processes / irq+softirq / steal | events received / 2xx | event latency p50 / p99 / max ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        ev = f["rec"].get("events")
        if ev:
            s = ev["webhook"]
            got = f"{s['count']:,} / {f['ok']:,}"
            lat = (f"{s['p50']:.1f} / {s['p99']:.1f} / {s['max']:.0f}" if s["count"] else "—")
        else:
            got, lat = "—", "—"
        lines.append(
            f"| {f['round']} | {labels[f['config']]} | {fmt(f['rps'])} | {fmt(f['p50'], '{:.2f}')} | "
            f"{fmt(f['p99'], '{:.2f}')} | {f['errors']} | {pct_or_dash(f['server_cpu'])} | "
            f"{pct_or_dash(f['others_cpu1'])} / {pct_or_dash(f['irq_cpu1'])} / {pct_or_dash(f['steal_cpu1'])} | {got} | {lat} |")
    med = {c: {k: median([f[k] for f in per[c]]) for k in ("rps", "p99", "server_cpu")} for c in configs}
    # req per server CPU-second: the comparable figure when the server did not get its core
    for c in configs:
        med[c]["per_cpu"] = median([f["rps"] / f["server_cpu"] for f in per[c] if f["server_cpu"]])
    # same-round ratios (each round's pair), and the ratio of the medians
    ratios, cpu_ratios = [], []
    rounds = sorted({f["round"] for f in rows})
    for r in rounds:
        a = [f for f in per[configs[1]] if f["round"] == r]
        b = [f for f in per[configs[0]] if f["round"] == r]
        if a and b and b[0]["rps"]:
            ratios.append(a[0]["rps"] / b[0]["rps"])
            if a[0]["server_cpu"] and b[0]["server_cpu"]:
                cpu_ratios.append((a[0]["rps"] / a[0]["server_cpu"]) / (b[0]["rps"] / b[0]["server_cpu"]))
    med["cpu_ratios"] = cpu_ratios
    return lines, med, ratios


def cmd_report(args):
    recs = load_results(args.results)
    meta = next(r for r in recs if r.get("part") == "meta")
    end = next((r for r in recs if r.get("part") == "end"), {})
    out = []
    verdicts = []
    problems = []
    for rec in recs:
        if rec.get("part") not in ("patch", "latency", "read"):
            continue
        f = wrk_figures(rec)
        where = f"{rec['part']} ({rec['config']}, round {rec['round']})"
        if f["errors"]:
            problems.append(f"{where}: {f['errors']} wrk errors")
        for sink, s in (rec.get("events") or {}).items():
            if isinstance(s, dict) and "drained" in s and not s["drained"]:
                problems.append(f"{where}: the {sink} sink received {s['count']:,} events for {f['ok']:,} changes")
        if (rec.get("events") or {}).get("bad"):
            problems.append(f"{where}: {rec['events']['bad']} bodies the sink could not read as events")
    w = out.append
    w(f"# user-api events: relay cost and commit-to-receiver latency ({meta['mode']} run)")
    w("")
    w(f"- **Date**: {meta['date']}; **commit**: `{meta['commit']}`{' (work tree modified)' if meta.get('dirty') else ''}; "
      f"binary built {meta['binary_mtime']}")
    w(f"- **Machine**: {meta['cpu_model']}, {meta['ncpu']} CPUs, {meta['kernel']}; SQLite store on {meta['fs']}")
    samples = end.get("load") or []
    if samples:
        totals = [sum(x["by_comm"].values()) for x in samples]
        agg = {}
        for x in samples:
            for c, v in x["by_comm"].items():
                agg[c] = agg.get(c, 0) + v / len(samples)
        w(f"- **Load on the machine while measuring**: other processes (all but this run's own) used on average "
          f"{sum(totals) / len(totals) * 100:.0f}% of a CPU out of 200% (in 5 s samples: from {min(totals) * 100:.0f}% to "
          f"{max(totals) * 100:.0f}%); on average {describe(agg).split('(', 1)[1].rstrip(')')}. Load average "
          f"{meta['loadavg']} at the start, {end.get('loadavg', '?')} at the end.")
    else:
        w(f"- **Load on the machine**: load average {meta['loadavg']} at the start, {end.get('loadavg', '?')} at the end; "
          f"other processes at the start: {meta['top']}; at the end: {end.get('top', '?')}")
    w(f"- **Method**: server `taskset -c 1`, wrk {meta['wrk']} (1 thread) and the sinks (a Python asyncio receiver "
      f"answering 204, nats-server {meta['nats_version']} with a nats-py push consumer) on CPU 0; loopback only. "
      f"{meta['users']:,} users seeded through the service itself (`POST /users`, `POST /token`), then every "
      f"measurement starts a fresh server on a fresh copy of that store. "
      f"Throughput: {meta['rounds']} round(s), the two configurations alternating (order swapped each round), "
      f"{meta['warmup']} s warm-up + {meta['duration']} s measured each, wrk {meta['connections']} connections. "
      f"PATCH: `{{\"name\":\"TAG.a\"}}` / `TAG.b` alternately per user (every PATCH changes something, so every one "
      f"writes a `user.updated` event), each user with their own token, users taken in turn. "
      f"Latency: wrk paced to {meta['rate']} PATCH/s (a LuaJIT clock in wrk's `delay()`; oha cannot vary the body "
      f"and token per request), {meta['lat_duration']} s after a {meta['warmup']} s warm-up, webhook and NATS sinks "
      f"configured together; latency = receive time − the event's `timestamp` (commit time, whole milliseconds, so "
      f"figures carry up to +1 ms of truncation). A sink configured on a store starts after its newest event, so no "
      f"measurement starts with a backlog. Reads: a random seeded user reading itself with its own token.")
    w("- **Figures**: req/s counts 2xx only; p50/p99 are wrk's (a saturated server, no coordinated-omission "
      "correction). *Server CPU* is the server's CPU time over the wall time (100% = its whole core); on CPU 1, "
      "*other processes* is what other processes ran on the server's core, *irq+softirq* the kernel's interrupt work "
      "there (loopback TCP is largely softirq work, charged to no process), *steal* the hypervisor's. *Event latency* "
      "(PATCH with a webhook) is commit → receiver for the measured PATCHes under saturation. Absolute figures "
      "on this shared 2-core machine drift by ±40% between runs (`shared/MEASURED.md`): the targets are same-run "
      "ratios, and each round's ratio is shown so their spread is visible.")
    w("")

    # 1. PATCH
    labels = {"none": "none", "webhook": "webhook"}
    lines, med, ratios = ab_table(recs, "patch", ["none", "webhook"], labels)
    w("## 1. PATCH /users/{id} throughput: no sink vs one webhook sink")
    w("")
    out.extend(lines)
    w("")
    if med["none"]["rps"]:
        ratio = med["webhook"]["rps"] / med["none"]["rps"]
        per_cpu = (med["webhook"]["per_cpu"] / med["none"]["per_cpu"]) if med["none"]["per_cpu"] and med["webhook"]["per_cpu"] else None
        w("| | no sink | webhook sink | ratio |")
        w("|---|---|---|---|")
        w(f"| req/s (median) | {fmt(med['none']['rps'])} | {fmt(med['webhook']['rps'])} | **{ratio:.2f}** |")
        w(f"| p99 ms (median) | {fmt(med['none']['p99'], '{:.2f}')} | {fmt(med['webhook']['p99'], '{:.2f}')} | "
          f"{fmt(med['webhook']['p99'] / med['none']['p99'] if med['none']['p99'] else None, '{:.2f}')} |")
        w(f"| req per server CPU-second (median) | {fmt(med['none']['per_cpu'])} | {fmt(med['webhook']['per_cpu'])} | {fmt(per_cpu, '{:.2f}')} |")
        w(f"| per-round ratios, req/s | | | {', '.join(f'{r:.2f}' for r in ratios)} |")
        w(f"| per-round ratios, req per server CPU-second | | | {', '.join(f'{r:.2f}' for r in med['cpu_ratios'])} |")
        w("")
        met = ratio >= 0.85
        verdicts.append(("PATCH req/s with a webhook sink ≥ 85% of no sink", f"{ratio:.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})", met))
    # 2. latency
    lat = next((r for r in recs if r.get("part") == "latency"), None)
    w(f"## 2. Commit-to-receiver latency at {meta['rate']} changes/s")
    w("")
    if lat:
        f = wrk_figures(lat)
        ev = lat["events"]
        secs = f["secs"]
        w(f"wrk achieved {f['ok'] / secs:,.0f} PATCH/s for {secs:.0f} s ({f['ok']:,} answered 2xx, {f['errors']} errors, "
          f"request p99 {f['p99']:.2f} ms); server CPU {pct_or_dash(f['server_cpu'])}; on CPU 1 other processes "
          f"{pct_or_dash(f['others_cpu1'])}, irq+softirq {pct_or_dash(f['irq_cpu1'])}, steal {pct_or_dash(f['steal_cpu1'])}; "
          f"CPU 0 (wrk, the sinks, nats-server, and others) {pct_or_dash(f['cpu0_busy'])} busy.")
        w("")
        w("| sink | events received / 2xx | p50 ms | p99 ms | max ms | min ms |")
        w("|---|---|---|---|---|---|")
        for sink in ("webhook", "nats"):
            s = ev.get(sink, {})
            if sink == "nats" and not meta.get("nats"):
                w(f"| NATS JetStream | not measured: {meta.get('nats_skip', 'no NATS')} | | | | |")
                continue
            if not s.get("count"):
                w(f"| {sink} | 0 / {f['ok']:,} | — | — | — | — |")
                verdicts.append((f"{sink}: p99 commit→receiver ≤ 50 ms", "no events received", False))
                continue
            name = "webhook" if sink == "webhook" else "NATS JetStream (consumer side)"
            w(f"| {name} | {s['count']:,} / {f['ok']:,} | {s['p50']:.1f} | {s['p99']:.1f} | {s['max']:.1f} | {s['min']:.1f} |")
            verdicts.append((f"{name}: p99 commit→receiver ≤ 50 ms", f"{s['p99']:.1f} ms (p50 {s['p50']:.1f}, max {s['max']:.1f})", s["p99"] <= 50))
        w("")
    else:
        w("not measured")
        w("")
    # 3. reads
    lines, med, ratios = ab_table(recs, "read", ["none", "webhook"], labels)
    w("## 3. GET /users/{id} (authenticated) with a webhook sink configured vs none")
    w("")
    out.extend(lines)
    w("")
    if med["none"]["rps"]:
        ratio = med["webhook"]["rps"] / med["none"]["rps"]
        per_cpu = (med["webhook"]["per_cpu"] / med["none"]["per_cpu"]) if med["none"]["per_cpu"] and med["webhook"]["per_cpu"] else None
        w("| | no sink | webhook sink | ratio |")
        w("|---|---|---|---|")
        w(f"| req/s (median) | {fmt(med['none']['rps'])} | {fmt(med['webhook']['rps'])} | **{ratio:.2f}** |")
        w(f"| p99 ms (median) | {fmt(med['none']['p99'], '{:.2f}')} | {fmt(med['webhook']['p99'], '{:.2f}')} | |")
        w(f"| req per server CPU-second (median) | {fmt(med['none']['per_cpu'])} | {fmt(med['webhook']['per_cpu'])} | {fmt(per_cpu, '{:.2f}')} |")
        w(f"| per-round ratios, req/s | | | {', '.join(f'{r:.2f}' for r in ratios)} |")
        w(f"| per-round ratios, req per server CPU-second | | | {', '.join(f'{r:.2f}' for r in med['cpu_ratios'])} |")
        w("")
        verdicts.append(("Reads untouched by the relay (ratio ≈ 1; informative, no numeric target)", f"{ratio:.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})", None))
    w("## Verdict")
    w("")
    w("| target | measured | |")
    w("|---|---|---|")
    for what, measured, ok in verdicts:
        w(f"| {what} | {measured} | {'met' if ok else ('missed' if ok is False else '—')} |")
    w("")
    checks = (end.get("checks") or []) + [f"**problem**: {p}" for p in problems]
    if not problems:
        checks.insert(0, "every measured request answered 2xx; every sink received an event for each acknowledged change")
    if checks:
        w("Checks: " + "; ".join(checks))
        w("")
    text = "\n".join(out) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    if problems:
        sys.exit(3)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("freeport")
    s = sub.add_parser("seed")
    s.add_argument("--base", required=True)
    s.add_argument("--users", type=int, required=True)
    s.add_argument("--tokens", required=True)
    s.add_argument("--parallel", type=int, default=4)
    s = sub.add_parser("sink")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--nats-url", default="")
    s.add_argument("--nats-stream", default="")
    s.add_argument("--nats-prefix", default="")
    s.add_argument("--delete-stream", action="store_true")
    s.add_argument("--dump", default="", help="at exit, every event received: sink tag seq timestamp receive-time")
    s.add_argument("--ready", required=True)
    s = sub.add_parser("stats")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--tag", required=True)
    s = sub.add_parser("drain")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--tag", required=True)
    s.add_argument("--sink", default="webhook")
    s.add_argument("--want", type=int, required=True)
    s.add_argument("--timeout", type=float, default=15)
    s = sub.add_parser("count")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--tag", required=True)
    s.add_argument("--sink", default="webhook")
    s = sub.add_parser("top")
    s.add_argument("--seconds", type=float, default=1.0)
    s.add_argument("--exclude-tree", default=None)
    s = sub.add_parser("monitor")
    s.add_argument("--seconds", type=float, default=5.0)
    s.add_argument("--exclude-tree", default=None)
    s.add_argument("--out", required=True)
    s = sub.add_parser("brief")
    s.add_argument("--tag", default="")
    s.add_argument("--wrk", default="")
    s.add_argument("--events", default="")
    s = sub.add_parser("snap")
    s.add_argument("pid")
    s = sub.add_parser("report")
    s.add_argument("--results", required=True)
    s.add_argument("--out", required=True)
    args = p.parse_args()
    globals()["cmd_" + args.cmd](args)


if __name__ == "__main__":
    main()
