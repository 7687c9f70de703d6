"""`idsync plan`: the import's own decisions, counted before the import, with no IdP call."""

from __future__ import annotations

import json
from pathlib import Path

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess

from .helpers import TENANT, idsync, seed_import, store_counts, user, write_config


def mixed_file(path: Path, *, first: str = "Pia", changed: range = range(0)) -> Path:
    lines = [user(k) if k not in changed else user(k, firstName=first) for k in range(30)]
    lines += [
        user("ext1", "a@bigcorp.example"),
        user("ext2", "b@bigcorp.example"),
        user("bad", "not-an-email"),
        '{"tenant": "efs-prod", "op": "upsert"',
        json.dumps({"tenant": "other", "op": "upsert", "source": "efs-panel", "key": "x"}),
        user(5),  # listed twice: queued behind the first, they coalesce into one create
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def plan_json(workdir: Path, file: str, *config: str) -> dict[str, object]:
    result = idsync(workdir, "plan", file, "--tenant", TENANT, "--json", *config)
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_plan_counts_what_the_import_then_does_without_calling_the_idp(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    file = mixed_file(workdir / "users.jsonl")
    admin = EmulatorAdmin(emulator.url)
    before = admin.stats()["requests"]
    text = idsync(workdir, "plan", "users.jsonl", "--tenant", TENANT)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "without activation (phase 1)" in text.stdout
    assert "skip: external_idp" in text.stdout and "fail: invalid" in text.stdout
    assert "Okta's documented default" in text.stdout  # nothing learned yet from this org
    assert "expected duration" in text.stdout
    plan = plan_json(workdir, "users.jsonl")
    assert admin.stats()["requests"] == before  # no IdP call at all
    outcomes = plan["outcomes"]
    assert isinstance(outcomes, dict)
    assert (outcomes["created"], outcomes["skipped"], outcomes["failed"], outcomes["unchanged"]) == (
        31,
        2,
        3,
        0,
    )
    assert plan["calls"] == {"create": 30}
    estimate = plan["estimate"]
    assert isinstance(estimate, dict) and estimate["api_calls"] == 30 and estimate["uses_documented_defaults"]

    seed_import(workdir, file, import_id="imp-1")
    done = store_counts(workdir, "imp-1")
    for name in ("created", "updated", "unchanged", "skipped", "failed"):
        assert done[name] == outcomes[name], name
    assert len(EmulatorAdmin(emulator.url).users()) == 30

    # After the import: the same file is unchanged, a changed one updates; limits are learned.
    mixed_file(workdir / "changed.jsonl", first="Pina", changed=range(0, 30, 3))
    again = plan_json(workdir, "changed.jsonl")
    assert again["outcomes"] == {
        **outcomes,
        "created": 0,
        "updated": 10,
        "unchanged": 21,
    }  # 20 + user 5 twice
    assert again["calls"] == {"update": 10}
    learned = again["estimate"]
    assert isinstance(learned, dict)
    buckets = {b["bucket"]: b for b in learned["buckets"]}
    assert buckets["users/{id}"]["calls"] == 10


def test_plan_in_sync_and_activate_mode_counts_one_call_per_new_user(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    write_config(workdir / "activate.toml", emulator.url, mode="sync_and_activate")
    (workdir / "u.jsonl").write_text("\n".join(user(k) for k in range(5)) + "\n")
    plan = plan_json(workdir, "u.jsonl", "--config", "activate.toml")
    assert plan["created_with_activation"] == 5
    assert plan["calls"] == {"create": 5}  # create and activate in one call
    unknown = idsync(workdir, "plan", "u.jsonl", "--tenant", "nope")
    assert unknown.returncode == 2 and "not configured" in unknown.stderr
