#!/usr/bin/env python3
"""Writes one file per `users import` format into DIR, each user's password
hashed by someone else's code: PyPI's `bcrypt` (Auth0, Supabase), Python's
`hashlib.pbkdf2_hmac` (Django, Keycloak's pbkdf2-sha256/sha512),
`argon2-cffi` (Keycloak's argon2 credentials, Django's argon2),
`hashlib.scrypt` (a scrypt PHC string) and Firebase's published sample
(github.com/firebase/scrypt's README: its parameters, salt and hash).

Prints a JSON object: {format: [[email, password], ...]} of the users that
must sign in with that password after the import.
"""
import base64
import csv
import hashlib
import json
import os
import sys

import argon2
import bcrypt

out = sys.argv[1]
b64 = lambda b: base64.b64encode(b).decode()
phc = lambda b: base64.b64encode(b).decode().rstrip("=")
signins = {}


def write(name, data):
    with open(os.path.join(out, name), "w", newline="") as f:
        if isinstance(data, str):
            f.write(data)
        else:
            json.dump(data, f, indent=1)


# Auth0: bulk-import JSON; bcrypt from PyPI's bcrypt, a blocked user, a
# user without a password (social login).
auth0 = [
    {"email": "Auth0.User@Example.com", "email_verified": True, "name": "Ada Auth0",
     "password_hash": bcrypt.hashpw(b"auth0 password one", bcrypt.gensalt(rounds=5)).decode()},
    {"email": "custom@example.com", "given_name": "Cus", "family_name": "Tom",
     "custom_password_hash": {"algorithm": "bcrypt", "hash": {
         "value": bcrypt.hashpw(b"auth0 custom two", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()}}},
    {"email": "social@example.com", "name": "Only Google"},
]
write("auth0.json", auth0)
signins["auth0"] = [["auth0.user@example.com", "auth0 password one"], ["custom@example.com", "auth0 custom two"]]

# Supabase: auth.users rows, bcrypt $2a$ (GoTrue's), as JSON and as CSV.
supa_hash = bcrypt.hashpw(b"supabase secret", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
rows = [
    {"id": "7b0b", "email": "supa@example.com", "encrypted_password": supa_hash,
     "email_confirmed_at": "2024-01-01 00:00:00+00", "raw_user_meta_data": json.dumps({"full_name": "Supa Base"}),
     "banned_until": "", "deleted_at": ""},
    {"id": "8c1c", "email": "oauth@example.com", "encrypted_password": "",
     "email_confirmed_at": "", "raw_user_meta_data": "{}", "banned_until": "", "deleted_at": ""},
]
write("supabase.json", [dict(r, raw_user_meta_data=json.loads(r["raw_user_meta_data"]), banned_until=None, deleted_at=None) for r in rows])
with open(os.path.join(out, "supabase.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
signins["supabase"] = [["supa@example.com", "supabase secret"]]

# Keycloak: a realm export; pbkdf2-sha256 (27500, 64 bytes: Keycloak's
# defaults before 24), pbkdf2-sha512 (210000 is its default; fewer here to
# keep the test quick) and argon2id (its default since 24: m=7168, t=5).
def kc_pbkdf2(alg, digest, password, iterations):
    salt = os.urandom(16)
    value = hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations, 64)
    return {"type": "password",
            "secretData": json.dumps({"value": b64(value), "salt": b64(salt), "additionalParameters": {}}),
            "credentialData": json.dumps({"hashIterations": iterations, "algorithm": alg, "additionalParameters": {}})}

def kc_argon2(password):
    salt = os.urandom(16)
    value = argon2.low_level.hash_secret_raw(password.encode(), salt, time_cost=5, memory_cost=7168,
                                             parallelism=1, hash_len=32, type=argon2.low_level.Type.ID)
    return {"type": "password",
            "secretData": json.dumps({"value": b64(value), "salt": b64(salt), "additionalParameters": {}}),
            "credentialData": json.dumps({"hashIterations": 5, "algorithm": "argon2", "additionalParameters": {
                "hashLength": ["32"], "memory": ["7168"], "type": ["id"], "version": ["1.3"], "parallelism": ["1"]}})}

keycloak = {"id": "demo", "realm": "demo", "enabled": True, "roles": {"realm": []}, "users": [
    {"username": "kc256", "email": "kc256@example.com", "emailVerified": True, "enabled": True,
     "firstName": "Kay", "lastName": "Sha", "credentials": [kc_pbkdf2("pbkdf2-sha256", "sha256", "keycloak two five six", 27500)]},
    {"username": "kc512", "email": "kc512@example.com", "enabled": True,
     "credentials": [kc_pbkdf2("pbkdf2-sha512", "sha512", "keycloak five one two", 10000)]},
    {"username": "kcargon", "email": "kcargon@example.com", "enabled": True,
     "credentials": [kc_argon2("keycloak argon two")]},
    {"username": "kcoff", "email": "kcoff@example.com", "enabled": False, "credentials": []},
], "clients": [{"clientId": "account"}]}
write("keycloak.json", keycloak)
signins["keycloak"] = [["kc256@example.com", "keycloak two five six"], ["kc512@example.com", "keycloak five one two"],
                       ["kcargon@example.com", "keycloak argon two"]]

# Django: dumpdata auth.User; pbkdf2_sha256 as Django's make_password
# writes it, Django's argon2 form, and an unusable password.
def django_pbkdf2(password, iterations=1000):
    salt = base64.b64encode(os.urandom(9)).decode().replace("+", "a").replace("/", "b")
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return "pbkdf2_sha256$%d$%s$%s" % (iterations, salt, b64(dk))

django_argon2 = "argon2" + argon2.PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).hash("django argon words")
django = [
    {"model": "auth.user", "pk": 1, "fields": {"password": django_pbkdf2("django pbkdf2 words"), "email": "dj@example.com",
     "username": "dj", "first_name": "Jan", "last_name": "Go", "is_active": True, "is_superuser": True}},
    {"model": "auth.user", "pk": 2, "fields": {"password": django_argon2, "email": "dj2@example.com",
     "username": "dj2", "first_name": "", "last_name": "", "is_active": True}},
    {"model": "auth.user", "pk": 3, "fields": {"password": "!unusable", "email": "dj3@example.com",
     "username": "dj3", "first_name": "", "last_name": "", "is_active": True}},
]
write("django.json", django)
signins["django"] = [["dj@example.com", "django pbkdf2 words"], ["dj2@example.com", "django argon words"]]

# Firebase: the README's sample user and project parameters.
firebase = {"users": [
    {"localId": "sample", "email": "sample@example.com", "emailVerified": True, "displayName": "Fire Base",
     "passwordHash": "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
     "salt": "42xEC+ixf3L2lw==", "createdAt": "1700000000000"},
    {"localId": "g", "email": "google@example.com", "providerUserInfo": [{"providerId": "google.com"}]},
]}
write("firebase.json", firebase)
signins["firebase"] = [["sample@example.com", "user1password"]]

# user-api's own format, with a scrypt PHC string (hashlib.scrypt), an
# argon2i one (argon2-cffi) and a PHC pbkdf2-sha512.
salt = os.urandom(16)
scrypt_hash = "$scrypt$ln=10,r=8,p=1$%s$%s" % (phc(salt), phc(hashlib.scrypt(b"scrypt phc words", salt=salt, n=1024, r=8, p=1, dklen=32)))
argon2i = argon2.PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1, type=argon2.low_level.Type.I).hash("argon two i words")
salt = os.urandom(16)
pbkdf2_512 = "$pbkdf2-sha512$i=1000,l=64$%s$%s" % (phc(salt), phc(hashlib.pbkdf2_hmac("sha512", b"pbkdf2 phc words", salt, 1000, 64)))
lines = [
    {"email": "scrypt@example.com", "name": "S Crypt", "role": "admin", "is_active": True, "email_verified": False,
     "created_at": "2020-01-02T03:04:05Z", "updated_at": "2021-01-02T03:04:05Z", "password_hash": scrypt_hash},
    {"email": "argon2i@example.com", "name": "Argon I", "role": "user", "is_active": True, "email_verified": False,
     "created_at": "2020-01-02T03:04:05Z", "updated_at": "2020-01-02T03:04:05Z", "password_hash": argon2i},
    {"email": "pbkdf2@example.com", "name": "P B", "role": "user", "is_active": True, "email_verified": False,
     "created_at": "2020-01-02T03:04:05Z", "updated_at": "2020-01-02T03:04:05Z", "password_hash": pbkdf2_512},
]
write("user-api.jsonl", "".join(json.dumps(l) + "\n" for l in lines))
signins["user-api"] = [["scrypt@example.com", "scrypt phc words"], ["argon2i@example.com", "argon two i words"],
                       ["pbkdf2@example.com", "pbkdf2 phc words"]]

# For the cap test: a bcrypt hash of cost 15 (made cheaply: the cost is
# only read at import, never computed).
write("bcrypt-cost.txt", bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=4)).decode().replace("$04$", "$15$", 1))

json.dump(signins, sys.stdout)
