"""Replay okta-sdk-python's recorded exchanges (vcrpy cassettes) against the emulator.

Recorded ids are mapped to the ids the emulator generates, in URLs and bodies. The 2020
cassettes kept no request bodies: those are rebuilt from the recorded response (the object
the request created), which is what the SDK test sent. Each step is compared by status, by
error code and summary, by *shape* (the same fields with the same JSON types, values aside;
null matches any type) and by its rate-limit *counter*:

- from the recorded `X-Rate-Limit-Limit/-Remaining/-Reset` triples, two calls whose window is
  still open shared a counter if they show the same limit and reset and Remaining went down,
  and used different counters otherwise (FACTS §4);
- the emulator runs with a distinct limit per bucket, so its `X-Rate-Limit-Limit` names the
  counter a call was charged to; calls that shared a recorded counter must share one here, calls
  that did not must not, and within a counter Remaining must go down by one per call.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

RECORDINGS = Path(__file__).parent / "data" / "recordings"
_HOST = re.compile(r"^https://[^/]+")
_ID = re.compile(r"\b(00u|00g|0oa|oag|who)[A-Za-z0-9]{17}\b")
PASSWORD = "Replay-Passw0rd-150kta"
RATE_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")


@dataclass(frozen=True)
class Rate:
    limit: int
    remaining: int
    reset: float


@dataclass
class Step:
    index: int
    method: str
    path: str
    template: str
    recorded_status: int
    status: int
    recorded_rate: Rate | None = None
    served_rate: Rate | None = None
    date: float = 0.0
    """When Okta answered (the recorded `Date`), epoch seconds."""
    differences: list[str] = field(default_factory=list)


def load(name: str) -> list[dict[str, Any]]:
    data = yaml.load((RECORDINGS / f"{name}.yaml").read_text(), Loader=yaml.CSafeLoader)
    return list(data["interactions"])


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None


def org_year(name: str) -> int:
    """The year the cassette was recorded (its first `Date`): 2020, 2022 or 2025."""
    for interaction in load(name):
        date = _header(interaction["response"]["headers"], "date")
        if date:
            return parsedate_to_datetime(date).year
    raise ValueError(f"{name}: no Date header")


def layout_of(name: str) -> str:
    """The emulator's `rate_limit_layout` matching the org the cassette was recorded in."""
    return "2025" if org_year(name) >= 2025 else "2020"


def template(path: str) -> str:
    path = re.sub(r"/{2,}", "/", path.split("?", 1)[0])
    path = re.sub(r"/(00u|00g|0oa|oag|who)[A-Za-z0-9]{17}", "/{id}", path)
    return re.sub(r"/users/[^/{]+@[^/]+", "/users/{login}", path)


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def shape_differences(recorded: Any, ours: Any, path: str = "") -> list[str]:
    if recorded is None or ours is None:
        return []
    if isinstance(recorded, dict):
        if not isinstance(ours, dict):
            return [f"{path or '.'}: object recorded, {type(ours).__name__} served"]
        found = [f"{path}.{k}: missing" for k in sorted(recorded.keys() - ours.keys())]
        found += [f"{path}.{k}: not in recording" for k in sorted(ours.keys() - recorded.keys())]
        for key in sorted(recorded.keys() & ours.keys()):
            found += shape_differences(recorded[key], ours[key], f"{path}.{key}")
        return found
    if isinstance(recorded, list):
        if not isinstance(ours, list):
            return [f"{path or '.'}: array recorded, {type(ours).__name__} served"]
        if recorded and not ours:
            return [f"{path}[]: recorded items, none served"]
        return shape_differences(recorded[0], ours[0], f"{path}[]") if recorded and ours else []
    kinds = (bool, (int, float), str)
    for kind in kinds:
        if isinstance(recorded, kind):
            ok = isinstance(ours, kind) and not (kind is not bool and isinstance(ours, bool))
            return [] if ok else [f"{path}: {type(recorded).__name__} recorded, {type(ours).__name__} served"]
    return []


def _strip(node: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in names}


