"""What a benchmark scenario provides, and the number format every figure is shown in.

A scenario is one module with a `SCENARIO = Scenario(...)`, listed in `bench/registry.py`. Its
`run` returns the figures (top-level keys of bench/results.json: the contract, each with a target
or none) and the details behind them; its `section` renders its part of docs/benchmarks.md from
those details alone (every number in the docs comes from results.json; a test checks it); its
optional `plot` draws its panel of docs/benchmarks.png.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Figure = float | int | None

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Target:
    op: str  # one of >=, <=, <, >, ==
    value: float

    def met(self, measured: Figure) -> bool:
        return measured is not None and _OPS[self.op](measured, self.value)

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "value": self.value}


@dataclass(frozen=True)
class Context:
    """What one run of a scenario is asked for (from the command line)."""

    workdir: Path
    users: int
    quick: bool
    time_scale: float | None = None  # None: the scenario's own


@dataclass(frozen=True)
class Outcome:
    figures: dict[str, Figure]
    details: dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    name: str  # what --only and --users name
    title: str
    users: int  # the size of a full run
    quick_users: int  # the size under --quick
    run: Callable[[Context], Outcome]
    section: Callable[[dict[str, Any]], str]  # markdown, from the scenario's details only
    targets: dict[str, Target] = field(default_factory=dict)
    plot: Callable[[Any, dict[str, Any]], None] | None = None  # draws on a matplotlib Axes
    aliases: tuple[str, ...] = ()


def num(value: float | int | None, digits: int | None = None) -> str:
    """A figure as the docs show it: integers with thousands separators, others with `digits`
    decimals (default: up to 3 significant decimals, trailing zeros dropped)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (digits == 0):
        return f"{round(value):,}"
    if digits is not None:
        return f"{value:,.{digits}f}"
    magnitude = abs(value)
    digits = 1 if magnitude >= 100 else 2 if magnitude >= 1 else 3 if magnitude >= 0.01 else 5
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pct(fraction: float, digits: int = 0) -> str:
    """A fraction as a percentage (the docs test reads `50%` as 0.5)."""
    return f"{fraction * 100:.{digits}f}%"


def table(rows: list[tuple[str, str]]) -> str:
    """A two-column markdown table of labels and values (no header)."""
    return "| | |\n|---|---|\n" + "".join(f"| {label} | {value} |\n" for label, value in rows)
