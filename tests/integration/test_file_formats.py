"""Import files as people have them: Excel exports (BOM, `;`, CRLF, a quoted cell with a line
break, umlauts), files saved in another encoding, tab-separated files. Read by the real reader,
imported into the Okta emulator over HTTP; the CLI as a subprocess."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from idsync.adapters.files import (
    MAX_RECORD_BYTES,
    FileOptions,
    check_encoding,
    count_records,
    csv_lacks_source,
    read_records,
)
from idsync.config import Settings, settings_from_dict
from idsync.domain.models import Status, UserFields, validation_reason
from idsync.emulator.okta import EmulatorAdmin, EmulatorSettings, EmulatorThread
from idsync.engine.worker import WorkerOptions
from idsync.errors import InputError
from idsync.lifecycle.imports import run_file_import
from idsync.runtime import Runtime
from tests.common import run_idsync

TOKEN = "formats-token"
FAST = WorkerOptions(retry_base_s=0.05, retry_max_s=0.3, poll_s=0.05)

# What Excel (German locale) writes for "CSV UTF-8 (durch Trennzeichen getrennt)": a BOM, `;`
# between cells, CRLF line ends, a cell with a line break quoted (Alt+Enter gives a bare LF), a
# cell with a `;` and quotes quoted and its quotes doubled.
EXCEL = (
    "\ufeffkey;login;email;firstName;lastName;department;source\r\n"
    "1;juergen.mueller@example.com;juergen.mueller@example.com;Jürgen;Müller;Vertrieb;app\r\n"
    '2;oe.aeberli@example.com;oe.aeberli@example.com;Özlem;Äberli;"Einkauf; ""Nord""";app\r\n'
    '3;ada.gross@example.com;ada.gross@example.com;Ada;Groß;"Lager\nHalle 2";app\r\n'
    "4;sven.sjoeberg@example.com;sven.sjoeberg@example.com;Sven;Sjöberg;IT;app\r\n"
).encode()


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(token=TOKEN, time_scale=0.02)) as emu:
        yield emu


def settings(tmp_path: Path, url: str) -> Settings:
    return settings_from_dict(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'idsync.db'}"},
            "idps": {"okta": {"type": "okta", "url": url, "token_env": "OKTA_TOKEN"}},
            "tenants": {"t": {"idp": "okta", "mode": "sync"}},
        },
        {"OKTA_TOKEN": TOKEN},
    )


def test_an_excel_export_is_read_record_by_record(tmp_path: Path) -> None:
    path = tmp_path / "Benutzer.csv"
    path.write_bytes(EXCEL)
    records = list(read_records(path))
    assert [r.number for r in records] == [1, 2, 3, 4] == list(range(1, count_records(path, "csv") + 1))
    assert all(r.error is None for r in records), [r.error for r in records]
    users = [r.data["user"] for r in records if r.data]
    assert [u["firstName"] for u in users] == ["Jürgen", "Özlem", "Ada", "Sven"]
    assert users[1]["department"] == 'Einkauf; "Nord"'
    assert users[2]["department"] == "Lager\nHalle 2"  # one cell, one record
    assert records[0].data is not None and set(records[0].data) == {"op", "source", "key", "user"}
    assert not csv_lacks_source(path)
    # Resuming after record 3 reads record 4: the cursor counts records, not lines.
    assert [r.number for r in read_records(path, start_after=3)] == [4]


async def test_an_excel_export_imports(emulator: EmulatorThread, tmp_path: Path) -> None:
    path = tmp_path / "Benutzer.csv"
    path.write_bytes(EXCEL)
    async with Runtime(settings(tmp_path, emulator.url), worker_options=FAST) as rt:
        report = await run_file_import(rt, path, tenant="t")
        failed = rt.store.imports.results(report.progress.import_id, statuses=[Status.FAILED])
        # The same export again: every record is at rest against its link (domain/marks.py) and
        # passed over unread; one record edited in Excel is read and updated.
        again = await run_file_import(rt, path, tenant="t", import_id="again")
        assert rt.ingestor.passed_over == 4
        path.write_bytes(EXCEL.replace("Sjöberg;IT;".encode(), "Sjöberg;IT-Betrieb;".encode()))
        edited = await run_file_import(rt, path, tenant="t", import_id="edited")
        assert rt.ingestor.passed_over == 7
    assert (report.progress.received, report.progress.created, report.progress.failed) == (4, 4, 0), failed
    assert (again.progress.unchanged, again.progress.api_calls) == (4, 0)
    assert (edited.progress.unchanged, edited.progress.updated) == (3, 1)
    users = {u["login"]: u["profile"] for u in EmulatorAdmin(emulator.url).users()}
    names = {login: (p["firstName"], p["lastName"]) for login, p in users.items()}
    assert names == {
        "juergen.mueller@example.com": ("Jürgen", "Müller"),
        "oe.aeberli@example.com": ("Özlem", "Äberli"),
        "ada.gross@example.com": ("Ada", "Groß"),
        "sven.sjoeberg@example.com": ("Sven", "Sjöberg"),
    }
    # The quoted multi-line cell reaches the IdP as one value with its line break.
    assert users["ada.gross@example.com"]["department"] == "Lager\nHalle 2"
    assert users["oe.aeberli@example.com"]["department"] == 'Einkauf; "Nord"'
    assert users["sven.sjoeberg@example.com"]["department"] == "IT-Betrieb"


