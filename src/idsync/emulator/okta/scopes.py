"""Which OAuth 2.0 scope each Management API operation needs, as Okta's OpenAPI spec declares it.

Why a generated table: the spec lists, per operation, `security: [{apiToken: []}, {oauth2:
[okta.users.read]}]`; reading that instead of a hand table keeps the emulator's scope checks
exactly Okta's. `scopes.json` is made from the spec subset the emulator serves
(`python -m idsync.emulator.okta.scopes tests/emulator/data/okta-management-subset.yaml`), and a
test checks that it still matches. The package does not need PyYAML at run time.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ScopeTable", "scope_table", "table_from_spec"]

SCOPES_FILE = Path(__file__).with_name("scopes.json")
_PARAM = re.compile(r"\{[^}]+\}")


def _shape(path: str) -> str:
    return _PARAM.sub("{}", path)


def table_from_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """`{"operations": {"GET /api/v1/users/{}": ["okta.users.read"], ...}, "scopes": [...]}`."""
    operations: dict[str, list[str]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "delete", "patch") or not isinstance(op, dict):
                continue
            for requirement in op.get("security") or spec.get("security") or []:
                if "oauth2" in requirement:
                    operations[f"{method.upper()} {_shape(path)}"] = sorted(requirement["oauth2"])
    flows = spec["components"]["securitySchemes"]["oauth2"]["flows"]
    scopes = sorted({s for flow in flows.values() for s in flow.get("scopes", {})})
    return {"operations": dict(sorted(operations.items())), "scopes": scopes}


@dataclass(frozen=True)
class _Entry:
    pattern: re.Pattern[str]
    literal: int  # characters outside parameters: the most specific template wins
    scopes: tuple[str, ...]


class ScopeTable:
    def __init__(self, data: dict[str, Any]) -> None:
        self.known: frozenset[str] = frozenset(data["scopes"])
        self._by_method: dict[str, list[_Entry]] = {}
        for key, scopes in data["operations"].items():
            method, shape = key.split(" ", 1)
            regex = "^" + re.escape(shape).replace(r"\{\}", "[^/]+") + "/?$"
            entry = _Entry(re.compile(regex), len(shape.replace("{}", "")), tuple(scopes))
            self._by_method.setdefault(method, []).append(entry)
        for entries in self._by_method.values():
            entries.sort(key=lambda e: -e.literal)

    def required(self, method: str, path: str) -> tuple[str, ...]:
        """The scopes `method path` needs (all of them); for an operation the spec does not list,
        Okta's naming rule: `okta.<resource>.read` for GET, `okta.<resource>.manage` otherwise."""
        for entry in self._by_method.get(method.upper(), ()):
            if entry.pattern.match(path):
                return entry.scopes
        parts = path.split("/")
        resource = parts[3] if len(parts) > 3 else "api"
        return (f"okta.{resource}.{'read' if method.upper() in ('GET', 'HEAD') else 'manage'}",)


@functools.cache
def scope_table() -> ScopeTable:
    return ScopeTable(json.loads(SCOPES_FILE.read_text(encoding="utf-8")))


def main(spec_file: str) -> None:
    import yaml  # a development dependency: only regenerating the table needs it

    spec = yaml.load(Path(spec_file).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    table = table_from_spec(spec)
    SCOPES_FILE.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"{SCOPES_FILE}: {len(table['operations'])} operations, {len(table['scopes'])} scopes")


if __name__ == "__main__":
    main(sys.argv[1])
