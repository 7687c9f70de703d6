"""The demo: a whole migration on the embedded default, offline, in under a minute.

It starts the Okta emulator in its own process (with a time scale, so a rate-limit minute lasts
0.6 s), writes sample users (admins and panelists; some on a domain routed to an external IdP; a
few invalid), runs phase 1 (sync without activation), the same import again (nothing changed:
no API call), phase 2 (activation), and prints what happened.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIRST = [
    "Ann",
    "Ben",
    "Chloé",
    "David",
    "Eva",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Lars",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sven",
    "Tara",
    "Umut",
    "Vera",
    "Wim",
    "Yara",
    "Zoë",
]
LAST = [
    "Lee",
    "Müller",
    "Schmidt",
    "Nguyen",
    "O'Brien",
    "Rossi",
    "Kowalski",
    "Novak",
    "Jansen",
    "García",
    "Dubois",
    "Silva",
    "Andersson",
    "Yilmaz",
    "Popescu",
    "Horvat",
]
TENANT = "efs-demo"
EXTERNAL_DOMAIN = "bigcorp.example"


@dataclass(frozen=True)
class SampleFiles:
    admins: Path
    panelists: Path
    admins_count: int
    panelists_count: int
    external: int
    invalid: int


def _user(rng: random.Random, source: str, key: int, external: bool) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}.{key}".lower().replace("'", "").replace("é", "e").replace("ü", "ue")
    local = local.replace("ë", "e").replace("í", "i")
    domain = EXTERNAL_DOMAIN if external else rng.choice(["example.com", "example.org", "panel.example.net"])
    email = f"{local}@{domain}"
    return {
        "tenant": TENANT,
        "op": "upsert",
        "source": source,
        "key": str(key),
        "version": 1,
        "user": {"login": email, "email": email, "firstName": first, "lastName": last},
    }


def _invalid_lines(source: str) -> Iterator[str]:
    """One of each kind of bad input a support engineer meets; each must fail with a clear reason."""
    base = {"tenant": TENANT, "op": "upsert", "source": source}
    good = {"login": "x@example.com", "email": "x@example.com", "firstName": "X", "lastName": "Y"}
    yield json.dumps({**base, "key": "bad-1", "user": {**good, "email": "not-an-email"}})
    yield json.dumps({**base, "key": "bad-2", "user": {k: v for k, v in good.items() if k != "lastName"}})
    yield json.dumps({**base, "key": "bad-3", "user": {**good, "firstName": "Eve\u202e"}})
    yield json.dumps({**base, "key": "bad-4", "user": {**good, "lastName": "L" * 80}})
    yield json.dumps({**base, "key": "bad-5", "op": "purge", "user": good})
    yield '{"tenant": "' + TENANT + '", "op": "upsert", "source": "' + source + '", "key": "bad-6", '


def write_samples(directory: Path, *, total: int = 5000, seed: int = 42) -> SampleFiles:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    admins_n = max(total // 20, 1)
    panelists_n = total - admins_n
    external = 0
    invalid = 0
    files = {}
    for source, count, name in (
        ("efs-admin", admins_n, "admins.jsonl"),
        ("efs-panelist", panelists_n, "panelists.jsonl"),
    ):
        path = directory / name
        with path.open("w", encoding="utf-8") as fh:
            bad = list(_invalid_lines(source))
            every = max(count // len(bad), 1)
            for key in range(1, count + 1):
                is_external = rng.random() < 0.06
                external += is_external
                fh.write(json.dumps(_user(rng, source, key, is_external), ensure_ascii=False) + "\n")
                if key % every == 0 and bad:
                    fh.write(bad.pop(0) + "\n")
                    invalid += 1
        files[source] = path
    return SampleFiles(files["efs-admin"], files["efs-panelist"], admins_n, panelists_n, external, invalid)


def demo_config(store_url: str, idp: dict[str, Any], *, mode: str = "sync") -> dict[str, Any]:
    return {
        "store": {"url": store_url},
        "idps": {"okta": idp},
        "tenants": {
            TENANT: {
                "idp": "okta",
                "mode": mode,
                "external_idps": [
                    {
                        "name": "bigcorp-adfs",
                        "domains": [EXTERNAL_DOMAIN],
                        "login_url": "https://adfs.bigcorp.example/adfs/ls/",
                    }
                ],
            }
        },
    }
