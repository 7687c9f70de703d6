"""Listing users and groups: `search`, `filter`, `q`, `limit`, `sortBy` and cursors.

Why pages are computed here, not in SQL or by slicing a full list: a page starts at the cursor's
position in creation order and stops after `limit` matches, so walking 100,000 users in pages
costs one pass in total; `eq` on `id`, `profile.login` or `profile.email` uses the indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from idsync.emulator.okta.clock import iso_timestamp
from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.models import GroupRecord, UserRecord, email_key, login_key
from idsync.emulator.okta.org import Org
from idsync.emulator.okta.search import Compare, Dialect, Node, Or, compile_predicate, equality_terms, parse

__all__ = [
    "Page",
    "list_groups",
    "list_users",
    "listed_users",
    "page_after",
    "parse_limit",
    "resolve_group",
    "resolve_user",
]

T = TypeVar("T")

_USER_TIMES = {
    "created": "created",
    "activated": "activated",
    "statusChanged": "status_changed",
    "lastUpdated": "last_updated",
    "passwordChanged": "password_changed",
    "lastLogin": "last_login",
}
_ORDERED = frozenset({"eq", "gt", "ge", "lt", "le"})
_CONTAINS = frozenset({"profile.firstName", "profile.lastName", "profile.email", "profile.login"})
_FILTERABLE = frozenset(
    {"status", "id", "profile.login", "profile.email", "profile.firstName", "profile.lastName"}
)


def resolve_user(user: UserRecord, attr: str) -> Any:
    if attr.startswith("profile."):
        return user.profile.get(attr[8:])
    if attr == "id":
        return user.id
    if attr == "status":
        return user.status
    if attr == "type.id":
        return user.type_id
    field = _USER_TIMES.get(attr)
    if field is not None:
        value = getattr(user, field)
        return None if value is None else iso_timestamp(value)
    return None


def _user_search_ops(attr: str) -> frozenset[str]:
    if attr in _CONTAINS:
        return _ORDERED | {"sw", "co", "pr"}
    if attr.startswith("profile.") or attr in ("id", "status", "type.id") or attr in _USER_TIMES:
        return _ORDERED | {"sw", "pr"}
    return frozenset()


def _user_filter_ops(attr: str) -> frozenset[str]:
    if attr == "lastUpdated":
        return _ORDERED
    return frozenset({"eq"}) if attr in _FILTERABLE else frozenset()


USER_SEARCH = Dialect("search", _user_search_ops, allow_not=True, case_insensitive=True)
USER_FILTER = Dialect("filter", _user_filter_ops, allow_not=False, case_insensitive=False)


def resolve_group(group: GroupRecord, attr: str) -> Any:
    if attr.startswith("profile."):
        return group.profile.get(attr[8:])
    simple = {"id": group.id, "type": group.type}
    if attr in simple:
        return simple[attr]
    times = {"created": group.created, "lastUpdated": group.last_updated}
    if attr in times:
        return iso_timestamp(times[attr])
    if attr == "lastMembershipUpdated":
        return iso_timestamp(group.last_membership_updated)
    return None


def _group_filter_ops(attr: str) -> frozenset[str]:
    if attr in ("lastUpdated", "lastMembershipUpdated"):
        return _ORDERED
    return frozenset({"eq"}) if attr in ("id", "type") else frozenset()


def _group_search_ops(attr: str) -> frozenset[str]:
    ok = attr.startswith("profile.") or attr in (
        "id",
        "type",
        "created",
        "lastUpdated",
        "lastMembershipUpdated",
    )
    return _ORDERED | {"sw", "co", "pr"} if ok else frozenset()


GROUP_SEARCH = Dialect("search", _group_search_ops, allow_not=True, case_insensitive=True)
GROUP_FILTER = Dialect("filter", _group_filter_ops, allow_not=False, case_insensitive=False)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None
    limit: int


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    """`limit` as Okta reads it: an integer; above the maximum it is clamped (UNVERIFIED)."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise OktaError.api_validation("limit", "limit: Invalid value") from exc
    if value < 1:
        raise OktaError.api_validation("limit", "limit: must be greater than 0")
    return min(value, maximum)