def rebuild_body(method: str, tmpl: str, recorded_response: Any) -> Any:
    """The request body of a 2020 interaction, from the object its response shows."""
    r = recorded_response if isinstance(recorded_response, dict) else {}
    profile = {k: v for k, v in (r.get("profile") or {}).items() if v is not None}
    if tmpl in ("/api/v1/users", "/api/v1/users/{id}") and method in ("POST", "PUT"):
        body: dict[str, Any] = {"profile": profile}
        if method == "POST" and tmpl == "/api/v1/users" and "password" in (r.get("credentials") or {}):
            body["credentials"] = {"password": {"value": PASSWORD}}
        return body
    if tmpl.startswith("/api/v1/groups") and tmpl.count("/") <= 4 and method in ("POST", "PUT"):
        return {"profile": profile}
    if tmpl in ("/api/v1/apps", "/api/v1/apps/{id}") and method in ("POST", "PUT"):
        body = copy.deepcopy(
            _strip(r, "id", "status", "created", "lastUpdated", "_links", "_embedded", "orn")
        )
        body.get("credentials", {}).get("oauthClient", {}).pop("client_secret", None)
        return body
    if tmpl == "/api/v1/apps/{id}/users" and method == "POST":
        return {"id": r.get("id"), "scope": r.get("scope", "USER"), "credentials": r.get("credentials")}
    if tmpl == "/api/v1/apps/{id}/users/{id}" and method == "POST":
        return {"credentials": r.get("credentials"), "profile": r.get("profile") or {}}
    if tmpl == "/api/v1/apps/{id}/groups/{id}" and method == "PUT":
        return {"priority": r.get("priority", 0), "profile": r.get("profile") or {}}
    if tmpl in ("/api/v1/eventHooks", "/api/v1/eventHooks/{id}") and method in ("POST", "PUT"):
        body = copy.deepcopy(
            _strip(r, "id", "status", "verificationStatus", "created", "createdBy", "lastUpdated", "_links")
        )
        config = body.get("channel", {}).get("config", {})
        config.pop("method", None)
        if isinstance(config.get("authScheme"), dict):
            config["authScheme"]["value"] = "replayed-secret"
        return body
    if tmpl == "/api/v1/apps/{id}/grants" and method == "POST":
        return {"issuer": r.get("issuer"), "scopeId": r.get("scopeId")}
    if tmpl.endswith("/credentials/change_password"):
        return {"oldPassword": {"value": PASSWORD}, "newPassword": {"value": PASSWORD + "2"}}
    if tmpl.endswith("/credentials/change_recovery_question"):
        question = (r.get("recovery_question") or {}).get("question", "Favourite colour?")
        return {
            "password": {"value": PASSWORD},
            "recovery_question": {"question": question, "answer": "blue-ish"},
        }
    return None


def field_paths(body: Any, prefix: str = "") -> set[str]:
    """Every field of a JSON body, spelled as `shape_differences` does (`.a.b`, `.a[].c`)."""
    found: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            found.add(f"{prefix}.{key}")
            found |= field_paths(value, f"{prefix}.{key}")
    elif isinstance(body, list) and body:
        found |= field_paths(body[0], f"{prefix}[]")
    return found


def kind_of(body: Any) -> str:
    """The kind of object an answer holds, by its id's prefix (`00u` user, `0oa` app, …)."""
    first = body[0] if isinstance(body, list) and body else body
    ident = first.get("id") if isinstance(first, dict) else None
    return ident[:3] if isinstance(ident, str) else ""


def fields_of_2025() -> set[tuple[str, str]]:
    """(kind, field) of every object the 2025 org answered with, in lists and alone."""
    found: set[tuple[str, str]] = set()
    for path in sorted(RECORDINGS.glob("*.yaml")):
        if org_year(path.stem) < 2025:
            continue
        for interaction in load(path.stem):
            body = _json(interaction["response"]["body"]["string"])
            found |= {(kind_of(body), f.removeprefix("[]")) for f in field_paths(body)}
    return found


def _rate(headers: dict[str, Any] | httpx.Headers) -> Rate | None:
    values = [
        headers.get(n) if isinstance(headers, httpx.Headers) else _header(headers, n) for n in RATE_HEADERS
    ]
    if any(v is None for v in values):
        return None
    return Rate(int(str(values[0])), int(str(values[1])), float(str(values[2])))


def counter_differences(steps: list[Step]) -> None:
    """Compare which calls shared a counter when recorded and when served (see the module doc)."""
    for j, later in enumerate(steps):
        rec_j, ours_j = later.recorded_rate, later.served_rate
        if rec_j is None or ours_j is None:
            continue
        for earlier in steps[:j]:
            rec_i, ours_i = earlier.recorded_rate, earlier.served_rate
            if rec_i is None or ours_i is None or later.date >= rec_i.reset:
                continue  # the earlier window had closed: the recording says nothing about sharing
            same_window = (rec_i.limit, rec_i.reset) == (rec_j.limit, rec_j.reset)
            shared = same_window and rec_j.remaining < rec_i.remaining
            served_shared = ours_i.limit == ours_j.limit
            if shared and not served_shared:
                later.differences.append(f"counter: shared with #{earlier.index} when recorded, not served")
            elif served_shared and not shared:
                later.differences.append(f"counter: apart from #{earlier.index} when recorded, shared served")
    last: dict[int, Step] = {}
    for step in steps:
        ours = step.served_rate
        if ours is None:
            continue
        before = last.get(ours.limit)
        if before is not None and before.served_rate is not None:
            expected = before.served_rate.remaining - 1
            if ours.remaining != expected:
                step.differences.append(f"counter: Remaining {ours.remaining} served, {expected} expected")
        last[ours.limit] = step


