"""The search/filter expression language (parser, dialects) and listing users through it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from idsync.emulator.okta.errors import OktaError
from idsync.emulator.okta.queries import USER_FILTER, USER_SEARCH, page_after
from idsync.emulator.okta.search import And, Compare, Not, Or, compile_predicate, parse

from .conftest import new_user


def test_parse_comparison_and_case_insensitive_operators() -> None:
    assert parse('profile.login Eq "a@b.co"') == Compare("profile.login", "eq", "a@b.co")
    assert parse("profile.nickName pr") == Compare("profile.nickName", "pr")


def test_precedence_and_binds_tighter_than_or() -> None:
    node = parse('a eq "1" or b eq "2" and c eq "3"')
    assert node == Or((Compare("a", "eq", "1"), And((Compare("b", "eq", "2"), Compare("c", "eq", "3")))))
    grouped = parse('(a eq "1" or b eq "2") and c eq "3"')
    assert grouped == And((Or((Compare("a", "eq", "1"), Compare("b", "eq", "2"))), Compare("c", "eq", "3")))
    assert parse('not a eq "1"') == Not(Compare("a", "eq", "1"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r'profile.lastName eq "bob\"smith"', 'bob"smith'),  # L-USERS: escape " inside a string
        (r'profile.lastName eq "back\\slash"', "back\\slash"),
        (r'profile.lastName eq "caf\u00e9"', "café"),
        ('profile.lastName eq "with (parens) and or"', "with (parens) and or"),
        ('profile.lastName eq "  spaced  "', "  spaced  "),
    ],
)
def test_string_literals_are_json_strings(text: str, value: str) -> None:
    assert parse(text) == Compare("profile.lastName", "eq", value)


def test_bare_literals() -> None:
    assert parse("profile.age gt 30") == Compare("profile.age", "gt", 30)
    assert parse("profile.vip eq true") == Compare("profile.vip", "eq", True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        'profile.login eq "unterminated',
        "profile.login eq unquoted",
        'profile.login like "x"',
        '(a eq "1"',
        'a eq "1")',
    ],
)
def test_syntax_errors_are_e0000031(text: str) -> None:
    with pytest.raises(OktaError) as raised:
        parse(text)
    assert (raised.value.status, raised.value.code) == (400, "E0000031")


def test_filter_dialect_is_restricted() -> None:
    USER_FILTER.check(parse('status eq "ACTIVE" and lastUpdated gt "2020-01-01T00:00:00.000Z"'))
    for text in (
        'profile.nickName eq "x"',
        'status sw "ACT"',
        'not status eq "ACTIVE"',
        'profile.login co "x"',
    ):
        with pytest.raises(OktaError):
            USER_FILTER.check(parse(text))


def test_search_dialect_allows_co_only_on_four_attributes() -> None:
    USER_SEARCH.check(parse('profile.email co "example"'))
    USER_SEARCH.check(parse('profile.department sw "Eng"'))
    with pytest.raises(OktaError):
        USER_SEARCH.check(parse('profile.department co "ng"'))
    with pytest.raises(OktaError):
        USER_SEARCH.check(parse('status ne "STAGED"'))  # no `ne` (SPEC)


def test_case_sensitivity_of_values() -> None:
    record = {"profile.lastName": "Smith"}

    def resolve(obj: dict[str, Any], attr: str) -> Any:
        return obj.get(attr)

    node = parse('profile.lastName eq "smith"')
    assert compile_predicate(node, resolve, case_insensitive=True)(record)  # search
    assert not compile_predicate(node, resolve, case_insensitive=False)(record)  # filter
    accents = parse('profile.lastName eq "smíth"')
    assert not compile_predicate(accents, resolve, case_insensitive=True)(
        record
    )  # diacritics matter in search


def test_array_attributes_match_any_element() -> None:
    node = parse('profile.tags eq "b"')
    assert compile_predicate(node, lambda o, a: o[a], case_insensitive=True)({"profile.tags": ["a", "B"]})


# --- over HTTP -------------------------------------------------------------------------------


def _seed(client: httpx.Client) -> dict[str, str]:
    ids = {}
    for login, dept, activate in [
        ("ann@example.com", "Sales", True),
        ("bob@example.com", "Engineering", True),
        ("bea@example.com", "Engineering", False),
        ("cid@example.org", 'Dept "Q"', True),
    ]:
        body = new_user(login, password=True, department=dept)
        ids[login] = client.post(f"/api/v1/users?activate={str(activate).lower()}", json=body).json()["id"]
    client.delete(f"/api/v1/users/{ids['ann@example.com']}")  # ann is DEPROVISIONED
    return ids


def _logins(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [u["profile"]["login"] for u in response.json()]


def test_list_search_filter_and_q(client: httpx.Client) -> None:
    _seed(client)
    assert _logins(client.get("/api/v1/users")) == ["bob@example.com", "bea@example.com", "cid@example.org"]
    assert _logins(client.get("/api/v1/users", params={"search": 'profile.department eq "engineering"'})) == [
        "bob@example.com",
        "bea@example.com",
    ]
    assert _logins(client.get("/api/v1/users", params={"search": r'profile.department eq "Dept \"Q\""'})) == [
        "cid@example.org"
    ]
    assert _logins(client.get("/api/v1/users", params={"filter": 'status eq "DEPROVISIONED"'})) == [
        "ann@example.com"
    ]
    assert (
        _logins(client.get("/api/v1/users", params={"filter": 'status eq "deprovisioned"'})) == []
    )  # case-sensitive
    assert _logins(
        client.get("/api/v1/users", params={"search": '(status lt "STAGED" or status gt "STAGED")'})
    ) == [
        "ann@example.com",
        "bob@example.com",
        "cid@example.org",
    ]
    assert _logins(client.get("/api/v1/users", params={"q": "b"})) == ["bob@example.com", "bea@example.com"]
    assert _logins(client.get("/api/v1/users", params={"search": 'profile.login eq "BOB@example.com"'})) == [
        "bob@example.com"
    ]
    r = client.get("/api/v1/users", params={"search": 'profile.login eq "bob@example.com'})
    assert (r.status_code, r.json()["errorCode"]) == (400, "E0000031")


def test_sort_by_in_search(client: httpx.Client) -> None:
    _seed(client)
    r = client.get(
        "/api/v1/users", params={"search": "status pr", "sortBy": "profile.login", "sortOrder": "desc"}
    )
    assert _logins(r) == ["cid@example.org", "bob@example.com", "bea@example.com", "ann@example.com"]


def _next(response: httpx.Response) -> str | None:
    links = response.headers.get_list("link")
    assert links
    assert links[0].endswith('rel="self"'), links  # self first: the SDK keeps the last one
    nexts = [link for link in links if link.endswith('rel="next"')]
    return nexts[0][1 : nexts[0].index(">")] if nexts else None


def test_pagination_follows_link_headers(client: httpx.Client) -> None:
    created = [
        client.post("/api/v1/users", json=new_user(f"p{i}@example.com", password=True)).json()["id"]
        for i in range(7)
    ]
    seen: list[str] = []
    url: str | None = "/api/v1/users?limit=3&search=" + 'profile.login sw "p"'
    pages = 0
    while url:
        r = client.get(url)
        seen += [u["id"] for u in r.json()]
        url = _next(r)
        pages += 1
        if url:
            assert parse_qs(urlsplit(url).query)["limit"] == ["3"]
    assert seen == created
    assert pages == 3


def test_bad_cursor_is_e0000029(client: httpx.Client) -> None:
    r = client.get("/api/v1/users", params={"after": "00u1testcursorvalue"})
    assert r.status_code == 400
    assert r.json()["errorCode"] == "E0000029"
    assert r.json()["errorCauses"] == [{"errorSummary": "Invalid cursor."}]


def test_cursor_of_a_deleted_user_still_works(client: httpx.Client) -> None:
    ids = [
        client.post("/api/v1/users", json=new_user(f"d{i}@example.com", password=True)).json()["id"]
        for i in range(3)
    ]
    first = client.get("/api/v1/users?limit=1")
    cursor_url = _next(first)
    assert cursor_url is not None
    for _ in range(2):
        client.delete(f"/api/v1/users/{ids[0]}")
    assert [u["id"] for u in client.get(cursor_url).json()] == [ids[1]]


def test_limit_is_clamped_to_200(client: httpx.Client) -> None:
    r = client.get("/api/v1/users?limit=1000")
    assert "limit=200" in r.headers["link"]
    r = client.get("/api/v1/users?limit=zero")
    assert (r.status_code, r.json()["errorCode"]) == (400, "E0000001")


def test_an_or_of_logins_finds_each_in_creation_order_and_nothing_else(client: httpx.Client) -> None:
    # The index serves an `or` of `eq` terms on login/id/email (a client reading many users back
    # at once); any other term falls back to the scan, with the same answer.
    ids = _seed(client)
    logins = ("cid@example.org", "BOB@example.com", "nobody@x.io", "ann@example.com")
    search = " or ".join(f'profile.login eq "{login}"' for login in logins)
    found = _logins(client.get("/api/v1/users", params={"search": search}))
    assert found == [
        "ann@example.com",
        "bob@example.com",
        "cid@example.org",
    ]  # search shows DEPROVISIONED too
    by_id = f'id eq "{ids["bea@example.com"]}" or {search}'
    assert _logins(client.get("/api/v1/users", params={"search": by_id})) == [
        "ann@example.com",
        "bob@example.com",
        "bea@example.com",
        "cid@example.org",
    ]
    mixed = 'profile.login eq "cid@example.org" or profile.department eq "Engineering"'
    assert _logins(client.get("/api/v1/users", params={"search": mixed})) == [
        "bob@example.com",
        "bea@example.com",
        "cid@example.org",
    ]
    scoped = f'({search}) and status eq "DEPROVISIONED"'
    assert _logins(client.get("/api/v1/users", params={"search": scoped})) == ["ann@example.com"]


def test_page_after_walks_pages_by_cursor_and_refuses_an_unknown_one() -> None:
    items = ["a", "b", "c", "d", "e"]
    assert page_after(items, None, 2, str.upper) == (["a", "b"], "B")
    assert page_after(items, "B", 2, str.upper) == (["c", "d"], "D")
    assert page_after(items, "D", 2, str.upper) == (["e"], None)
    assert page_after(items, "C", 2, str.upper) == (["d", "e"], None)  # exactly full: no next page
    with pytest.raises(OktaError) as caught:
        page_after(items, "b", 2, str.upper)  # a cursor is the key, not the item
    assert caught.value.code == "E0000029"


def test_sorted_search_pages_by_link_headers_and_refuses_a_foreign_cursor(client: httpx.Client) -> None:
    _seed(client)
    url: str | None = "/api/v1/users?limit=3&search=status+pr&sortBy=profile.login&sortOrder=desc"
    logins: list[str] = []
    while url:
        r = client.get(url)
        logins += _logins(r)
        url = _next(r)
    assert logins == ["cid@example.org", "bob@example.com", "bea@example.com", "ann@example.com"]
    user_id = client.get("/api/v1/users", params={"limit": 1}).json()[0]["id"]
    r = client.get(
        "/api/v1/users", params={"search": "status pr", "sortBy": "profile.login", "after": user_id}
    )
    assert (r.status_code, r.json()["errorCode"]) == (400, "E0000029")  # cursors carry a leading 0