def test_a_line_break_is_refused_in_a_name_but_kept_in_an_attribute() -> None:
    base = {"login": "a@example.com", "email": "a@example.com", "firstName": "Ann", "lastName": "Lee"}
    assert UserFields.model_validate({**base, "streetAddress": "Hauptstr. 1\r\n2. OG"})
    with pytest.raises(ValidationError) as name:
        UserFields.model_validate({**base, "lastName": "Lee\nSmith"})
    said = validation_reason(name.value).message
    assert "lastName" in said and "U+000A" in said, said
    with pytest.raises(ValidationError) as hidden:
        UserFields.model_validate({**base, "streetAddress": "Hauptstr.\n\u202e1"})
    assert "U+202E" in validation_reason(hidden.value).message


def test_the_delimiter_is_the_headers_or_the_one_given(tmp_path: Path) -> None:
    tabs = tmp_path / "export.txt"
    tabs.write_text(
        "key\tlogin\temail\tfirstName\tlastName\n7\ta@example.com\ta@example.com\tAnn\tLee, Jr.\n"
    )
    (row,) = read_records(tabs, source="app")
    assert row.data is not None and row.data["user"]["lastName"] == "Lee, Jr."
    pipes = tmp_path / "pipes.csv"
    pipes.write_text("key|login|email|firstName|lastName\n7|a@example.com|a@example.com|Ann|Lee\n")
    with pytest.raises(InputError, match="--delimiter"):
        list(read_records(pipes, source="app"))
    (row,) = read_records(pipes, source="app", options=FileOptions(delimiter="|").checked())
    assert row.data is not None and row.data["key"] == "7"
    assert FileOptions(delimiter="tab").checked().delimiter == "\t"
    with pytest.raises(InputError, match="--delimiter"):
        FileOptions(delimiter=";;").checked()
    with pytest.raises(InputError, match="--encoding"):
        FileOptions(encoding="klingon").checked()


def test_a_broken_record_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    huge = "x" * (MAX_RECORD_BYTES + 10)
    path.write_text(
        "key,login,email,firstName,lastName\n"
        f'1,a@example.com,a@example.com,"{huge[:100]}\n{huge}",Lee\n'
        "2,b@example.com,b@example.com,Bob,Lee\n"
        "3,c@example.com,c@example.com,Cy,Lee,too,many\n"
        '4,d@example.com,d@example.com,"Di,Lee\n'
    )
    records = list(read_records(path, source="app"))
    errors = {r.number: r.error for r in records if r.error}
    assert "the limit is 1,048,576" in (errors[1] or "")
    assert [r.data["key"] for r in records if r.data] == ["2"]
    assert errors[3] == "row: has 7 cells, the header has 5"
    assert "not valid CSV" in (errors[4] or "")  # a quote left open: the rest of the file is that cell


def test_a_file_in_another_encoding_is_refused_then_read_with_encoding(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    (tmp_path / "idsync.toml").write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "idsync.db"}"\n'
        f'[idps.okta]\ntype = "okta"\nurl = "{emulator.url}"\ntoken_env = "OKTA_TOKEN"\n'
        '[tenants.t]\nidp = "okta"\nmode = "sync"\n'
    )
    latin = tmp_path / "export.csv"  # Excel's "CSV (Trennzeichen-getrennt)" on Windows: cp1252
    latin.write_bytes(EXCEL.decode().lstrip("\ufeff").replace('"Lager\nHalle 2"', "Lager").encode("cp1252"))
    env = {"OKTA_TOKEN": TOKEN, "COLUMNS": "200"}
    refused = run_idsync(tmp_path, "import", str(latin), "--tenant", "t", env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "is not UTF-8" in refused.stderr and "--encoding" in refused.stderr
    assert "Traceback" not in refused.stderr and EmulatorAdmin(emulator.url).users() == []
    done = run_idsync(tmp_path, "import", str(latin), "--tenant", "t", "--encoding", "cp1252", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "API calls: 4" in done.stdout
    first_names = sorted(u["profile"]["firstName"] for u in EmulatorAdmin(emulator.url).users())
    assert first_names == ["Ada", "Jürgen", "Sven", "Özlem"]
    status = run_idsync(tmp_path, "status", "--json", env=env)
    (progress,) = json.loads(status.stdout)
    assert (progress["created"], progress["api_calls"]) == (4, 4)
    assert "SAWarning" not in refused.stderr + done.stderr + status.stderr


def test_excels_unicode_text_is_named_and_read_as_utf16(tmp_path: Path) -> None:
    path = tmp_path / "Unicode.txt"  # Excel's "Unicode Text": UTF-16 LE with a BOM, tabs
    path.write_bytes(EXCEL.decode().lstrip("\ufeff").replace(";", "\t").encode("utf-16"))
    with pytest.raises(InputError, match="--encoding utf-16"):
        check_encoding(path)
    options = FileOptions(encoding="utf-16").checked()
    check_encoding(path, options)
    records = list(read_records(path, options=options))
    assert count_records(path, "csv", options) == len(records) == 4
    assert [r.data["user"]["lastName"] for r in records if r.data] == ["Müller", "Äberli", "Groß", "Sjöberg"]


def test_a_stray_byte_fails_its_record_naming_the_column(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    rows = b"".join(b"%d,u%d@example.com,u%d@example.com,Ann,Lee\n" % (i, i, i) for i in range(3000))
    path.write_bytes(
        b"key,login,email,firstName,lastName\n" + rows + b"9999,z@example.com,z@example.com,J\xfcrgen,Lee\n"
    )
    check_encoding(path)  # its first 64 KiB are UTF-8: the file is read, the record refused
    records = list(read_records(path, source="app"))
    assert len(records) == 3001 and all(r.error is None for r in records[:-1])
    assert records[-1].error is not None
    assert records[-1].error.startswith(
        "row: is not UTF-8 (invalid byte at character 2 of column 'firstName')"
    )
    assert "--encoding" in records[-1].error
