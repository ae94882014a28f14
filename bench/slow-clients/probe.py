#!/usr/bin/env python3
"""What slow clients do to a running user-api (issue 12's closing note).

  bench/slow-clients/probe.py [path/to/user-api]   (default target/debug/user-api)

1. 120 connections send `POST /users` bodies a byte every 2 s against
   `--max-in-flight 100`; `/health` and `/health/ready` are asked from fresh
   connections every 0.5 s, and `/users/me` shows the cap is full (503).
2. 300 connections from 127.0.0.1 send half a request head and then
   nothing: when each is closed, with the default caps (header timeout
   10 s, 256 connections per address) and with `--max-connections-per-address 0`.
Standard library only; prints a summary.
"""
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/debug/user-api"


def start(flags):
    tmp = tempfile.mkdtemp()
    argv = [BINARY, "serve", "--listen", "127.0.0.1:0", "--database-url", f"sqlite:{tmp}/db.sqlite"] + flags
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    port = int(re.search(r":(\d+)", line.split("http://")[1]).group(1))
    return proc, port


async def status_of(port, path):
    started = time.perf_counter()
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        w.write(f"GET {path} HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n".encode())
        await w.drain()
        line = await asyncio.wait_for(r.readline(), 5)
        w.close()
        return int(line.split()[1]), time.perf_counter() - started
    except Exception as e:  # noqa: BLE001 - a probe reports what happened
        return repr(e), time.perf_counter() - started


async def slow_body(port, stop):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /users HTTP/1.1\r\nhost: probe\r\ncontent-type: application/json\r\n"
            b"content-length: 1000\r\n\r\n{")
    await w.drain()
    while not stop.is_set():
        await asyncio.sleep(2)
        try:
            w.write(b" ")
            await w.drain()
        except Exception:  # noqa: BLE001
            return
    w.close()


async def slow_bodies():
    proc, port = start(["--max-in-flight", "100", "--max-connections-per-address", "0"])
    try:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(slow_body(port, stop)) for _ in range(120)]
        await asyncio.sleep(1)
        seen = {"/health": [], "/health/ready": [], "/users/me": []}
        end = time.perf_counter() + 20
        while time.perf_counter() < end:
            for path in seen:
                seen[path].append(await status_of(port, path))
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        print("1. 120 slow bodies (a byte / 2 s) against --max-in-flight 100, 20 s:")
        for path, results in seen.items():
            statuses = {}
            for status, _ in results:
                statuses[status] = statuses.get(status, 0) + 1
            worst = max(t for _, t in results) * 1000
            print(f"   {path:14} {len(results)} probes: {statuses}, slowest {worst:.1f} ms")
    finally:
        proc.terminate()
        proc.wait()


async def half_head(port, opened_at):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /health HTTP/1.1\r\nhost: probe\r\n")
    await w.drain()
    data = b""
    try:
        while True:
            chunk = await asyncio.wait_for(r.read(4096), 60)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, asyncio.TimeoutError):
        pass
    return time.perf_counter() - opened_at, data.split(b"\r\n", 1)[0].decode(errors="replace")


async def half_heads(flags, label):
    proc, port = start(flags)
    try:
        opened = time.perf_counter()
        results = await asyncio.gather(*(half_head(port, opened) for _ in range(300)))
        refused = [t for t, first in results if first.startswith("HTTP/1.1 503")]
        closed = [t for t, first in results if not first.startswith("HTTP/1.1 503")]
        print(f"2. 300 half-sent request heads from 127.0.0.1, {label}:")
        if refused:
            print(f"   {len(refused)} refused with 503 at once (max {max(refused) * 1000:.0f} ms)")
        if closed:
            print(f"   {len(closed)} closed by the server after "
                  f"min {min(closed):.2f} s / median {statistics.median(closed):.2f} s / max {max(closed):.2f} s")
        health = await status_of(port, "/health")
        print(f"   /health afterwards: {health[0]}")
    finally:
        proc.terminate()
        proc.wait()


async def main():
    await slow_bodies()
    await half_heads([], "defaults (--header-timeout 10s, --max-connections-per-address 256)")
    await half_heads(["--max-connections-per-address", "0"], "--max-connections-per-address 0")


if __name__ == "__main__":
    os.environ.pop("RUST_LOG", None)
    asyncio.run(main())