class Replayer:
    def __init__(
        self,
        client: httpx.Client,
        ids: dict[str, str] | None = None,
        newer_fields: set[tuple[str, str]] | None = None,
    ) -> None:
        self.client = client
        self.newer_fields = newer_fields or set()
        """Fields a 2025 answer has for the same kind of object: not a difference when an older
        recording lacks them (Okta added them since; the emulator follows the newer org)."""
        self.ids: dict[str, str] = dict(ids or {})
        """Recorded id -> the emulator's id (seeded with objects a setup step created)."""
        self.next_cursor: str | None = None
        """The `after` cursor of our last `rel="next"` link: a client follows links, not recorded cursors."""

    def _map(self, text: str) -> str:
        for recorded, ours in self.ids.items():
            if not _ID.fullmatch(recorded):
                text = text.replace(recorded, ours)
        return _ID.sub(lambda m: self.ids.get(m.group(0), m.group(0)), text)

    @staticmethod
    def interactions(name: str) -> list[dict[str, Any]]:
        return load(name)

    def run(self, name: str) -> list[Step]:
        steps = []
        for index, interaction in enumerate(load(name)):
            steps.append(self._step(index, interaction))
        counter_differences(steps)
        return steps

    def _step(self, index: int, interaction: dict[str, Any]) -> Step:
        request, response = interaction["request"], interaction["response"]
        if _header(response["headers"], "x-okta-request-id") is None:
            # Not an answer of Okta (e.g. another host's web server): nothing to compare it with.
            server = _header(response["headers"], "server")
            step = Step(index, request["method"], request["uri"], "", response["status"]["code"], 0)
            step.differences.append(f"not an Okta answer (server {server}): not replayed")
            return step
        path = self._map(_HOST.sub("", request["uri"]))
        if self.next_cursor is not None:
            path = re.sub(r"after=[^&]+", f"after={self.next_cursor}", path)
        method = request["method"]
        recorded_body = _json(response["body"]["string"])
        tmpl = template(_HOST.sub("", request["uri"]))
        body = _json(request.get("body"))
        if body is None:
            body = rebuild_body(method, tmpl, recorded_body)
        if body is not None:
            # The recording org's own URL (a grant's `issuer`) becomes the emulator's.
            org = _HOST.match(request["uri"])
            text = self._map(json.dumps(body))
            if org is not None:
                text = text.replace(
                    json.dumps(org.group(0)), json.dumps(str(self.client.base_url).rstrip("/"))
                )
            body = json.loads(text)
        # An absolute URL: httpx would read a recorded `//api/v1/…` path as a host name.
        served = self.client.request(method, str(self.client.base_url).rstrip("/") + path, json=body)
        nexts = [link for link in served.headers.get_list("link") if link.endswith('rel="next"')]
        cursor = re.search(r"[?&]after=([^&>]+)", nexts[0]) if nexts else None
        self.next_cursor = cursor.group(1) if cursor else None
        ours = _json(served.text)
        date = _header(response["headers"], "date")
        step = Step(
            index,
            method,
            path,
            tmpl,
            response["status"]["code"],
            served.status_code,
            recorded_rate=_rate(response["headers"]),
            served_rate=_rate(served.headers),
            date=parsedate_to_datetime(date).timestamp() if date else 0.0,
        )
        if step.recorded_status != step.status:
            step.differences.append(f"status: {step.recorded_status} recorded, {step.status} served")
        if isinstance(recorded_body, dict) and "errorCode" in recorded_body and isinstance(ours, dict):
            for key in ("errorCode", "errorSummary"):
                want = self._map(str(recorded_body.get(key)))
                if want != ours.get(key):
                    step.differences.append(f"{key}: {want!r} recorded, {ours.get(key)!r} served")
        elif step.recorded_status == step.status:
            kind = kind_of(ours)
            step.differences += [
                d
                for d in shape_differences(recorded_body, ours)
                if not (
                    d.endswith(": not in recording")
                    and (kind, d.removesuffix(": not in recording").removeprefix("[]")) in self.newer_fields
                )
            ]
        for header in ("x-okta-request-id", *RATE_HEADERS):
            if header not in served.headers:
                step.differences.append(f"header {header} missing")
        if isinstance(recorded_body, dict) and isinstance(ours, dict):
            rid, oid = recorded_body.get("id"), ours.get("id")
            if isinstance(rid, str) and isinstance(oid, str) and _ID.fullmatch(rid) and rid not in self.ids:
                self.ids[rid] = oid
        return step
