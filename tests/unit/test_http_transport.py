"""The aiohttp transport under the governor (adapters/http.py): what it sends, what it answers,
and which httpx error each network failure becomes, since the governed transport retries or
reports an unknown outcome by that class alone."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from idsync.adapters.http import AiohttpTransport


class Server:
    """A raw HTTP/1.1 server on 127.0.0.1: each path picks a behaviour; it records what it read."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.open_connections = 0
        self.most_connections = 0
        self.release = asyncio.Event()
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self.most_connections = max(self.most_connections, self.open_connections)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                path = head.split(b" ")[1]
                if path.startswith(b"/drop"):
                    return  # closes without an answer
                if path.startswith(b"/slow"):
                    await asyncio.sleep(5)
                if path.startswith(b"/hold"):
                    await self.release.wait()
                answer = b'{"ok": true}'
                big = b"Link: <https://x/?after=%s>\r\n" % (b"a" * 20000) if path.startswith(b"/big") else b""
                head = b"HTTP/1.1 201 Made\r\nContent-Type: application/json\r\nX-Rate: 1\r\nX-Rate: 2\r\n"
                writer.write(head + big + b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.open_connections -= 1
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    listener = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    srv.port = listener.sockets[0].getsockname()[1]
    yield srv
    srv.release.set()
    listener.close()


def client(
    port: int, *, max_connections: int = 10, timeout: httpx.Timeout | float = 2.0
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        transport=AiohttpTransport(max_connections=max_connections),
        timeout=timeout,
    )


async def test_answer_is_read_whole_with_repeated_headers_and_reason(server: Server) -> None:
    async with client(server.port) as c:
        r = await c.post("/api/v1/users/a%2Bb%40x.com", params={"search": 'login eq "a+b"'}, json={"x": 1})
    assert r.status_code == 201
    assert r.reason_phrase == "Made"
    assert r.headers.get_list("x-rate") == ["1", "2"]
    assert r.json() == {"ok": True}
    (sent,) = server.requests
    # The URL goes out exactly as httpx encoded it, and the body with its length.
    assert sent.startswith(b"POST /api/v1/users/a%2Bb%40x.com?search=login+eq+%22a%2Bb%22 HTTP/1.1\r\n")
    assert sent.endswith(b'\r\n\r\n{"x":1}')
    assert b"\r\ncontent-length: 7\r\n" in sent.lower()


async def test_refused_connect_is_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    async with client(port) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/")


async def test_dropped_connection_is_remote_protocol_error_and_never_resent(server: Server) -> None:
    async with client(server.port) as c:
        for method in ("DELETE", "GET", "POST"):
            with pytest.raises(httpx.RemoteProtocolError):
                await c.request(method, "/drop")
    # One request each: aiohttp does not send an idempotent method again by itself (an Okta
    # DELETE sent twice deletes the user the first one deactivated).
    assert [r.split(b" ")[0] for r in server.requests] == [b"DELETE", b"GET", b"POST"]


async def test_late_answer_is_read_timeout(server: Server) -> None:
    async with client(server.port, timeout=0.3) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.post("/slow", json={})


async def test_connections_are_limited_and_a_full_pool_times_out_unsent(server: Server) -> None:
    async with client(server.port, max_connections=2, timeout=httpx.Timeout(2.0, pool=0.3)) as c:
        held = [asyncio.create_task(c.get("/hold")) for _ in range(2)]
        while len(server.requests) < 2:
            await asyncio.sleep(0.01)
        with pytest.raises(httpx.ConnectTimeout):  # waited for a free connection: never sent
            await c.get("/more")
        server.release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [201, 201]
        assert (await c.get("/after")).status_code == 201
    assert server.most_connections == 2
    assert len(server.requests) == 3


async def test_a_long_header_line_is_read(server: Server) -> None:
    async with client(server.port) as c:
        r = await c.get("/big")
    assert r.status_code == 201
    assert len(r.headers["link"]) > 20000


async def test_a_peer_that_stops_reading_does_not_hold_the_call() -> None:
    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    listener = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with client(port, timeout=0.3) as c:
            with pytest.raises(httpx.TimeoutException):  # bounded by the phases' sum
                await asyncio.wait_for(c.post("/", content=b"x" * 50_000_000), 15)
    finally:
        listener.close()
