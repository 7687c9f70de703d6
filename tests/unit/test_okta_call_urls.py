"""The Okta connector builds each call's whole URL itself (a cached parse, adapters/okta/
connector.py): it must be the URL the client's base_url merge would have sent, byte for byte."""

from __future__ import annotations

import httpx
import pytest

from idsync.adapters.okta import OktaConnector
from idsync.clock import SystemClock
from idsync.config import GovernorSettings
from idsync.engine.governor import Governor

BASE = "https://org.example.com/"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/users", {"activate": "true"}),
        ("/api/v1/users/a%2Bb%40x.com", None),
        ("/api/v1/users", {"search": 'profile.login eq "a+b c@x.com"'}),
        ("/api/v1/users", {"limit": "100", "filter": 'status eq "ACTIVE" or status eq "STAGED"'}),
        ("/api/v1/users?after=abc", {"limit": "2"}),  # a query in the path: merged as httpx merges
        ("https://org.example.com/api/v1/users?after=00u1&limit=2", None),  # a `next` link
    ],
)
async def test_call_url_is_the_base_url_merge(path: str, params: dict[str, str] | None) -> None:
    sent: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url)
        return httpx.Response(200, json=[])

    gov = Governor("okta", GovernorSettings(), SystemClock())
    okta = OktaConnector("okta", BASE, "token", gov, transport=httpx.MockTransport(answer))
    try:
        for _ in range(2):  # the second from the cache
            await okta.send("GET", path, params=params)
    finally:
        await okta.aclose()
    async with httpx.AsyncClient(base_url=BASE.rstrip("/")) as client:  # what the connector used to send
        expected = client.build_request("GET", path, params=params).url
    assert [str(u) for u in sent] == [str(expected)] * 2
    assert [u.raw_path for u in sent] == [expected.raw_path] * 2
