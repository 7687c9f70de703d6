"""The SDK client and the users both peers create (the same as bench.common.write_users)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PeerResult:
    wall_s: float
    created: int
    errors: int


def client(url: str, token: str, *, max_retries: int = 10) -> Any:
    """The SDK's client for a plain-HTTP org (FACTS §9: only the environment variable works),
    retrying a 429 after `X-Rate-Limit-Reset - Date + 1` seconds, `max_retries` times."""
    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
    from okta.client import Client

    return Client({"orgUrl": url, "token": token, "rateLimit": {"maxRetries": max_retries}})


def body(i: int, prefix: str = "user") -> Any:
    from okta.models import CreateUserRequest

    login = f"{prefix}{i}@example.com"
    return CreateUserRequest.from_dict(
        {"profile": {"login": login, "email": login, "firstName": "Ann", "lastName": "Lee"}}
    )


def main(run: Callable[[str, str, int], Coroutine[Any, Any, PeerResult]], doc: str | None) -> None:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--url", required=True, help="the org, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", required=True, help="an API token of the org")
    parser.add_argument("--users", type=int, default=600)
    args = parser.parse_args()
    started = time.monotonic()
    result = asyncio.run(run(args.url, args.token, args.users))
    print(f"{result} in {time.monotonic() - started:.1f} s")
