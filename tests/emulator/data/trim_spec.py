"""Regenerate `okta-management-subset.yaml`: the operations the emulator serves, from Okta's spec.

Source: okta/okta-management-openapi-spec, dist/current/management-minimal.yaml, 2026.06.3
(Apache-2.0), the full copy in /work/shared/okta/openapi/.
Usage: python tests/emulator/data/trim_spec.py SOURCE.yaml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from idsync.emulator.okta.emulator import Emulator
from idsync.emulator.okta.settings import EmulatorSettings

HERE = Path(__file__).parent


def _shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template)


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def main(source: str) -> None:
    spec = yaml.load(Path(source).read_text(), Loader=yaml.CSafeLoader)
    routes = Emulator(EmulatorSettings()).router.routes
    served = {(r.method.lower(), _shape(r.template)) for r in routes}
    # Templated emulator routes such as .../lifecycle/{op} cover several concrete spec paths.
    patterns = [(m, re.compile("^" + re.escape(s).replace(r"\{\}", "[^/]+") + "$")) for m, s in served]
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        kept = {
            method: op
            for method, op in item.items()
            if method in ("get", "post", "put", "delete")
            and any(m == method and p.match(_shape(path)) for m, p in patterns)
        }
        if kept:
            if "parameters" in item:
                kept["parameters"] = item["parameters"]
            paths[path] = kept
    components: dict[str, Any] = {}
    pending: set[str] = set()
    _refs(paths, pending)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        more: set[str] = set()
        _refs(node, more)
        pending |= more - done
    components["securitySchemes"] = spec["components"]["securitySchemes"]
    subset = {
        "openapi": spec["openapi"],
        "info": {**spec["info"], "title": spec["info"]["title"] + " (subset served by the idsync emulator)"},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }
    out = HERE / "okta-management-subset.yaml"
    out.write_text(yaml.safe_dump(subset, sort_keys=False, allow_unicode=True, width=120))
    print(f"{out}: {len(paths)} paths, {sum(len(v) for v in components.values())} components")


if __name__ == "__main__":
    main(sys.argv[1])
