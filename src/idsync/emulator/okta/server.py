"""Running the emulator: in a background thread, in a subprocess, or in the foreground (CLI).

Dropped connections: uvicorn does not hand the TCP transport to the app, so the server uses a
subclass of its httptools protocol that puts a "close this connection" callable into each
request's ASGI scope (`extensions["idsync.drop_connection"]`); the pipeline calls it to end the
connection with no response at all, as a crashed proxy would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from idsync.emulator.okta.app import create_app
from idsync.emulator.okta.clock import Clock
from idsync.emulator.okta.emulator import Emulator
from idsync.emulator.okta.pipeline import DROP_EXTENSION
from idsync.emulator.okta.settings import EmulatorSettings

__all__ = ["EmulatorProcess", "EmulatorThread", "serve"]


class DroppingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a scope extension that closes the connection."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, Any] = {DROP_EXTENSION: self._drop_connection}
        self.scope["extensions"] = extensions

    def _drop_connection(self) -> None:
        self.transport.abort()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _config(app: Starlette, settings: EmulatorSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=settings.log_level,
        access_log=False,
        date_header=False,  # the pipeline sends its own Date, consistent with X-Rate-Limit-Reset
        server_header=False,
        http=DroppingHttpToolsProtocol,
        lifespan="on",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
    )


class _Server(uvicorn.Server):
    """uvicorn's server with a hook called once it listens, and a clean exit (code 0) on
    SIGINT/SIGTERM: uvicorn would re-raise the signal after its graceful shutdown."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_started = on_started

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C stops without waiting
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self._on_started is not None and not self.should_exit:
            self._on_started()


class EmulatorThread:
    """The emulator on 127.0.0.1 in a background thread of this process (tests, demo)."""

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        clock: Clock | None = None,
        extra_routes: Sequence[BaseRoute] = (),
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.app = create_app(self.settings, clock=clock, extra_routes=extra_routes)
        self._sock = _bind(self.settings.host, self.settings.port)
        self.port: int = self._sock.getsockname()[1]
        self._server = _Server(_config(self.app, self.settings))
        self._thread = threading.Thread(target=self._run, name=f"okta-emulator-{self.port}", daemon=True)
        self._startup_timeout_s = startup_timeout_s
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def token(self) -> str:
        return self.settings.token

    @property
    def emulator(self) -> Emulator:
        emu: Emulator = self.app.state.emulator
        return emu

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # SystemExit from a failed startup included
            self._error = exc

    def start(self) -> EmulatorThread:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"Okta emulator did not start: {self._error!r}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class EmulatorProcess:
    """The emulator as a separate process (`python -m idsync.emulator.okta`), stopped by PID."""

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        log_path: str | Path | None = None,
        startup_timeout_s: float = 30.0,
        python: str = sys.executable,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout_s = startup_timeout_s
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._tmp: str | None = None

    @property
    def token(self) -> str:
        return self.settings.token

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("not started")
        return self.proc.pid

    def start(self) -> EmulatorProcess:
        self._tmp = tempfile.mkdtemp(prefix="idsync-okta-emulator-")
        config, ready = Path(self._tmp, "settings.json"), Path(self._tmp, "ready.json")
        config.write_text(self.settings.to_json(), encoding="utf-8")
        log = self.log_path or Path(self._tmp, "emulator.log")
        cmd = [self.python, "-m", "idsync.emulator.okta", "--config", str(config), "--ready-file", str(ready)]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout_s
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"Okta emulator process did not start:\n{tail}")
            time.sleep(0.02)
        info: dict[str, Any] = json.loads(ready.read_text(encoding="utf-8"))
        self.url = str(info["url"])
        httpx.get(f"{self.url}/__emulator/health", timeout=5).raise_for_status()
        return self

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM (clean stop), SIGKILL if it does not end in time; the exit code."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        elif self.proc is not None:
            code = self.proc.returncode
        if self._tmp and not self.log_path:
            shutil.rmtree(self._tmp, ignore_errors=True)
        return code

    def kill(self) -> None:
        """SIGKILL, as in a crash (state written so far must survive: see --state-file)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    settings: EmulatorSettings,
    *,
    ready_file: str | None = None,
    announce: Callable[[str, str], None] | None = None,
) -> None:
    """Run in the foreground until SIGINT/SIGTERM (uvicorn's handlers stop it cleanly)."""
    sock = _bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    url = f"http://{settings.host}:{port}"
    app = create_app(settings)

    def started() -> None:
        if announce is not None:
            announce(url, settings.token)
        if ready_file:
            tmp = f"{ready_file}.tmp"
            Path(tmp).write_text(json.dumps({"url": url, "token": settings.token, "pid": os.getpid()}))
            os.replace(tmp, ready_file)

    _Server(_config(app, settings), on_started=started).run(sockets=[sock])