def page_after(
    items: list[T], after: str | None, limit: int, key: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """The `limit` items after the one whose cursor (`key`) is `after`, and the next page's cursor
    (None on the last page). Why one home: every in-memory listing pages alike, and an unknown
    cursor is 400 E0000029 everywhere."""
    start = 0
    if after:
        cursors = [key(i) for i in items]
        if after not in cursors:
            raise OktaError.invalid_paging()
        start = cursors.index(after) + 1
    page = items[start : start + limit]
    return page, (key(page[-1]) if page and start + limit < len(items) else None)


def _cursor_start(org: Org, after: str | None) -> int:
    if not after:
        return 0
    seq = org.state.seq_of.get(after[1:]) if after.startswith("0") else None
    if seq is None:
        raise OktaError.invalid_paging()
    return seq + 1


def _take(matches: Iterable[Any], limit: int) -> tuple[list[Any], bool]:
    page: list[Any] = []
    for item in matches:
        if len(page) == limit:
            return page, True
        page.append(item)
    return page, False


def _indexed(org: Org, node: Node) -> list[UserRecord] | None:
    """Candidates from an index when the expression requires `eq` on id, login or email, or is
    an `or` of such terms (a client reading many users back by login in one search)."""
    state = org.state
    if isinstance(node, Or) and node.items:
        found: dict[str, UserRecord] = {}
        for item in node.items:
            part = _indexed(org, item) if isinstance(item, Compare) and item.op == "eq" else None
            if part is None:
                return None
            found.update((u.id, u) for u in part)
        return sorted(found.values(), key=lambda u: u.seq)
    for attr, value in equality_terms(node):
        if not isinstance(value, str):
            continue
        if attr == "id":
            user = state.users.get(value)
            return [user] if user else []
        if attr == "profile.login":
            uid = state.by_login.get(login_key(value))
            return [state.users[uid]] if uid else []
        if attr == "profile.email":
            return sorted(
                (state.users[i] for i in state.by_email.get(email_key(value), ())), key=lambda u: u.seq
            )
    return None


def listed_users(org: Org, start_seq: int = 0) -> Iterator[UserRecord]:
    """Users in creation order as lists see them: with `search_lag_s`, as they were that long ago."""
    lag = org.state.lag
    if lag is None:
        yield from org.state.iter_users(start_seq)
        return
    lag.prune()
    state = org.state
    for seq in range(start_seq, len(state.order)):
        user_id = state.order[seq] or lag.id_at(seq)
        if user_id is not None:
            user = lag.view(user_id, state.users.get(user_id))
            if user is not None:
                yield user


def list_users(org: Org, query: Mapping[str, str]) -> Page:
    search, flt, q = query.get("search"), query.get("filter"), query.get("q")
    if q is not None and search is None and flt is None:
        limit = parse_limit(query.get("limit"), 10, 200)
        prefix = q.casefold()

        def q_match(u: UserRecord) -> bool:
            if u.status == "DEPROVISIONED":
                return False
            values = (u.profile.get("firstName"), u.profile.get("lastName"), u.profile.get("email"))
            return any(isinstance(v, str) and v.casefold().startswith(prefix) for v in values)

        items, _ = _take(filter(q_match, listed_users(org)), limit)
        return Page(items, None, limit)  # `q` does not paginate (SPEC)

    limit = parse_limit(query.get("limit"), 200, 200)
    start = _cursor_start(org, query.get("after"))
    predicate: Callable[[UserRecord], bool]
    candidates: Iterator[UserRecord] | None = None
    if search is not None or flt is not None:
        dialect = USER_SEARCH if search is not None else USER_FILTER
        node = parse(search if search is not None else str(flt))
        dialect.check(node)
        predicate = compile_predicate(node, resolve_user, dialect.case_insensitive)
        indexed = _indexed(org, node) if org.state.lag is None else None
        if indexed is not None:
            candidates = (u for u in indexed if u.seq >= start)
        sort_by = query.get("sortBy") if search is not None else None
        if sort_by:
            return _sorted_page(
                org, predicate, sort_by, query.get("sortOrder", "asc"), query.get("after"), limit
            )
    else:
        predicate = lambda u: u.status != "DEPROVISIONED"  # noqa: E731  (plain list omits them, SPEC)
    source = candidates if candidates is not None else listed_users(org, start)
    items, more = _take(filter(predicate, source), limit)
    return Page(items, "0" + items[-1].id if more else None, limit)


def _sorted_page(
    org: Org, predicate: Callable[[UserRecord], bool], sort_by: str, order: str, after: str | None, limit: int
) -> Page:
    def key(u: UserRecord) -> tuple[int, str, str]:
        value = resolve_user(u, sort_by)
        return (value is None, str(value).casefold() if value is not None else "", u.id)

    matches = sorted(filter(predicate, listed_users(org)), key=key, reverse=order.lower() == "desc")
    items, cursor = page_after(matches, after, limit, lambda u: "0" + u.id)
    return Page(items, cursor, limit)


def list_groups(org: Org, query: Mapping[str, str]) -> Page:
    groups = list(org.state.groups.values())
    search, flt, q = query.get("search"), query.get("filter"), query.get("q")
    if q is not None:
        limit = parse_limit(query.get("limit"), 300, 10000)
        prefix = q.casefold()
        items = [g for g in groups if str(g.profile.get("name", "")).casefold().startswith(prefix)]
        return Page(items[:limit], None, limit)
    limit = parse_limit(query.get("limit"), 10000, 10000)
    if search is not None or flt is not None:
        dialect = GROUP_SEARCH if search is not None else GROUP_FILTER
        node = parse(search if search is not None else str(flt))
        dialect.check(node)
        predicate = compile_predicate(node, resolve_group, dialect.case_insensitive)
        groups = [g for g in groups if predicate(g)]
    items, cursor = page_after(groups, query.get("after"), limit, lambda g: g.id)
    return Page(items, cursor, limit)
