"""The bad-input corpus: data/bad_inputs.jsonl (written by corpus_gen.py, reviewed as data) plus
the inputs that cannot live in a text file: 10 MB messages and bytes that are not UTF-8.

Every case names the field its error must name and a regular expression for the reason. The
valid messages sent around them use logins full of characters that mean something in Okta's
search grammar or in a shell (quotes, `*`, `/`, `|`, `{}`, `=`, `?`, `+`, backquotes): they must
all be created, exactly as sent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data") / "bad_inputs.jsonl"
TEN_MB = 10 * 1024 * 1024
WAYS = ("http", "ndjson", "file", "kafka")


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes | None  # None: a Kafka tombstone
    field: str
    reason: str  # regular expression
    ways: tuple[str, ...] = WAYS
    per_way: dict[str, tuple[str, str]] = field(default_factory=dict)  # way -> (field, reason)

    def expectation(self, way: str) -> tuple[str, str]:
        return self.per_way.get(way, (self.field, self.reason))

    def check(self, way: str, message: str) -> str | None:
        """None when `message` names the field and the reason; else what is wrong."""
        want_field, want_reason = self.expectation(way)
        if want_field not in message:
            return f"{self.name} ({way}): the field {want_field!r} is not named in {message[:300]!r}"
        if not re.search(want_reason, message):
            return f"{self.name} ({way}): no reason matching {want_reason!r} in {message[:300]!r}"
        return None


def _big(name: str, raw: bytes) -> Case:
    return Case(name, raw, "message", "1,048,576")


def load() -> list[Case]:
    cases = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        cases.append(Case(item["name"], item["text"].encode("utf-8"), item["field"], item["reason"]))
    good = json.dumps(valid(10_000))
    cases += [
        _big("10 MB of garbage", b"x" * TEN_MB),
        _big(
            "10 MB first name", good.replace('"firstName": "Ann"', f'"firstName": "{"A" * TEN_MB}"').encode()
        ),
        _big("10 MB attribute", good[:-2].encode() + b', "notes": "' + b"n" * TEN_MB + b'"}}'),
        Case(
            "not UTF-8",
            good.replace("Ann", "A\udcffnn", 1).encode("utf-8", "surrogateescape"),
            "message",
            "UTF-8",
        ),
        Case("Latin-1 name", good.replace("Ann", "Ånn", 1).encode("latin-1"), "message", "UTF-8"),
        Case("tombstone", None, "message", "empty", ways=("kafka",)),
        Case(
            "unknown control message",
            b'{"control": "rewind", "tenant": "t"}',
            "control",
            "unknown control",
            ways=("kafka",),
        ),
        Case(
            "import_end without a total",
            b'{"control": "import_end", "tenant": "t", "import_id": "x"}',
            "total",
            "is required",
            ways=("kafka",),
        ),
    ]
    cases += shared_login_cases()
    return [_specialise(c) for c in cases]


# Shared logins (docs/migration.md): accounts that exist before the cases are sent, made by
# `prepare_shared_logins`: one linked to an identity of tenant t, one made by hand in the org.
SHARED_HOLDER = {
    "tenant": "t",
    "op": "upsert",
    "source": "efs-admin",
    "key": "holder-4711",
    "user": {
        "login": "shared.admin@example.com",
        "email": "shared.admin@example.com",
        "firstName": "Ann",
        "lastName": "Lee",
    },
}
HAND_MADE = {
    "login": "hand.made@example.com",
    "email": "hand.made@example.com",
    "firstName": "Hand",
    "lastName": "Made",
}


def shared_login_cases() -> list[Case]:
    def other(source: str, key: str, login: str) -> bytes:
        user = {"login": login, "email": login, "firstName": "Other", "lastName": "Person"}
        return json.dumps(
            {"tenant": "t", "op": "upsert", "source": source, "key": key, "user": user}
        ).encode()

    taken = r"login_taken.*already held by an IdP account"
    return [
        Case(
            "a panelist with the admin's e-mail",
            other("panelist", "sl-1", "shared.admin@example.com"),
            "login",
            taken,
        ),
        Case(
            "a login that differs only in case",
            other("efs-admin", "sl-2", "SHARED.Admin@Example.COM"),
            "login",
            taken,
        ),
        Case(
            "an account made by hand in the org",
            other("panelist", "sl-3", "Hand.Made@example.com"),
            "login",
            taken,
        ),
    ]


# An import names its tenant (the query of an upload, --tenant of a file import): a line without
# one belongs to it, a line naming another is refused for that. So on those two ways in:
_IMPORT_WAYS = ("ndjson", "file")
_MISMATCH = ("tenant", "this import is for tenant 't'")
_IN_AN_IMPORT: dict[str, tuple[str, str] | None] = {
    "unknown tenant": _MISMATCH,
    "tenant a number": _MISMATCH,
    "empty tenant": _MISMATCH,
    "tenant with a path": _MISMATCH,
    "empty object": ("op", "is required"),
    "no tenant": None,  # not an error there: the import's tenant applies
}


def _specialise(case: Case) -> Case:
    """Where a way in must answer differently, by design."""
    per_way: dict[str, tuple[str, str]] = {}
    ways = case.ways
    if case.name in _IN_AN_IMPORT:
        expected = _IN_AN_IMPORT[case.name]
        if expected is None:
            ways = tuple(w for w in ways if w not in _IMPORT_WAYS)
        else:
            per_way.update(dict.fromkeys(_IMPORT_WAYS, expected))
    if case.name == "unknown tenant":
        per_way["http"] = per_way["kafka"] = ("tenant", "'nope' is not configured")
    return Case(case.name, case.raw, case.field, case.reason, ways, per_way)


TRICKY_LOGINS = (
    "o'brien",
    "a/b",
    "star*",
    "{curly}",
    "pipe|line",
    "eq=sign",
    "what?",
    "back`tick",
    "plus+tag",
    "tilde~hash#",
    "100%",
    "and&amp",
    "caret^dollar$",
)


def valid(n: int, tenant: str = "t") -> dict[str, Any]:
    """A valid change whose login carries characters of Okta's search grammar and the shell."""
    local = f"{TRICKY_LOGINS[n % len(TRICKY_LOGINS)]}.{n}"
    login = f"{local}@example.com"
    return {
        "tenant": tenant,
        "op": "upsert",
        "source": "app",
        "key": f"ok-{n}",
        "version": 1,
        "user": {"login": login, "email": login, "firstName": "Ann", "lastName": f"O'Lee {n}"},
    }
