"""Okta's `search=` / `filter=` expression language: parse, check against a dialect, evaluate.

Grammar (CORE "Filter" and "Operators"): `attr op "value"`, `attr pr`, `( … )`, `not`, `and`,
`or`; precedence: attribute operator, then parentheses, then `and`, then `or`. Attribute names
are case-sensitive, operators are not. String literals are JSON strings, so `\\"` and `\\\\`
escapes and `\\uXXXX` work. Each endpoint/parameter allows a subset (a `Dialect`), and `search`
compares strings case-insensitively while `filter` is case-sensitive (SPEC listUsers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from idsync.emulator.okta.errors import OktaError

__all__ = ["And", "Compare", "Dialect", "Node", "Not", "Or", "compile_predicate", "equality_terms", "parse"]

OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "sw", "co", "ew", "pr"})


@dataclass(frozen=True)
class Compare:
    attr: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | And | Or | Not

_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<string>")|(?P<word>[^\s()"]+))')
_ATTR = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)*$")
_DECODER = json.JSONDecoder()


def _tokens(text: str) -> Iterator[tuple[str, Any]]:
    text = text.rstrip()
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern matches any non-blank character
            raise OktaError.invalid_search(f"Unexpected character at position {pos}")
        if m.group("paren"):
            yield "paren", m.group("paren")
            pos = m.end()
        elif m.group("string"):
            start = m.start("string")
            try:
                value, end = _DECODER.raw_decode(text, start)
            except json.JSONDecodeError as exc:
                raise OktaError.invalid_search(f"Invalid string literal at position {start}") from exc
            yield "literal", value
            pos = end
        else:
            yield "word", m.group("word")
            pos = m.end()


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = list(_tokens(text))
        self.pos = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> tuple[str, Any]:
        item = self.peek()
        if item is None:
            raise OktaError.invalid_search("Unexpected end of expression")
        self.pos += 1
        return item

    def keyword(self, word: str) -> bool:
        item = self.peek()
        if item is not None and item[0] == "word" and str(item[1]).lower() == word:
            self.pos += 1
            return True
        return False

    def expr(self) -> Node:
        items = [self.conjunction()]
        while self.keyword("or"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Node:
        items = [self.unary()]
        while self.keyword("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        if self.keyword("not"):
            return Not(self.unary())
        kind, value = self.take()
        if kind == "paren" and value == "(":
            node = self.expr()
            if self.take() != ("paren", ")"):
                raise OktaError.invalid_search("Missing closing parenthesis")
            return node
        if kind != "word" or not _ATTR.match(value):
            raise OktaError.invalid_search(f"Expected an attribute name, found {value!r}")
        kind, op = self.take()
        op = str(op).lower()
        if kind != "word" or op not in OPERATORS:
            raise OktaError.invalid_search(f"Unknown operator {op!r}")
        if op == "pr":
            return Compare(value, "pr")
        kind, literal = self.take()
        if kind == "word":
            literal = _bare_literal(literal)
        elif kind != "literal":
            raise OktaError.invalid_search(f"Expected a value after {op!r}")
        return Compare(value, op, literal)


def _bare_literal(word: str) -> Any:
    lowered = word.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return int(word) if re.fullmatch(r"-?\d+", word) else float(word)
    except ValueError as exc:
        raise OktaError.invalid_search(f"Invalid value {word!r}: strings must be in double quotes") from exc


def parse(text: str) -> Node:
    """Parse an expression; a syntax error raises `OktaError` 400 E0000031."""
    parser = _Parser(text)
    if not parser.items:
        raise OktaError.invalid_search("Empty expression")
    node = parser.expr()
    if parser.peek() is not None:
        raise OktaError.invalid_search(f"Unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return node


@dataclass(frozen=True)
class Dialect:
    """What one endpoint's `search`/`filter` allows, and whether strings compare without case."""

    name: str
    ops_for: Callable[[str], frozenset[str]]
    """Allowed operators of an attribute (empty: the attribute is not searchable)."""
    allow_not: bool
    case_insensitive: bool

    def check(self, node: Node) -> None:
        if isinstance(node, Compare):
            allowed = self.ops_for(node.attr)
            if not allowed:
                raise OktaError.invalid_search(f"Property '{node.attr}' is not supported by {self.name}")
            if node.op not in allowed:
                raise OktaError.invalid_search(f"Operator '{node.op}' is not supported for '{node.attr}'")
        elif isinstance(node, Not):
            if not self.allow_not:
                raise OktaError.invalid_search(f"Operator 'not' is not supported by {self.name}")
            self.check(node.item)
        else:
            for item in node.items:
                self.check(item)


Resolver = Callable[[Any, str], Any]


def compile_predicate(node: Node, resolve: Resolver, case_insensitive: bool) -> Callable[[Any], bool]:
    """Turn a checked expression into a fast predicate over objects read through `resolve`."""
    if isinstance(node, And):
        parts = [compile_predicate(n, resolve, case_insensitive) for n in node.items]
        return lambda obj: all(p(obj) for p in parts)
    if isinstance(node, Or):
        parts = [compile_predicate(n, resolve, case_insensitive) for n in node.items]
        return lambda obj: any(p(obj) for p in parts)
    if isinstance(node, Not):
        inner = compile_predicate(node.item, resolve, case_insensitive)
        return lambda obj: not inner(obj)
    attr, test = node.attr, _comparison(node.op, node.value, case_insensitive)

    def predicate(obj: Any) -> bool:
        value = resolve(obj, attr)
        if isinstance(value, list):
            return any(test(v) for v in value)
        return test(value)

    return predicate


def _comparison(op: str, operand: Any, fold: bool) -> Callable[[Any], bool]:
    if op == "pr":
        return lambda v: v is not None and v != "" and v != [] and v != {}
    if isinstance(operand, str) and fold:
        target: Any = operand.casefold()

        def norm(v: Any) -> Any:
            return v.casefold() if isinstance(v, str) else v
    else:
        target = operand

        def norm(v: Any) -> Any:
            return v

    def ordered(check: Callable[[Any, Any], bool]) -> Callable[[Any], bool]:
        def test(v: Any) -> bool:
            v = norm(v)
            if v is None or isinstance(v, bool) != isinstance(target, bool):
                return False
            try:
                return check(v, target)
            except TypeError:
                return False

        return test

    tests: dict[str, Callable[[Any], bool]] = {
        "eq": lambda v: norm(v) == target,
        "ne": lambda v: norm(v) != target,
        "gt": ordered(lambda a, b: a > b),
        "ge": ordered(lambda a, b: a >= b),
        "lt": ordered(lambda a, b: a < b),
        "le": ordered(lambda a, b: a <= b),
        "sw": lambda v: isinstance(v, str) and isinstance(target, str) and norm(v).startswith(target),
        "ew": lambda v: isinstance(v, str) and isinstance(target, str) and norm(v).endswith(target),
        "co": lambda v: isinstance(v, str) and isinstance(target, str) and target in norm(v),
    }
    return tests[op]


def equality_terms(node: Node) -> list[tuple[str, Any]]:
    """`attr eq value` terms that every match must satisfy (usable as index lookups)."""
    if isinstance(node, Compare):
        return [(node.attr, node.value)] if node.op == "eq" else []
    if isinstance(node, And):
        return [term for item in node.items for term in equality_terms(item)]
    return []
