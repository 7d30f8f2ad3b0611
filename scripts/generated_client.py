"""Drives every REST route through a client generated from the gateway's own OpenAPI
description, as a user of a generator would: register, log in, the account, books with
covers, sessions, a second factor, logout and disabling the account.

The script knows the description only by its operationIds and the JSON field names of
the contract; each request body is built as the model class the generator typed that
operation's body with, and each JSON answer must parse into the generated model.

Usage: python3 generated_client.py PACKAGE_DIR API_URL
"""

import base64
import hashlib
import hmac
import importlib
import io
import json
import struct
import sys
import time
import types
import typing
import uuid
import zlib

package_dir, api_url = sys.argv[1], sys.argv[2]
sys.path.insert(0, package_dir)
client_package = importlib.import_module("bookshelf_client")
File = importlib.import_module("bookshelf_client.types").File

PASSWORD = "Sup3r-Secret!"
NEW_PASSWORD = "N3w-Secret-Phrase!"
failures = []


def operation(tag, operation_id):
    """The generated module of an operation, by the operationId the description gives."""
    return importlib.import_module(f"bookshelf_client.api.{tag}.{operation_id}")


def body_model(module):
    """The model class the generator typed the operation's body with."""
    hint = typing.get_type_hints(module.sync_detailed)["body"]
    candidates = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return next(candidate for candidate in candidates if hasattr(candidate, "from_dict"))


def call(tag, operation_id, expected, client, body=None, **arguments):
    """Calls an operation, checks its status and that a JSON answer parsed into its
    generated model; returns the answer's JSON (or raw bytes for other content)."""
    module = operation(tag, operation_id)
    if body is not None:
        arguments["body"] = body if not isinstance(body, dict) else body_model(module).from_dict(body)
    response = module.sync_detailed(client=client, **arguments)
    where = f"{tag}.{operation_id}"
    if int(response.status_code) != expected:
        raise SystemExit(f"{where}: expected {expected}, got {int(response.status_code)}: {response.content[:300]!r}")
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        if response.parsed is None:
            raise SystemExit(f"{where}: the generated client could not parse {response.content[:300]!r}")
        return json.loads(response.content)
    return response.content


def check(condition, message):
    if not condition:
        raise SystemExit(f"check failed: {message}")


def totp(secret, steps_from_now):
    """The RFC 6238 code `steps_from_now` 30-second steps from now, computed apart from
    the service."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int(time.time()) // 30 + steps_from_now
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 15
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return "%06d" % (number % 1_000_000)


def png(width, height, shade):
    """A real PNG, written by hand."""
    rows = b"".join(b"\0" + b"".join(bytes((x % 256, y % 256, shade)) for x in range(width))
                    for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def cover(width, height, shade):
    return File(payload=io.BytesIO(png(width, height, shade)), file_name="cover.png", mime_type="image/png")


anonymous = client_package.Client(base_url=api_url, raise_on_unexpected_status=False)


def signed_in(token):
    return client_package.AuthenticatedClient(base_url=api_url, token=token, raise_on_unexpected_status=False)


# Operations.
health = call("operations", "healthz", 200, anonymous)
check(health["data"] == {"auth": "serving", "library": "serving"}, f"both backends serve: {health}")
keys = call("operations", "jwks", 200, anonymous)
check(len(keys["keys"]) >= 1, "the key set lists a key")

# An account.
email = f"{uuid.uuid4().hex}@example.com"
registered = call("users", "register", 201, anonymous, {"name": "Ada Lovelace", "email": email, "password": PASSWORD})
check(registered["data"]["email"] == email, "registration answers the account")
login = call("users", "login", 200, anonymous, {"email": email, "password": PASSWORD})["data"]
me = signed_in(login["token"])
check(call("users", "current", 200, me)["data"]["name"] == "Ada Lovelace", "the current user")
check(call("users", "rename", 200, me, {"name": "Ada King"})["data"]["name"] == "Ada King", "renamed")

# Books: the generator writes the form's fields in its own order (cover first).
book_form = body_model(operation("books", "create"))
call("books", "create", 201, me,
     body=book_form(title="Dune", category="science", description="Spice", cover_image=cover(60, 90, 10)))
created = call("books", "create", 201, me,
               body=book_form(title="Arrakis", category="science", description="Sand", cover_image=cover(300, 200, 40)))
book = created["data"]
check(book["title"] == "Arrakis" and book.get("image_url"), f"a book with a cover: {book}")
listed = call("books", "list_books", 200, me, category="science", limit=10)
check({entry["title"] for entry in listed["data"]} == {"Dune", "Arrakis"}, f"the list: {listed['data']}")
check(call("books", "get_book", 200, me, id=book["_id"])["data"]["title"] == "Arrakis", "one book")
name = book["image_url"].rsplit("/", 1)[1]
thumbnail = call("books", "get_cover", 200, anonymous, name=name)
check(thumbnail[:8] == b"\x89PNG\r\n\x1a\n" or thumbnail[:2] == b"\xff\xd8", "the cover is an image")
updated = call("books", "update", 200, me, id=book["_id"],
               body=book_form(title="Arrakis II", cover_image=cover(120, 90, 200)))
check(updated["data"]["title"] == "Arrakis II" and updated["data"]["image_url"] != book["image_url"], "updated")
call("books", "delete", 204, me, id=book["_id"])
call("books", "get_book", 404, me, id=book["_id"])

# Sessions.
refreshed = call("sessions", "refresh", 200, anonymous, {"refresh_token": login["refresh_token"]})["data"]
me = signed_in(refreshed["token"])
other = call("users", "login", 200, anonymous, {"email": email, "password": PASSWORD})["data"]
sessions = call("sessions", "list_sessions", 200, me)["data"]
check(len(sessions) == 2 and sum(session["current"] for session in sessions) == 1, f"two sessions: {sessions}")
call("sessions", "revoke", 204, me, id=other["session_id"])
changed = call("sessions", "change_password", 200, me, {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
check("ended_sessions" in changed["data"], f"the password change: {changed}")

# A second factor: enrol, confirm, a login's second step with a recovery code, disable.
# The body is optional; the generated code sends an unset one as invalid JSON, so an
# empty object it is.
enrolment = call("users", "enroll", 200, me, {})["data"]
recovery = call("users", "confirm", 200, me, {"code": totp(enrolment["secret"], 0)})["data"]["recovery_codes"]
first_step = call("users", "login", 200, anonymous, {"email": email, "password": NEW_PASSWORD})["data"]
check(first_step.get("mfa_required") is True, f"the second step is asked for: {first_step}")
second_step = call("users", "login_mfa", 200, anonymous,
                   {"mfa_token": first_step["mfa_token"], "code": recovery[0]})["data"]
me = signed_in(second_step["token"])
call("users", "disable_totp", 204, me, {"code": totp(enrolment["secret"], 1)})

# Logout, then the account disabled from a fresh login.
call("sessions", "logout", 204, me)
call("users", "current", 401, me)
last = call("users", "login", 200, anonymous, {"email": email, "password": NEW_PASSWORD})["data"]
call("users", "disable_account", 204, signed_in(last["token"]), {"current_password": NEW_PASSWORD})
call("users", "login", 401, anonymous, {"email": email, "password": NEW_PASSWORD})

print("generated client: every route answered as described")
