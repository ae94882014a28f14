#!/usr/bin/env python3
"""A real SMTP server for the mail tests (aiosmtpd): it accepts every
message and writes each as one JSON file in --maildir (envelope, subject,
the decoded plain and HTML parts, and whether TLS and AUTH were used), so a
test reads what a user's mailbox would hold.

    python3 tests/smtp_sink.py --maildir DIR [--port N] [--starttls CERT KEY]
        [--smtps CERT KEY] [--auth USER:PASSWORD]

Prints "listening PORT" once it accepts connections (--port 0: a free one).
To try the service by hand, `python3 -m aiosmtpd -n -l 127.0.0.1:2525`
prints every mail instead.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import socket
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Maildir:
    def __init__(self, path):
        self.path = path
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "text": plain.get_content() if plain is not None else None,
            "html": html.get_content() if html is not None else None,
            # STARTTLS sets `session.ssl`; implicit TLS shows on the transport.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        self.count += 1
        name = f"{self.count:05d}.json"
        temporary = os.path.join(self.path, "." + name)
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(record, f)
        # Whole files only: the test never reads half a message.
        os.rename(temporary, os.path.join(self.path, name))
        return "250 OK"


def tls_context(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth", metavar="USER:PASSWORD")
    args = parser.parse_args()

    credentials = tuple(args.auth.split(":", 1)) if args.auth else None

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            credentials is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == credentials
        )
        return AuthResult(success=ok)

    handler = Maildir(args.maildir)
    starttls = tls_context(*args.starttls) if args.starttls else None

    def factory():
        return SMTP(
            handler,
            hostname="sink.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=authenticator if credentials else None,
            auth_required=credentials is not None,
            auth_require_tls=False,
        )

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(16)
    implicit = tls_context(*args.smtps) if args.smtps else None
    server = await asyncio.get_running_loop().create_server(factory, sock=sock, ssl=implicit)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
