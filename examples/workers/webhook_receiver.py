#!/usr/bin/env python3
"""Receives user-api's Standard Webhooks events.

Every request is verified with the `standardwebhooks` library before anything
else: 204 when the signature verifies, 401 when it does not (400 for a
verified body that is not JSON). Deliveries are at least once, so events are
deduplicated by `webhook-id` (seeded from --out, so a restart keeps them).
Prints `seq type user.id` per new event; with --out, appends each verified
event as a JSON line (written before the 204, so none is lost).

  python3 webhook_receiver.py --port 9000 --secret whsec_... [--out events.jsonl]

--port 0 takes a free port; the line `listening on http://HOST:PORT/` on
standard error says which.
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET"),
                        help="whsec_... (default: $WEBHOOK_SECRET); comma-separated while rotating")
    parser.add_argument("--out", help="append each verified event to this file as a JSON line")
    args = parser.parse_args()
    if not args.secret:
        parser.error("--secret or WEBHOOK_SECRET is required")
    try:
        hooks = [Webhook(s.strip()) for s in args.secret.split(",")]
    except Exception as e:  # bad base64, or empty
        parser.error(f"malformed secret: {e}")

    seen: set[str] = set()
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            seen.update(json.loads(line)["id"] for line in f if line.strip())
    out = open(args.out, "a") if args.out else None
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive for the sender

        def answer(self, status: int, reason: str = "") -> None:
            if reason:
                print(f"rejected {self.headers.get('webhook-id')}: {status} {reason}", file=sys.stderr, flush=True)
            body = json.dumps({"detail": reason}).encode() if reason else b""
            self.send_response(status)
            if body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                return self.answer(411, "Content-Length required")
            if int(length) > MAX_BODY:
                self.close_connection = True
                return self.answer(413, "body too large")
            body = self.rfile.read(int(length))
            headers = dict(self.headers.items())
            for hook in hooks:
                try:
                    hook.verify(body, headers, json_parse=False)
                    break
                except WebhookVerificationError as e:
                    error = e
            else:
                return self.answer(401, f"signature: {error}")
            try:
                event = json.loads(body)
                line = f"{event['seq']} {event['type']} {event['data']['user']['id']}"
            except (ValueError, KeyError, TypeError) as e:
                return self.answer(400, f"not an event: {e!r}")
            with lock:
                webhook_id = self.headers["webhook-id"]
                if webhook_id not in seen:
                    if out:
                        out.write(json.dumps(event, separators=(",", ":")) + "\n")
                        out.flush()
                    seen.add(webhook_id)
                    print(line, flush=True)
            self.answer(204)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet access log
            pass

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
