"""Checks on free text that reaches an IdP: control and bidirectional characters, e-mail syntax.

Why by hand: the rules are small and hot (a million-user re-import validates every row), and
the HTML living standard's e-mail grammar is what browsers and most IdPs accept; the
`email-validator` package is stricter about IDN and ten times slower on this path.
"""

from __future__ import annotations

import re
import unicodedata

# WHATWG HTML "valid e-mail address" (https://html.spec.whatwg.org/#valid-e-mail-address).
EMAIL_PATTERN = (
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$"
)
_EMAIL = re.compile(EMAIL_PATTERN)
# No control (C0, DEL, C1), bidirectional, zero-width or BOM character: checked by pydantic's
# Rust regex engine on the hot path; `unsafe_character` names the culprit for the message.
SAFE_TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u061c]*$"
# Characters that reorder or hide text (Trojan Source, CVE-2021-42574) and zero-width marks.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def unsafe_character(value: str, *, line_breaks: bool = False) -> str | None:
    """Name the first control, bidirectional or invisible character in `value`, or None.
    `line_breaks`: a multi-line value (an address from a quoted spreadsheet cell) may hold LF and
    CRLF; a name, a login or an e-mail never may."""
    if line_breaks:
        value = value.replace("\r\n", "").replace("\n", "")
    if value.isprintable():  # fast path (C): no control, format (bidi, zero-width) or unassigned char
        return None
    for ch in value:
        if ch in _BIDI:
            return f"a bidirectional control character U+{ord(ch):04X}"
        if ch in _INVISIBLE:
            return f"an invisible character U+{ord(ch):04X}"
        if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch.isprintable() is False:
            return f"a control character U+{ord(ch):04X}"
    return None


def is_email(value: str) -> bool:
    """True when `value` is a syntactically valid e-mail address (local@domain.tld)."""
    return _EMAIL.match(value) is not None


def email_domain(value: str) -> str:
    """The lower-cased domain of an e-mail address ('' when there is none)."""
    _, _, domain = value.rpartition("@")
    return domain.lower()


def login_key(login: str) -> str:
    """The form in which an IdP compares logins: Okta counts logins that differ only in case or
    diacritics as one (okta/FACTS.md §1), so `Ann.Lee@x` and `ann.lee@x` are one account."""
    if login.isascii():  # nothing to decompose, and casefold is lower: the common case, 20x faster
        return login.lower()
    decomposed = unicodedata.normalize("NFKD", login)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
