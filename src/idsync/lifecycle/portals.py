"""Portal instances as OpenID Connect clients: what a portal is, how its app is named, the CSV.

Pure: validation and parsing only; registering at the IdP is `registry.py`.

**The matching rule.** A portal's app at the IdP is found by its label, `idsync/<tenant>/<portal>`,
which is unique per tenant and portal, stable across runs, and readable in the Okta admin
console. Okta does not enforce unique labels, so idsync never creates an app while one with that
label exists (it adopts it), and never renames one. Changing a portal's name therefore means a
new app; the old one stays until an admin removes it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from idsync.domain.models import describe_validation_error
from idsync.domain.text import SAFE_TEXT_PATTERN

__all__ = ["PortalRow", "PortalSpec", "parse_portals_csv", "portal_label"]

LABEL_PREFIX = "idsync"
MAX_REDIRECT_URIS = 50
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def portal_label(tenant: str, name: str) -> str:
    """The label that identifies a portal's app at the IdP (see the module docstring)."""
    return f"{LABEL_PREFIX}/{tenant}/{name}"


def _url(value: str, *, what: str) -> str:
    if any(c.isspace() for c in value) or len(value) > 1024:
        raise ValueError(f"{what} must be one URL without spaces, at most 1024 characters")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute https:// URL")
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        raise ValueError(f"{what} must use https (http only for localhost)")
    if parts.fragment:
        raise ValueError(f"{what} must not have a #fragment (OAuth 2.0, RFC 6749 3.1.2)")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry a user name or password")
    return value


def _portal_name(value: str) -> str:
    if value != value.strip():
        raise ValueError("must not start or end with a space")
    return value


# A display name as people write it ("Acme Panel"): spaces allowed, control and bidirectional
# characters not (they would hide in the Okta admin console's label).
PortalName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=SAFE_TEXT_PATTERN), AfterValidator(_portal_name)
]


def _base_url(value: str) -> str:
    return _url(value, what="base URL").rstrip("/")


def _redirect_uri(value: str) -> str:
    return _url(value, what="redirect URI")


class PortalSpec(BaseModel):
    """One portal instance of a tenant, as the application describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: PortalName
    base_url: Annotated[str, AfterValidator(_base_url)]
    redirect_uris: Annotated[
        list[Annotated[str, AfterValidator(_redirect_uri)]], Field(min_length=1, max_length=MAX_REDIRECT_URIS)
    ]

    def label(self, tenant: str) -> str:
        return portal_label(tenant, self.name)


@dataclass(frozen=True)
class PortalRow:
    """A CSV row: the portal, or why it is not one."""

    line: int
    spec: PortalSpec | None
    error: str | None = None
    name: str = ""


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


_ALIASES = {"base_url": "base_url", "url": "base_url", "redirect_uris": "redirect_uris",
            "redirect_uri": "redirect_uris", "name": "name", "portal": "name"}  # fmt: skip


def split_uris(cell: str) -> list[str]:
    """Several redirect URIs in one cell, separated by spaces, `|` or `;`."""
    return [u for u in cell.replace("|", " ").replace(";", " ").split() if u]


def parse_portals_csv(text: str | Iterable[str]) -> list[PortalRow]:
    """Rows of `name,base_url,redirect_uris` (header names case-insensitive; "base URL" works)."""
    lines = io.StringIO(text) if isinstance(text, str) else text
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return []
    columns = [_ALIASES.get(_column(h), _column(h)) for h in header]
    missing = {"name", "base_url", "redirect_uris"} - set(columns)
    if missing:
        raise ValueError(f"portals CSV: the header lacks {', '.join(sorted(missing))}")
    rows: list[PortalRow] = []
    seen: set[str] = set()
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(columns):
            rows.append(PortalRow(number, None, f"has {len(cells)} cells, the header has {len(columns)}"))
            continue
        data = {c: v.strip() for c, v in zip(columns, cells, strict=False)}
        name = data.get("name", "")
        try:
            spec = PortalSpec(
                name=name,
                base_url=data.get("base_url", ""),
                redirect_uris=split_uris(data.get("redirect_uris", "")),
            )
        except ValidationError as exc:
            reasons = "; ".join(f"{e.field}: {e.reason}" for e in describe_validation_error(exc))
            rows.append(PortalRow(number, None, reasons, name))
            continue
        if spec.name in seen:
            rows.append(PortalRow(number, None, f"portal {spec.name!r} is listed twice", name))
            continue
        seen.add(spec.name)
        rows.append(PortalRow(number, spec, None, name))
    return rows
