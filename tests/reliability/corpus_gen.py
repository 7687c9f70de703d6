"""Writes data/bad_inputs.jsonl (run once; the file is the corpus, kept in git and reviewed as data).

Each line: {"name", "text" (the raw message, exactly as sent), "field", "reason"}: the field the
error must name and a regular expression for the reason. Messages over 1 MiB are generated at
test time (corpus.py), not stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOOD: dict[str, Any] = {
    "tenant": "t",
    "op": "upsert",
    "source": "app",
    "key": "K",
    "version": 1,
    "user": {"login": "ann@example.com", "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"},
}


def msg(**changes: Any) -> dict[str, Any]:
    """A valid message with some fields changed (None deletes one; `user.x` reaches inside)."""
    m = json.loads(json.dumps(GOOD))
    for name, value in changes.items():
        target, field = (m["user"], name[5:]) if name.startswith("user_") else (m, name)
        if value is None:
            target.pop(field, None)
        else:
            target[field] = value
    return m


def j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


CASES: list[tuple[str, str, str, str]] = [
    # ---- broken JSON
    ("not json", "{oops", "message", "not valid JSON"),
    ("truncated object", '{"tenant": "t", "op": "upsert",', "message", "not valid JSON"),
    ("trailing garbage", j(msg())[:-1] + "}}", "message", "not valid JSON"),
    ("single quotes", "{'tenant': 't'}", "message", "not valid JSON"),
    ("array", "[1, 2, 3]", "message", "JSON object"),
    ("string", '"just a string"', "message", "JSON object"),
    ("null", "null", "message", "JSON object"),
    ("number", "42", "message", "JSON object"),
    ("nested too deeply", "[" * 100_000 + "]" * 100_000, "message", "nested too deeply|JSON object"),
    ("NaN version", j(msg())[:-1].replace('"version": 1', '"version": NaN') + "}", "version", "integer|JSON"),
    (
        "raw control byte in a string",
        j(msg(user_firstName="A")).replace('"A"', '"A\u0001"'),
        "message",
        "not valid JSON",
    ),
    # ---- wrong types
    ("tenant a number", j(msg(tenant=123)), "tenant", "string"),
    ("op a number", j(msg(op=5)), "op", "upsert|enumeration|valid"),
    ("key a number", j(msg(key=42)), "key", "string"),
    ("version a word", j(msg(version="seven")), "version", "integer"),
    ("version negative", j(msg(version=-1)), "version", "greater than or equal to 0"),
    ("version a fraction", j(msg(version=1.5)), "version", "integer"),
    ("version a boolean", j(msg(version=True)), "version", "integer"),
    ("version beyond 64 bits", j(msg(version=10**30)), "version", "less than or equal to"),
    ("user a string", j(msg(user="ann")), "user", "dictionary|object"),
    ("user a list", j(msg(user=["ann"])), "user", "dictionary|object"),
    ("firstName a number", j(msg(user_firstName=7)), "user.firstName", "string"),
    (
        "login null",
        j(msg(user_login=None) | {"user": {**msg()["user"], "login": None}}),
        "user.login",
        "string",
    ),
    ("import_id an object", j(msg(import_id={})), "import_id", "string"),
    ("attribute an object", j(msg(user_title={"a": 1})), "user", "title"),
    # ---- missing and empty fields
    ("empty object", "{}", "tenant", "is required"),
    ("no tenant", j(msg(tenant=None)), "tenant", "is required"),
    ("no op", j(msg(op=None)), "op", "is required"),
    ("no source", j(msg(source=None)), "source", "is required"),
    ("no key", j(msg(key=None)), "key", "is required"),
    ("upsert without user", j(msg(user=None)), "user", "required"),
    ("no e-mail", j(msg(user_email=None)), "user.email", "is required"),
    ("no last name", j(msg(user_lastName=None)), "user.lastName", "is required"),
    ("empty tenant", j(msg(tenant="")), "tenant", "empty|must be"),
    ("empty key", j(msg(key="")), "key", "is empty"),
    ("empty source", j(msg(source="")), "source", "empty|must be"),
    ("empty first name", j(msg(user_firstName="")), "user.firstName", "is empty"),
    ("empty login", j(msg(user_login="")), "user.login", "e-mail|empty|short"),
    ("typo in a field name", j(msg() | {"tenantt": "t"}), "tenantt", "not a field"),
    # ---- invalid and over-long e-mails
    ("e-mail without @", j(msg(user_email="not-an-address")), "user.email", "not a valid e-mail"),
    ("e-mail without domain", j(msg(user_email="ann@")), "user.email", "not a valid e-mail|shorter than 5"),
    ("e-mail without local part", j(msg(user_email="@example.com")), "user.email", "not a valid e-mail"),
    ("e-mail with two @", j(msg(user_email="ann@@example.com")), "user.email", "not a valid e-mail"),
    ("e-mail without a dot", j(msg(user_email="ann@example")), "user.email", "not a valid e-mail"),
    ("e-mail with a space", j(msg(user_email="ann lee@example.com")), "user.email", "not a valid e-mail"),
    ("e-mail not ASCII", j(msg(user_email="änn@example.com")), "user.email", "not a valid e-mail"),
    ("e-mail over 100", j(msg(user_email="a" * 95 + "@example.com")), "user.email", "longer than 100"),
    ("login over 100", j(msg(user_login="b" * 120 + "@example.com")), "user.login", "longer than 100"),
    ("name over 50", j(msg(user_lastName="L" * 51)), "user.lastName", "longer than 50"),
    ("key over 200", j(msg(key="k" * 201)), "key", "longer than 200"),
    (
        "e-mail with a trailing newline",
        j(msg(user_email="ann@example.com\n")),
        "user.email",
        "control character",
    ),
    # ---- logins with quotes and Okta search operators
    ("login with a double quote", j(msg(user_login='a"b@example.com')), "user.login", "not a valid e-mail"),
    (
        "login that closes the search string",
        j(msg(user_login='x@example.com" or profile.login sw "')),
        "user.login",
        "not a valid e-mail",
    ),
    (
        "login with a search expression",
        j(msg(user_login="x@example.com or status eq ACTIVE")),
        "user.login",
        "not a valid e-mail",
    ),
    ("login with a backslash", j(msg(user_login="a\\b@example.com")), "user.login", "not a valid e-mail"),
    ("login with parentheses", j(msg(user_login="(a)@example.com")), "user.login", "not a valid e-mail"),
    # ---- control, bidirectional and invisible characters
    ("NUL in a name", j(msg(user_firstName="Ann\u0000")), "user.firstName", "control character U\\+0000"),
    (
        "escape in a name",
        j(msg(user_lastName="Lee\u001b[31m")),
        "user.lastName",
        "control character U\\+001B",
    ),
    (
        "C1 control in a name",
        j(msg(user_firstName="Ann\u0085")),
        "user.firstName",
        "control character U\\+0085",
    ),
    ("right-to-left override", j(msg(user_lastName="Lee\u202e")), "user.lastName", "bidirectional"),
    ("bidi isolate in a key", j(msg(key="42\u2066")), "key", "bidirectional"),
    ("zero-width space in a name", j(msg(user_firstName="A\u200bnn")), "user.firstName", "invisible"),
    (
        "left-to-right mark in an e-mail",
        j(msg(user_email="ann\u200e@example.com")),
        "user.email",
        "bidirectional",
    ),
    ("bell in a source", j(msg(source="app\u0007")), "source", "letters, digits"),
    ("bidi in an attribute", j(msg(user_title="Boss\u202e")), "user", "bidirectional"),
    ("control in a message id", j(msg(message_id="m\u0000")), "message_id", "control character"),
    # ---- unknown tenants and ops
    ("unknown tenant", j(msg(tenant="nope")), "tenant", "not configured|this import is for tenant"),
    ("tenant with a path", j(msg(tenant="../../etc")), "tenant", "letters, digits"),
    ("unknown op", j(msg(op="frobnicate")), "op", "unknown op"),
    ("op in capitals", j(msg(op="DELETE")), "op", "unknown op"),
    ("empty op", j(msg(op="")), "op", "unknown op"),
]


def main() -> None:
    out = Path(__file__).with_name("data") / "bad_inputs.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        for name, text, field, reason in CASES:
            fh.write(json.dumps({"name": name, "text": text, "field": field, "reason": reason}) + "\n")
    print(f"{len(CASES)} cases written to {out}")


if __name__ == "__main__":
    main()
