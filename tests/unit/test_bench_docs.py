"""docs/benchmarks.md shows bench/results.json and nothing else: each figure as stored, and every
other number on the page found in the results (at the precision the page prints it)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESERVED = ("meta", "targets", "details")
SYMBOLS = {">=": "≥", "<=": "≤", "<": "<", ">": ">", "==": "="}
# A number that is not part of a name (S1, p99, s1_budget_use, 3.11.7's last part), with
# thousands separators, decimals and a percent sign.
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)(?!\w)")
NOT_FIGURES = (
    re.compile(r"`[^`]*`"),  # code: names and commands
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"!\[[^\]]*\]\([^)]*\)"),  # an image's link
)


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def page() -> str:
    return (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")


def numbers_in(text: str) -> Iterator[tuple[str, float, int]]:
    """(as printed, value, decimals printed); `50%` is 0.5 printed with two decimals more."""
    for m in NUMBER.finditer(text):
        whole, decimals, percent = m.group(1), m.group(2) or "", m.group(3)
        value = float(whole.replace(",", "") + decimals)
        places = max(len(decimals) - 1, 0)
        if percent:
            value, places = value / 100, places + 2
        yield m.group(0), value, places


def stored_numbers(node: Any) -> Iterator[float]:
    if isinstance(node, bool) or node is None:
        return
    if isinstance(node, int | float):
        yield float(node)
    elif isinstance(node, str):
        yield from (value for _, value, _ in numbers_in(node))
    elif isinstance(node, dict):
        for value in node.values():
            yield from stored_numbers(value)
    elif isinstance(node, list):
        for value in node:
            yield from stored_numbers(value)


def figure_rows(page: str) -> dict[str, tuple[str, str]]:
    section = page.split("## Figures and targets", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]*) \| ([^|]*) \|", section, re.M)
    return {key: (measured.strip(), target.strip()) for key, measured, target in rows}


def test_every_figure_is_on_the_page_as_stored(results: dict[str, Any], page: str) -> None:
    rows = figure_rows(page)
    figures = {k: v for k, v in results.items() if k not in RESERVED}
    assert figures, "results.json holds no figure"
    assert set(rows) == set(figures)
    for key, value in figures.items():
        assert rows[key][0] == ("n/a" if value is None else f"{value:,}"), key


def test_every_target_is_the_stored_one(results: dict[str, Any], page: str) -> None:
    rows = figure_rows(page)
    for key, target in results["targets"].items():
        assert rows[key][1] == f"{SYMBOLS[target['op']]} {target['value']:,}", key


def test_every_number_on_the_page_is_in_the_results(results: dict[str, Any], page: str) -> None:
    stored = sorted(set(stored_numbers(results)))
    text = page
    for pattern in NOT_FIGURES:
        text = pattern.sub(" ", text)
    unknown = []
    for printed, value, places in numbers_in(text):
        tolerance = 0.5 * 10**-places + 1e-9
        if not any(abs(value - s) <= tolerance for s in stored):
            unknown.append(printed)
    assert not unknown, f"numbers on docs/benchmarks.md that bench/results.json does not hold: {unknown}"


def test_the_plot_the_page_shows_exists(page: str) -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page)
    for image in images:
        assert (ROOT / "docs" / image).is_file(), image


def test_the_number_reader_reads_what_the_page_prints() -> None:
    assert [(p, v) for p, v, _ in numbers_in("S1 at 1.8 s, 100,000 users, 50%, p99 0.084")] == [
        ("1.8", 1.8),
        ("100,000", 100_000.0),
        ("50%", 0.5),
        ("0.084", 0.084),
    ]
