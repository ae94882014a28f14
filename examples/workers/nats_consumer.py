#!/usr/bin/env python3
"""Consumes user-api's events from NATS JetStream.

A durable pull consumer on the stream (default USER_API_EVENTS) for the
subject (default `user-api.>`): it picks up where it left off after a restart,
from the first event on its first run. Each message is handled, then acked.
Delivery is at least once, so events are deduplicated by `Nats-Msg-Id` (the
event id; seeded from --out, so a restart keeps them). Prints
`seq type user.id` per new event; with --out, appends each event as a JSON
line before acking it.

  python3 nats_consumer.py [--url nats://127.0.0.1:4222] [--durable NAME] [--out events.jsonl]

It waits for the stream when it does not exist yet (user-api creates it).
For CI: --exit-after N stops after N new events (exit 0), --timeout S after
S seconds (exit 1 if --exit-after was given and not reached, else 0).
"""
import argparse
import asyncio
import json
import os
import sys
import time

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError


def say(*args) -> None:
    print("nats_consumer:", *args, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout if args.timeout else float("inf")
    seen: set[str] = set()
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            seen.update(json.loads(line)["id"] for line in f if line.strip())
    out = open(args.out, "a") if args.out else None

    async def error_cb(e: Exception) -> None:
        say(f"{args.url}: {e!r}")  # it keeps reconnecting

    try:
        connecting = nats.connect(args.url, error_cb=error_cb, max_reconnect_attempts=-1)
        nc = await asyncio.wait_for(connecting, deadline - time.monotonic() if args.timeout else None)
    except asyncio.TimeoutError:
        say(f"could not connect to {args.url} within {args.timeout} s")
        return 1
    js = nc.jetstream()
    waiting = False
    while True:
        try:
            await js.stream_info(args.stream)
            break
        except NotFoundError:
            if time.monotonic() >= deadline:
                say(f"stream {args.stream} did not appear within {args.timeout} s")
                await nc.close()
                return 1
            if not waiting:
                say(f"waiting for stream {args.stream}")
                waiting = True
            await asyncio.sleep(0.5)
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=30)
    sub = await js.pull_subscribe(args.subject, durable=args.durable, stream=args.stream, config=config)
    say(f"consuming {args.subject} from stream {args.stream} as {args.durable}")

    handled = 0
    while not args.exit_after or handled < args.exit_after:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            msgs = await sub.fetch(args.batch, timeout=min(left, 5))
        except asyncio.TimeoutError:  # nats.errors.TimeoutError is one too
            continue
        for msg in msgs:
            try:
                event = json.loads(msg.data)
                line = f"{event['seq']} {event['type']} {event['data']['user']['id']}"
            except (ValueError, KeyError, TypeError) as e:
                say(f"not an event on {msg.subject}, dropped: {e!r}")
                await msg.term()  # redelivering it would not help
                continue
            event_id = (msg.headers or {}).get("Nats-Msg-Id") or event["id"]
            if event_id not in seen:
                if out:
                    out.write(json.dumps(event, separators=(",", ":")) + "\n")
                    out.flush()
                seen.add(event_id)
                handled += 1
                print(line, flush=True)
            await msg.ack_sync()
    await nc.close()  # every ack was confirmed (ack_sync)
    if args.exit_after and handled < args.exit_after:
        say(f"timed out after {args.timeout} s with {handled} of {args.exit_after} events")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--stream", default="USER_API_EVENTS")
    parser.add_argument("--subject", default="user-api.>", help="the service's --nats-subject-prefix + '.>'")
    parser.add_argument("--durable", default="user-api-worker", help="durable consumer name")
    parser.add_argument("--out", help="append each event to this file as a JSON line")
    parser.add_argument("--batch", type=int, default=100, help="messages per fetch")
    parser.add_argument("--exit-after", type=int, default=0, metavar="N", help="stop after N new events")
    parser.add_argument("--timeout", type=float, default=0, metavar="S", help="stop after S seconds")
    args = parser.parse_args()
    try:
        sys.exit(asyncio.run(run(args)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
