"""The crash harness: an import through `idsync serve`, SIGKILLed at random moments and restarted.

`Workload` is the import: N users (version 1), an update (version 2, another first name) for one
user in twenty, and one invalid message in two hundred. `KillPlan` draws the kill moments from a
seeded RNG: during the upload (file run), during recovery right after a restart, and at random
points of the import's progress (plus a random delay). `Harness` runs the plan against one
`ServeProcess`; `Verdict` checks the end state against the emulator and the store.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.reliability.support import AUTH, ServeProcess, eventually, user_message


@dataclass(frozen=True)
class Workload:
    users: int
    seed: int
    import_id: str
    with_import_id: bool = False  # Kafka: every message names its import

    def messages(self) -> list[dict[str, Any] | bytes]:
        """The import in order: an update comes somewhere after its user's first version."""
        rng = random.Random(self.seed)
        iid = self.import_id if self.with_import_id else None
        placed: list[tuple[float, int, dict[str, Any] | bytes]] = [
            (float(i), n, user_message(i, import_id=iid)) for n, i in enumerate(range(self.users))
        ]
        for i in sorted(self.updated()):
            at = rng.uniform(i + 0.5, self.users)
            placed.append((at, len(placed), user_message(i, version=2, first="Bea", import_id=iid)))
        for bad in self.invalid():
            placed.append((rng.uniform(0, self.users), len(placed), bad))
        return [m for _, _, m in sorted(placed, key=lambda p: (p[0], p[1]))]

    def updated(self) -> set[int]:
        return set(random.Random(self.seed + 1).sample(range(self.users), self.users // 20))

    def invalid(self) -> list[dict[str, Any] | bytes]:
        out: list[dict[str, Any] | bytes] = []
        for n in range(max(self.users // 200, 4)):
            base = user_message(self.users + n, import_id=self.import_id if self.with_import_id else None)
            kind = n % 4
            if kind == 0:
                base["user"]["email"] = f"not-an-address-{n}"
            elif kind == 1:
                del base["user"]["lastName"]
            elif kind == 2:
                base["op"] = "frobnicate"
            else:
                base["version"] = "seven"
            out.append(base)
        return out

    def expected_fields(self) -> dict[str, str]:
        """The field each kind of invalid message must be refused for, by key."""
        names = {0: "user.email", 1: "user.lastName", 2: "op", 3: "version"}
        return {str(self.users + n): names[n % 4] for n in range(max(self.users // 200, 4))}

    def profile(self, i: int) -> dict[str, str]:
        login = f"user{i}@example.com"
        first = "Bea" if i in self.updated() else "Ann"
        return {"login": login, "email": login, "firstName": first, "lastName": f"Lee{i}"}

    @property
    def changes(self) -> int:
        """Messages that belong to the import (valid or not)."""
        return self.users + len(self.updated()) + len(self.invalid())


@dataclass(frozen=True)
class Kill:
    number: int
    phase: str  # upload | recovery | progress
    done_at_kill: int
    uptime_s: float
    upload_open: bool | None = None  # upload kills: was the upload still unanswered (figures only)


@dataclass
class KillPlan:
    """Kill moments from a seeded RNG. `upload` kills land during the upload (file run), once
    a random fraction of the body is sent (so mid-upload whatever the body's size); `recovery`
    kills a random moment after a restart, `progress` kills at random fractions of the import
    plus a random delay."""

    seed: int
    progress_kills: int = 8
    recovery_kills: int = 2
    upload_kills: int = 2
    events: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        events = [("upload", rng.uniform(0.05, 0.95)) for _ in range(self.upload_kills)]
        progress = sorted(rng.uniform(0.02, 0.97) for _ in range(self.progress_kills))
        middle: list[tuple[str, float]] = [("progress", f) for f in progress]
        for _ in range(self.recovery_kills):
            middle.insert(rng.randint(1, len(middle)), ("recovery", rng.uniform(0.1, 2.5)))
        self.events = events + middle
        self._rng = rng

    def jitter(self) -> float:
        return self._rng.uniform(0.0, 0.3)


class Harness:
    """Runs a kill plan against one `idsync serve`; `feed` (re)sends the input when needed."""

    def __init__(
        self,
        serve: ServeProcess,
        import_id: str,
        total: int,
        plan: KillPlan,
        *,
        feed: Callable[[], bool] | None = None,
    ) -> None:
        self.serve = serve
        self.import_id = import_id
        self.total = total
        self.plan = plan
        self.feed = feed  # returns True once the whole input is in
        self.kills: list[Kill] = []
        self.fed = feed is None
        self.sent = Sent()  # bytes of the body the current upload has handed to its connection
        self.resend_wait_s = 0.0  # time spent sending the input again after kills

    def done(self) -> int:
        view = self.serve.try_get(f"/imports/{self.import_id}")
        return int(view["done"]) if view else 0

    def _kill(self, phase: str, upload_open: bool | None = None) -> None:
        done = self.done() if phase != "recovery" else -1
        uptime = time.monotonic() - self.serve.started_at
        self.serve.kill()
        self.kills.append(Kill(len(self.kills) + 1, phase, done, round(uptime, 2), upload_open))
        self.serve.start()

    def _ensure_fed(self) -> None:
        if self.feed is None or self.fed:
            return
        self.serve.ready()
        started = time.monotonic()
        self.fed = eventually(self.feed, timeout_s=300, every_s=0.5)
        self.resend_wait_s += time.monotonic() - started

    def run(self, timeout_s: float) -> dict[str, Any]:
        self.serve.start()
        for phase, value in self.plan.events:
            if phase == "upload":
                self.serve.ready()
                assert self.feed is not None
                self.sent.reset()
                uploader = threading.Thread(target=self.feed, daemon=True)
                uploader.start()
                eventually(lambda f=value: self.sent.fraction >= f or not uploader.is_alive(), every_s=0.002)
                self._kill(phase, upload_open=uploader.is_alive())
                uploader.join(timeout=30)
            elif phase == "recovery":
                time.sleep(max(value - (time.monotonic() - self.serve.started_at), 0.0))
                self._kill(phase)
            else:
                self._ensure_fed()
                target = int(value * self.total)
                self.serve.ready()
                eventually(lambda t=target: self.done() >= t, timeout_s=timeout_s, every_s=0.02)
                time.sleep(self.plan.jitter())
                self._kill(phase)
        self._ensure_fed()
        self.serve.ready()

        def completed() -> dict[str, Any] | None:
            view = self.serve.try_get(f"/imports/{self.import_id}")
            return view if view and view["state"] == "completed" else None

        return dict(eventually(completed, timeout_s=timeout_s, every_s=0.5))


class Sent:
    """How much of the body an upload has sent: upload kills wait for a fraction of it."""

    def __init__(self) -> None:
        self.bytes = 0
        self.total = 1

    def reset(self) -> None:
        self.bytes = 0

    @property
    def fraction(self) -> float:
        return self.bytes / self.total

    def chunks(self, body: bytes, size: int = 4096) -> Iterator[bytes]:
        self.total = max(len(body), 1)
        for start in range(0, len(body), size):
            self.bytes = start
            yield body[start : start + size]
        self.bytes = len(body)


def upload(serve: ServeProcess, import_id: str, body: bytes, sent: Sent | None = None) -> bool:
    """Send the NDJSON body (again), in chunks counted by `sent`; True once the import has all
    its input."""
    try:
        answer = httpx.post(
            f"{serve.url}/imports",
            params={"tenant": "t", "import_id": import_id},
            content=(sent or Sent()).chunks(body),
            headers={**AUTH, "Content-Type": "application/x-ndjson"},
            timeout=120,
        )
    except httpx.HTTPError:
        return False  # killed under us: send it again after the restart
    if answer.status_code == 202:
        return True
    return answer.status_code == 409 and "received all its input" in answer.text


def emails_per_user(outbox: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["userId"] for e in outbox if e.get("kind") == "activation")


def reason_fields(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Key -> the reason message of each failed change."""
    return {str(r["key"]): f"{r['reason_code']}: {r['reason_message']}" for r in rows}


def dumps(kills: list[Kill]) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(k.__dict__)) for k in kills]
