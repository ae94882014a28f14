#!/usr/bin/env python3
"""Checks the workers without the service (.ci/workers runs it first).

The receiver: a request signed with the `standardwebhooks` library → 204 and
one event out; a repeat → 204, nothing new; a wrong secret, a tampered body,
a stale timestamp, no headers → 401. The consumer: events published to a
throwaway stream on the NATS at --url (deleted afterwards), one of them
twice (by event id) → each event out once.

  python3 selftest.py [--url nats://127.0.0.1:4222]
"""
import argparse, asyncio, base64, json, os, subprocess, sys, tempfile, time  # noqa: E401
import urllib.error, urllib.request  # noqa: E401
from datetime import datetime, timedelta, timezone

import nats
from standardwebhooks.webhooks import Webhook

here = os.path.dirname(os.path.abspath(__file__))
new_secret = lambda: "whsec_" + base64.b64encode(os.urandom(32)).decode()  # noqa: E731


def event(n: int, kind: str = "user.created") -> bytes:
    return json.dumps({"id": f"evt_selftest{n}", "seq": n, "type": kind, "timestamp": "2026-12-06T09:00:00Z",
                       "data": {"user": {"id": n, "version": 1}}}).encode()


def check(what: str, got, expected) -> None:
    print(f"{'ok  ' if got == expected else 'FAIL'} {what}: {got!r}" + ("" if got == expected else f", expected {expected!r}"))
    if got != expected:
        sys.exit(1)


def receiver(tmp: str) -> None:
    secret, out = new_secret(), os.path.join(tmp, "webhook.jsonl")
    proc = subprocess.Popen([sys.executable, os.path.join(here, "webhook_receiver.py"), "--port", "0", "--out", out],
                            env={**os.environ, "WEBHOOK_SECRET": secret}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stderr.readline().split()[-1]  # "listening on http://127.0.0.1:PORT/"

        def post(msg_id, body, key=secret, age=timedelta(0), sent_body=None):
            ts = datetime.now(timezone.utc) - age
            headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(ts.timestamp())),
                       "webhook-signature": Webhook(key).sign(msg_id, ts, body)} if key else {}
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=sent_body or body, headers=headers)) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        check("webhook, signed", post("evt_selftest1", event(1)), 204)
        check("webhook, the same again", post("evt_selftest1", event(1)), 204)
        check("webhook, wrong secret", post("evt_selftest2", event(2), key=new_secret()), 401)
        check("webhook, tampered body", post("evt_selftest2", event(2), sent_body=event(3)), 401)
        check("webhook, 10 minutes old", post("evt_selftest2", event(2), age=timedelta(minutes=10)), 401)
        check("webhook, unsigned", post("evt_selftest2", event(2), key=None), 401)
        check("webhook, events out", [json.loads(line)["id"] for line in open(out)], ["evt_selftest1"])
    finally:
        proc.terminate()
        proc.wait()


async def consumer(tmp: str, url: str) -> None:
    run = os.urandom(4).hex()
    stream, prefix, out = f"SELFTEST_{run}", f"selftest-{run}", os.path.join(tmp, "nats.jsonl")
    nc = await nats.connect(url, allow_reconnect=False)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
    try:
        for n, kind in [(1, "user.created"), (2, "user.created"), (3, "user.updated")]:
            await js.publish(f"{prefix}.{kind}", event(n, kind), headers={"Nats-Msg-Id": f"evt_selftest{n}"})
        await js.publish(f"{prefix}.user.created", event(2))  # a repeat JetStream cannot tell (no Nats-Msg-Id)
        cmd = [sys.executable, os.path.join(here, "nats_consumer.py"), "--url", url, "--stream", stream,
               "--subject", f"{prefix}.>", "--durable", f"selftest-{run}", "--out", out, "--timeout", "3"]
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        stdout, _ = await proc.communicate()
        check("nats, exit status", proc.returncode, 0)
        check("nats, printed", stdout.decode().splitlines(), ["1 user.created 1", "2 user.created 2", "3 user.updated 3"])
        check("nats, events out", [json.loads(line)["seq"] for line in open(out)], [1, 2, 3])
        info = await js.consumer_info(stream, f"selftest-{run}")
        check("nats, left unacked", (info.num_pending, info.num_ack_pending), (0, 0))
    finally:
        await js.delete_stream(stream)
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        receiver(tmp)
        asyncio.run(consumer(tmp, args.url))
    print(f"selftest: ok in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
