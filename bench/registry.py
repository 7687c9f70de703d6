"""The scenarios `make bench` runs, in this order. Adding one (e.g. S5): a module with a
`SCENARIO = Scenario(...)` (see bench/scenario.py) and its line here."""

from __future__ import annotations

from bench import link_existing, s1_s3, s2, s4, s5
from bench.scenario import Scenario

SCENARIOS: list[Scenario] = [s1_s3.SCENARIO, s2.SCENARIO, s4.SCENARIO, s5.SCENARIO, link_existing.SCENARIO]


def find(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if name in (scenario.name, *scenario.aliases):
            return scenario
    known = ", ".join(s.name for s in SCENARIOS)
    raise ValueError(f"unknown scenario {name!r} (known: {known})")
