"""Real SCIM servers for the tests: scim2-server processes (one per announced configuration),
each behind a fault-injecting proxy, started on first use and stopped by PID at the end.

Every test gets its own tenant of a server (`--dynamic-tenants`): an empty user store, with no
restart in between. Kept in one registry so that the conformance suite and the SCIM integration
tests share processes.
"""

from __future__ import annotations

import atexit
import threading
import uuid
from dataclasses import dataclass

from idsync.adapters.scim.server import ScimServerProcess

from .scim_proxy import FaultProxy

TOKEN = "scim-test-token"

# Announced configurations (ServiceProviderConfig overrides) by name.
CONFIGS: dict[str, dict[str, object]] = {
    "full": {},  # scim2-server's default: patch, bulk (1000 ops, 1 MiB), filter, sort, etag
    "basic": {"bulk": {"supported": False}, "patch": {"supported": False}},  # single requests, PUT
    "small-bulk": {"bulk": {"supported": True, "maxOperations": 3, "maxPayloadSize": 1048576}},
    "tiny-payload": {"bulk": {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1400}},
}


@dataclass
class RunningScim:
    process: ScimServerProcess
    proxy: FaultProxy

    def new_tenant(self) -> tuple[str, str]:
        """(tenant, base URL through the proxy) of a fresh, empty user store."""
        tenant = "t" + uuid.uuid4().hex[:12]
        return tenant, f"{self.proxy.root}/{tenant}/v2"


class ScimFarm:
    def __init__(self) -> None:
        self._running: dict[str, RunningScim] = {}
        self._lock = threading.Lock()
        self._starting: dict[str, threading.Lock] = {}

    def get(self, config: str) -> RunningScim:
        with self._lock:
            running = self._running.get(config)
            if running is None:
                process = ScimServerProcess(
                    token=TOKEN, dynamic_tenants=True, service_provider_config=CONFIGS[config]
                ).start()
                proxy = FaultProxy(process.root).start()
                running = self._running[config] = RunningScim(process, proxy)
            return running

    def prepare(self, *configs: str) -> None:
        """Start these servers side by side (each takes about a second to import and bind)."""
        threads = [threading.Thread(target=self.get, args=(c,)) for c in configs if c not in self._running]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def stop_all(self) -> None:
        with self._lock:
            for running in self._running.values():
                running.proxy.stop()
                running.process.stop()
            self._running.clear()


FARM = ScimFarm()
atexit.register(FARM.stop_all)  # a safety net; the session fixtures stop them first
