"""Line marks: a re-import passes over a line it proved unchanged before, without reading it.

Most of a million-user re-import of unchanged users is proving each one unchanged: parse and
validate the line, read its link, plan. A mark keeps that proof. When the worker carries a line's
change out and planning it again against the link as written would change nothing (`at_rest`),
or the ingest finds a line unchanged against a link that is still as it read it, the link keeps
the line's mark: a hash of the tenant, the line's text and the tenant's policy. Every other
write of the link clears the mark (the store's rule), so the same line again, while its link
still holds its mark, is unchanged without being read, unless:

- the user has another change waiting (the ingest asks the queue, and a line of the same user
  further up the same batch counts as waiting);
- the account is shared (merge_sources: the decision reads another link; never passed over);
- the policy or the planner's rules changed (a different mark: `RULES`, `policy_fp`).
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b

from pydantic import ValidationError

from idsync.domain.decision import newer
from idsync.domain.links import Link
from idsync.domain.models import ChangeMessage, Status, stored_change
from idsync.domain.planner import plan
from idsync.domain.policy import TenantPolicy
from idsync.domain.records import LineMark, QueuedChange

__all__ = ["RULES", "at_rest", "finished_mark", "line_fp", "line_mark", "policy_fp"]

# Bump when the planner decides a change differently: every mark made before stops matching.
RULES = "1"


def line_fp(tenant: str, text: str) -> str:
    """The fingerprint of one line (a JSON line's text, a CSV row's mapped fields) for a tenant."""
    return blake2b(f"{tenant}\x1f{text}".encode(), digest_size=16).hexdigest()


def policy_fp(policy: TenantPolicy) -> str:
    """The tenant's policy as a mark depends on it (its repr: frozen dataclasses, tuples, enums).
    Kept per policy object (policies are frozen): the worker asks once per finished user."""
    known = _POLICY_FPS.get(id(policy))
    if known is not None and known[0] is policy:
        return known[1]
    fp = blake2b(f"{RULES}\x1f{policy!r}".encode(), digest_size=8).hexdigest()
    if len(_POLICY_FPS) >= 256:
        _POLICY_FPS.clear()
    _POLICY_FPS[id(policy)] = (policy, fp)
    return fp


_POLICY_FPS: dict[int, tuple[TenantPolicy, str]] = {}


def line_mark(policy: str, line: str) -> str:
    """What a link keeps: the policy's and the line's fingerprints (48 characters)."""
    return policy + line


def at_rest(change: ChangeMessage, link: Link | None, policy: TenantPolicy) -> bool:
    """Would the ingest find this change unchanged against this link at once? (The same test as
    ingest's: an UNCHANGED plan with nothing for the worker and no newer version to record.)"""
    if link is None or link.via is not None or link.sharers or link.pending_op is not None:
        return False
    decided = plan(change, link, policy)
    return (
        decided.status is Status.UNCHANGED
        and not decided.needs_worker
        and not newer(change.version, link.version)
    )


def finished_mark(
    changes: Sequence[QueuedChange], link: Link | None, policy: TenantPolicy | None
) -> LineMark | None:
    """The mark for the link a user's changes leave, when the last of them (a file's line) is at
    rest against it: the proof a re-import of that line would otherwise make again."""
    last = changes[-1] if changes else None
    if last is None or last.line_fp is None or link is None or policy is None:
        return None
    try:
        change = stored_change(last.payload)
    except ValidationError:
        return None
    if not at_rest(change, link, policy):
        return None
    return (link.tenant, link.source, link.key, line_mark(policy_fp(policy), last.line_fp))
