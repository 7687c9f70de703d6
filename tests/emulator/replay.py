"""Replay okta-sdk-python's recorded exchanges (vcrpy cassettes) against the emulator.

Recorded ids are mapped to the ids the emulator generates, in URLs and bodies. The 2020
cassettes kept no request bodies: those are rebuilt from the recorded response (the object
the request created), which is what the SDK test sent. Responses are compared by status,
by error code and summary, and by *shape*: the same fields with the same JSON types, values
aside (ids, dates, tokens and links differ by nature); null matches any type.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

RECORDINGS = Path(__file__).parent / "data" / "recordings"
_HOST = re.compile(r"^https://[^/]+")
_ID = re.compile(r"\b(00u|00g|0oa|who)[A-Za-z0-9]{17}\b")
PASSWORD = "Replay-Passw0rd-150kta"


@dataclass
class Step:
    index: int
    method: str
    path: str
    template: str
    recorded_status: int
    status: int
    differences: list[str] = field(default_factory=list)


def load(name: str) -> list[dict[str, Any]]:
    data = yaml.load((RECORDINGS / f"{name}.yaml").read_text(), Loader=yaml.CSafeLoader)
    return list(data["interactions"])


def template(path: str) -> str:
    path = path.split("?", 1)[0]
    path = re.sub(r"/(00u|00g|0oa|who)[A-Za-z0-9]{17}", "/{id}", path)
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
        found = [f"{path}.{k}: missing" for k in recorded.keys() - ours.keys()]
        found += [f"{path}.{k}: not in recording" for k in ours.keys() - recorded.keys()]
        for key in recorded.keys() & ours.keys():
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
    if tmpl.endswith("/credentials/change_password"):
        return {"oldPassword": {"value": PASSWORD}, "newPassword": {"value": PASSWORD + "2"}}
    if tmpl.endswith("/credentials/change_recovery_question"):
        question = (r.get("recovery_question") or {}).get("question", "Favourite colour?")
        return {
            "password": {"value": PASSWORD},
            "recovery_question": {"question": question, "answer": "blue-ish"},
        }
    return None


class Replayer:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.ids: dict[str, str] = {}
        self.next_cursor: str | None = None
        """The `after` cursor of our last `rel="next"` link: a client follows links, not recorded cursors."""

    def _map(self, text: str) -> str:
        return _ID.sub(lambda m: self.ids.get(m.group(0), m.group(0)), text)

    def run(self, name: str) -> list[Step]:
        steps = []
        for index, interaction in enumerate(load(name)):
            request, response = interaction["request"], interaction["response"]
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
                body = json.loads(self._map(json.dumps(body)))
            served = self.client.request(method, path, json=body)
            nexts = [link for link in served.headers.get_list("link") if link.endswith('rel="next"')]
            cursor = re.search(r"[?&]after=([^&>]+)", nexts[0]) if nexts else None
            self.next_cursor = cursor.group(1) if cursor else None
            ours = _json(served.text)
            step = Step(index, method, path, tmpl, response["status"]["code"], served.status_code)
            if step.recorded_status != step.status:
                step.differences.append(f"status: {step.recorded_status} recorded, {step.status} served")
            if isinstance(recorded_body, dict) and "errorCode" in recorded_body and isinstance(ours, dict):
                for key in ("errorCode", "errorSummary"):
                    want = self._map(str(recorded_body.get(key)))
                    if want != ours.get(key):
                        step.differences.append(f"{key}: {want!r} recorded, {ours.get(key)!r} served")
            elif step.recorded_status == step.status:
                step.differences += shape_differences(recorded_body, ours)
            for header in (
                "x-okta-request-id",
                "x-rate-limit-limit",
                "x-rate-limit-remaining",
                "x-rate-limit-reset",
            ):
                if header not in served.headers:
                    step.differences.append(f"header {header} missing")
            if isinstance(recorded_body, dict) and isinstance(ours, dict):
                rid, oid = recorded_body.get("id"), ours.get("id")
                if (
                    isinstance(rid, str)
                    and isinstance(oid, str)
                    and _ID.fullmatch(rid)
                    and rid not in self.ids
                ):
                    self.ids[rid] = oid
            steps.append(step)
        return steps
