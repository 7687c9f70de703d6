"""`idsync failures` and `idsync retry`: the report a support engineer exports, and the re-run."""

from __future__ import annotations

import csv
from pathlib import Path

from idsync.emulator.okta import EmulatorAdmin, EmulatorProcess

from .helpers import idsync, seed_import, store_counts, user, write_users


def failed_import(workdir: Path) -> Path:
    """An import run with a revoked token: every user fails at the IdP; some lines are invalid."""
    file = write_users(
        workdir / "panel.jsonl",
        range(12),
        extra_lines=(
            user("ext", "x@bigcorp.example"),
            user("bad", "=HYPERLINK(1)"),
            '{"tenant": "efs-prod", "op": "upsert"',
        ),
    )
    report = seed_import(workdir, file, import_id="imp-7", token="revoked")
    assert report.progress.failed == 14
    return file


def test_failures_list_every_user_with_the_reason_and_export_csv(workdir: Path) -> None:
    failed_import(workdir)
    listing = idsync(workdir, "failures", "imp-7")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    out = listing.stdout
    assert out.count("idp_unauthorized") >= 12 and "Invalid token" in out
    assert "external_idp" in out and "x@bigcorp.example" in out
    assert "failed 14, skipped 1" in out

    export = idsync(workdir, "failures", "imp-7", "--csv", "failures.csv")
    assert export.returncode == 0 and "wrote 15 rows to failures.csv" in export.stdout
    with (workdir / "failures.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15
    by_key = {r["key"]: r for r in rows}
    assert by_key["3"]["status"] == "failed" and by_key["3"]["reason_code"] == "idp_unauthorized"
    assert by_key["3"]["login"] == "user3@example.com"
    assert by_key["ext"]["status"] == "skipped" and by_key["ext"]["reason_code"] == "external_idp"
    # Spreadsheets must not run user input as a formula.
    assert by_key["bad"]["login"] == "'=HYPERLINK(1)"

    only = idsync(workdir, "failures", "imp-7", "--only", "skipped", "--csv", "skipped.csv")
    assert only.returncode == 0 and "wrote 1 rows" in only.stdout
    missing = idsync(workdir, "failures", "imp-nope")
    assert missing.returncode == 2 and "no import 'imp-nope'" in missing.stderr


def test_retry_sends_the_failed_users_again_but_not_invalid_lines(
    workdir: Path, emulator: EmulatorProcess
) -> None:
    failed_import(workdir)
    assert EmulatorAdmin(emulator.url).users() == []
    dry = idsync(workdir, "retry", "imp-7", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "12 failed users would be sent again; 2 rejected as invalid input stay failed" in dry.stdout
    assert EmulatorAdmin(emulator.url).users() == []

    still = idsync(workdir, "retry", "imp-7", env={"LC_OKTA_TOKEN": "revoked"})
    assert still.returncode == 1, still.stdout + still.stderr  # users still fail: exit 1
    assert "idp_unauthorized" in still.stdout

    retried = idsync(workdir, "retry", "imp-7")  # the token was fixed
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "12 failed users queued again" in retried.stdout
    assert len(EmulatorAdmin(emulator.url).users()) == 12
    done = store_counts(workdir, "imp-7")
    assert (done["created"], done["failed"], done["skipped"], done["state"]) == (12, 2, 1, "completed")

    again = idsync(workdir, "retry", "imp-7")  # nothing left that a retry can fix
    assert again.returncode == 0 and "no failed users to send again" in again.stdout
    assert len(EmulatorAdmin(emulator.url).users()) == 12
