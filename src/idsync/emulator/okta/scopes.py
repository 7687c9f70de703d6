"""Which OAuth 2.0 scope each Management API operation needs, as Okta's OpenAPI spec declares it.

Why a generated table: the spec lists, per operation, `security: [{apiToken: []}, {oauth2:
[okta.users.read]}]`; reading that instead of a hand table keeps the emulator's scope checks
exactly Okta's. `scopes.json` holds every `/api/v1` operation of Okta's whole spec
(`python -m idsync.emulator.okta.scopes okta-management-2026.06.3.yaml`), so an endpoint added
to the emulator later is covered already; a test checks it against the spec subset the emulator
serves (tests/emulator/data). The package does not need PyYAML at run time.
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
        if not path.startswith("/api/v1/"):
            continue
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


def _resource(path: str) -> str:
    parts = path.split("/")  # ['', 'api', 'v1', resource, ...]
    return parts[3] if len(parts) > 3 else ""


class ScopeTable:
    def __init__(self, data: dict[str, Any]) -> None:
        self.known: frozenset[str] = frozenset(data["scopes"])
        self._entries: dict[tuple[str, str], list[_Entry]] = {}
        for key, scopes in data["operations"].items():
            method, shape = key.split(" ", 1)
            regex = "^" + re.escape(shape).replace(r"\{\}", "[^/]+") + "/?$"
            entry = _Entry(re.compile(regex), len(shape.replace("{}", "")), tuple(scopes))
            self._entries.setdefault((method, _resource(shape)), []).append(entry)
        for entries in self._entries.values():
            entries.sort(key=lambda e: -e.literal)  # the most specific template first

    def required(self, method: str, path: str) -> tuple[str, ...]:
        """The scopes `method path` needs (all of them); for an operation the spec does not list,
        Okta's naming rule: `okta.<resource>.read` for GET, `okta.<resource>.manage` otherwise."""
        resource = _resource(path)
        for entry in self._entries.get((method.upper(), resource), ()):
            if entry.pattern.match(path):
                return entry.scopes
        return (f"okta.{resource or 'api'}.{'read' if method.upper() in ('GET', 'HEAD') else 'manage'}",)


@functools.cache
def scope_table() -> ScopeTable:
    return ScopeTable(json.loads(SCOPES_FILE.read_text(encoding="utf-8")))


def main(spec_file: str) -> None:
    import yaml  # a development dependency: only regenerating the table needs it

    spec = yaml.load(Path(spec_file).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    table = table_from_spec(spec)
    lines = [f"  {json.dumps(op)}: {json.dumps(scopes)}" for op, scopes in table["operations"].items()]
    text = '{"operations": {\n' + ",\n".join(lines) + '\n},\n"scopes": ' + json.dumps(table["scopes"]) + "}\n"
    SCOPES_FILE.write_text(text, encoding="utf-8")
    print(f"{SCOPES_FILE}: {len(table['operations'])} operations, {len(table['scopes'])} scopes")


if __name__ == "__main__":
    main(sys.argv[1])
