"""Hooks of `.ci/schemathesis` (loaded through SCHEMATHESIS_HOOKS): the
credentials, and the exclusions that take code.

Operations that declare the bearer scheme get an admin's token: at first the
one `.ci/schemathesis` obtained from POST /token. The run itself may end
that admin (it creates other admins, and then may demote, deactivate or
delete the first): before each test case the token is checked with
GET /users/me, and when it no longer belongs to an active admin a new admin
is created with `user-api admin create` and signed in.

POST /token/revoke ends the token it is called with, so each of its test
cases gets a token of its own, from a fresh account signed up for it.

These requests come from 127.0.0.2, another client address than the
generated requests (127.0.0.1): those fail sign-ins on purpose and so
throttle 127.0.0.1 (20 failures a minute), which must not stop these.

`filter_failure` below holds the exclusions that need code (each check
has at most one, here or in schemathesis.toml): negative_data_rejection and
ensure_resource_availability. A dropped failure is counted in the run's
summary ("Filtered: N (dropped by `filter_failure`)").
"""

import atexit
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import unicodedata
import urllib.parse

import jsonschema_rs
import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import EnsureResourceAvailability

API = urllib.parse.urlsplit(os.environ["SCHEMATHESIS_API"])
BINARY = os.environ["SCHEMATHESIS_BINARY"]  # `admin create` reads USER_API_* from the environment


def _request(method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(API.hostname, API.port, timeout=30, source_address=("127.0.0.2", 0))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _sign_in(email, password):
    form = urllib.parse.urlencode({"username": email, "password": password})
    status, body = _request("POST", "/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"POST /token for {email}: {status} {body[:200]!r}")
    return json.loads(body)["access_token"]


class _Admin:
    def __init__(self, token):
        self._token = token
        self._lock = threading.Lock()
        self.created = 0

    def token(self):
        with self._lock:
            if not self._is_active_admin(self._token):
                self._token = self._new_admin()
            return self._token

    @staticmethod
    def _is_active_admin(token):
        status, body = _request("GET", "/users/me", headers={"Authorization": f"Bearer {token}"})
        return status == 200 and json.loads(body).get("role") == "admin"

    def _new_admin(self):
        self.created += 1
        email = f"admin-{self.created}-{secrets.token_hex(4)}@schemathesis.example"
        password = secrets.token_urlsafe(24)
        subprocess.run(
            [BINARY, "admin", "create", "--email", email, "--name", "Schemathesis"],
            input=password + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        return _sign_in(email, password)


ADMIN = _Admin(os.environ["SCHEMATHESIS_ADMIN_TOKEN"])


def _fresh_user_token():
    email = f"revoke-{secrets.token_hex(8)}@schemathesis.example"
    password = secrets.token_urlsafe(24)
    user = json.dumps({"email": email, "name": "Revoke", "password": password})
    status, body = _request("POST", "/users", user, {"Content-Type": "application/json"})
    if status != 201:
        raise RuntimeError(f"POST /users: {status} {body[:200]!r}")
    return _sign_in(email, password)


def _declares_bearer(operation):
    security = operation.definition.raw.get("security", [])
    return any("bearer" in requirement for requirement in security)


# No caching (refresh_interval=None): `get` runs for every test case.
@schemathesis.auth(refresh_interval=None)
class Bearer:
    def get(self, case, context):
        operation = context.operation
        if not _declares_bearer(operation):
            return None
        if operation.path == "/token/revoke":
            return _fresh_user_token()
        return ADMIN.token()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# negative_data_rejection: the length limits of `email`, `name` and the
# passwords hold for the value the service keeps, not the bytes sent: the
# contract trims `email` and `name` and lower-cases `email` (Unicode
# lower-casing can lengthen: "İ" is two characters in lower case), and
# counts a password after NFKC normalisation (NIST SP 800-63B-4: "¾" is
# "3⁄4", three characters). JSON Schema cannot say so; a body that breaks a
# limit as sent but keeps it as normalised is rightly accepted. Such a
# failure is dropped (the run reports how many were), and only when the body
# was the one part generated invalid and, normalised as the contract says,
# it is valid against its schema in every respect, formats included.
NORMALISED_BODIES = {"POST /users", "PATCH /users/{id}"}


def _normalised(body):
    body = dict(body)
    for field in ("email", "name"):
        if isinstance(body.get(field), str):
            body[field] = body[field].strip()
    if isinstance(body.get("email"), str):
        body["email"] = body["email"].lower()
    for field in ("password", "current_password"):
        if isinstance(body.get(field), str):
            body[field] = unicodedata.normalize("NFKC", body[field])
    return body


_validators = {}


def _body_validator(operation):
    if operation.label not in _validators:
        status, raw = _request("GET", "/openapi.json")
        document = json.loads(raw)
        schema = document["paths"][operation.path][operation.method.lower()]["requestBody"]
        schema = dict(schema["content"]["application/json"]["schema"], components=document["components"])
        _validators[operation.label] = jsonschema_rs.validator_for(schema, validate_formats=True)
    return _validators[operation.label]


def _normalised_body_is_valid(case):
    negative = [location for location, info in (case.meta.components if case.meta else {}).items() if info.mode.is_negative]
    if negative != [ParameterLocation.BODY] or not isinstance(case.body, dict):
        return False
    validator = _body_validator(case.operation)
    return not validator.is_valid(case.body) and validator.is_valid(_normalised(case.body))


# ensure_resource_availability: a POST /users whose 201 is followed by a 404
# for its user. The contract: "with an Idempotency-Key header a retry returns
# the first response and creates nothing", so a retry can return the 201 of a
# user deleted since (as Stripe's keys do); and other test cases delete users
# too. Schemathesis only counts a DELETE made in the same scenario; this
# drops the failure only when the user was in fact deleted: a DELETE of that
# id answered 204 earlier in the run.
_deleted = set()


@schemathesis.hook
def after_call(context, case, response):
    if case.operation.label == "DELETE /users/{id}" and response.status_code == 204:
        _deleted.add(str(case.path_parameters["id"]))


_dropped = []


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if isinstance(failure, AcceptedNegativeData) and case.operation.label in NORMALISED_BODIES:
        if _normalised_body_is_valid(case):
            _dropped.append(f"{failure.code} {case.operation.label}: valid once normalised: {json.dumps(case.body)}")
            return False
    if isinstance(failure, EnsureResourceAvailability) and failure.created_with == "POST /users":
        user = str((case.path_parameters or {}).get("id"))
        if user in _deleted:
            _dropped.append(f"{failure.code} {case.operation.label}: user {user} was deleted")
            return False
    return True


@atexit.register
def _report_dropped():
    for line in _dropped:
        print(f"dropped by filter_failure: {line}", file=sys.stderr)
