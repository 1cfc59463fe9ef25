"""Imports against the real local Postgres: through the API, the CLI and the importer itself."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from murmur.api.routes.contact_imports import get_import_options
from murmur.cli import main
from murmur.contacts_import import jobs, reader, store
from murmur.contacts_import.reader import preflight
from murmur.domain.consent import MAX_CLOCK_SKEW
from tests.murmur.conftest import MakeAccount, auth
from tests.murmur.contacts_import.messages import detail_text

pytestmark = pytest.mark.integration

HEADER = ["Last Name", "E-Mail", "first name", "Favourite Colour", "status", "Plan"]


def _planted_file(n: int) -> tuple[bytes, dict[str, dict[str, Any]], set[int], set[int]]:
    """A BOM'd CSV of n data rows with planted problems.

    Returns (bytes, expected contacts by email, bad row numbers, duplicate row numbers).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADER)
    expected: dict[str, dict[str, Any]] = {}
    bad: set[int] = set()
    for i in range(n):
        row = i + 2  # the header is row 1
        email, last = f"User{i}@Example.com", f"Last{i}"
        status, extra = "subscribed", []
        if i % 97 == 0:
            email = f"user{i}@@example.com"
        elif i % 101 == 0:
            email = ""
        elif i % 89 == 0:
            email = f"  USER{i - 1}@example.COM "  # duplicates the previous row
        if i % 113 == 0:
            last = f'Smith, "Jr"\nthe {i}th'  # quoted comma, quote and line break
        if i % 127 == 0:
            status = "maybe"
        if i % 131 == 0:
            extra = ["stray field"]
        writer.writerow([last, email, f"First{i}", "blue", status, "pro", *extra])
        if i % 97 == 0 or i % 101 == 0 or i % 127 == 0 or i % 131 == 0:
            bad.add(row)
            continue
        expected[email.strip().lower()] = {"last_name": last, "first_name": f"First{i}"}
    duplicates = _duplicate_rows(buf.getvalue(), bad)
    return b"\xef\xbb\xbf" + buf.getvalue().encode(), expected, bad, duplicates


def _duplicate_rows(text: str, bad: set[int]) -> set[int]:
    seen: dict[str, int] = {}
    dups: set[int] = set()
    for row, record in enumerate(csv.reader(io.StringIO(text)), 1):
        if row == 1 or row in bad:
            continue
        key = record[1].strip().lower()
        if key in seen:
            dups.add(seen[key])
        seen[key] = row
    return dups


def _upload(client: TestClient, key: str, data: bytes, name: str = "contacts.csv") -> Any:
    return client.post(
        "/api/v1/contacts/import", files={"file": (name, data, "text/csv")}, headers=auth(key)
    )


def _count(url: str, sql: str, *params: object) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def _contacts(url: str, account: uuid.UUID) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("select * from contacts where account_id = %s", (account,))
        return {r["email"]: r for r in cur.fetchall()}


def _report(client: TestClient, key: str, import_id: str) -> list[dict[str, str]]:
    response = client.get(f"/api/v1/contacts/imports/{import_id}/errors", headers=auth(key))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_a_10k_row_file_with_planted_errors_imports_exactly_the_good_rows(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, key = make_account(role="editor")
    data, expected, bad, duplicates = _planted_file(10_000)
    response = _upload(api_client, key, data)
    assert response.status_code == 202, response.text
    job = api_client.get(response.headers["Location"], headers=auth(key)).json()
    assert job["status"] == "succeeded", job
    assert job["total_rows"] == 10_000
    assert job["processed_rows"] == 10_000
    assert job["inserted"] == len(expected)
    assert job["error_rows"] == len(bad)
    assert job["duplicates"] == len(duplicates)

    contacts = _contacts(migrated_db_url, account)
    assert set(contacts) == set(expected)
    multiline = next(c for c in contacts.values() if c["last_name"].startswith("Smith"))
    assert multiline["last_name"].startswith('Smith, "Jr"\nthe ')
    sample = contacts["user5@example.com"]
    assert sample["custom_fields"] == {"favourite_colour": "blue", "plan": "pro"}
    assert sample["status"] == "subscribed"

    report = _report(api_client, key, job["import_id"])
    reasons = {int(r["row"]) for r in report if not r["reason"].startswith("duplicate")}
    assert reasons == bad
    assert {int(r["row"]) for r in report if r["reason"].startswith("duplicate")} == duplicates
    assert {r["column"] for r in report} <= {"E-Mail", "status", ""}
    assert any("fields; the header has 6" in r["reason"] for r in report)
    assert (
        _count(
            migrated_db_url,
            "select count(*) from audit_log where account_id = %s and action = 'contacts.import'",
            account,
        )
        == 1
    )

    again = _upload(api_client, key, data).json()
    second = api_client.get(f"/api/v1/contacts/imports/{again['import_id']}", headers=auth(key))
    counts = second.json()
    assert (counts["inserted"], counts["updated"]) == (0, 0)
    assert counts["unchanged"] == len(expected)
    assert len(_contacts(migrated_db_url, account)) == len(expected)


def test_a_second_import_updates_changed_contacts_instead_of_duplicating(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, key = make_account(role="editor")
    first = (
        b"email,first_name,last_name,plan\nann@example.com,Ann,Lee,free\nbob@example.com,Bob,,\n"
    )
    assert _upload(api_client, key, first).status_code == 202
    second = b"EMAIL,Plan,Last Name\nANN@example.com,pro,\nbob@example.com,,Stone\n"
    job = _upload(api_client, key, second).json()
    job = api_client.get(f"/api/v1/contacts/imports/{job['import_id']}", headers=auth(key)).json()
    assert (job["inserted"], job["updated"], job["unchanged"]) == (0, 2, 0)
    contacts = _contacts(migrated_db_url, account)
    assert len(contacts) == 2
    ann, bob = contacts["ann@example.com"], contacts["bob@example.com"]
    assert (ann["first_name"], ann["last_name"], ann["custom_fields"]) == (
        "Ann",
        "Lee",
        {"plan": "pro"},
    )
    assert (bob["first_name"], bob["last_name"]) == ("Bob", "Stone")


def test_suppressed_unsubscribed_and_erased_addresses_do_not_come_back_subscribed(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, key = make_account(role="editor")
    erased = "gone@example.com"
    with psycopg.connect(migrated_db_url) as conn:
        conn.execute(
            "insert into suppressions (account_id, email, reason) values (%s, %s, 'bounce')",
            (account, "bounced@example.com"),
        )
        conn.execute(
            "insert into contacts (account_id, email, status) values (%s, %s, 'unsubscribed')",
            (account, "left@example.com"),
        )
        conn.execute(
            "insert into erasures (account_id, email_sha256, actor) values (%s, %s, 'test')",
            (account, hashlib.sha256(erased.encode()).hexdigest()),
        )
    data = (
        "email,status\nbounced@example.com,subscribed\nleft@example.com,subscribed\n"
        f"{erased.upper()},subscribed\nnew@example.com,\n"
    ).encode()
    job = _upload(api_client, key, data).json()
    contacts = _contacts(migrated_db_url, account)
    assert contacts["bounced@example.com"]["status"] == "bounced"
    assert contacts["left@example.com"]["status"] == "unsubscribed"
    assert contacts["new@example.com"]["status"] == "subscribed"
    assert erased not in contacts
    report = _report(api_client, key, job["import_id"])
    assert [(r["row"], r["value"]) for r in report] == [("4", "")]
    assert report[0]["reason"].startswith("erased")


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"name,phone\nann,1\n", 422, "no email column"),
        (b"", 422, "empty"),
        ("email\nzoë@example.com\n".encode("latin-1"), 422, "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 422, "not UTF-8"),
        (b"email\n" + b"ann@example.com\n" * 200, 413, "limit"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_and_writes_nothing(
    api_client: TestClient,
    make_account: MakeAccount,
    migrated_db_url: str,
    data: bytes,
    status: int,
    reason: str,
) -> None:
    account, key = make_account(role="editor")
    api_client.app.dependency_overrides[get_import_options] = lambda: jobs.ImportOptions(
        max_bytes=2000
    )
    try:
        response = _upload(api_client, key, data)
    finally:
        api_client.app.dependency_overrides.clear()
    assert response.status_code == status, response.text
    assert reason in detail_text(response.json())
    for table in ("contacts", "import_jobs"):
        sql = f"select count(*) from {table} where account_id = %s"
        assert _count(migrated_db_url, sql, account) == 0, table
    sql = "select count(*) from audit_log where account_id = %s and action = 'contacts.import'"
    assert _count(migrated_db_url, sql, account) == 0


def test_an_import_that_breaks_midway_rolls_back_everything_and_marks_the_job_failed(
    make_account: MakeAccount,
    migrated_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account, _ = make_account(role="editor")
    monkeypatch.setattr(reader, "BLOCK_BYTES", 256)
    path = tmp_path / "c.csv"
    good = b"email,name\n" + b"".join(b"p%d@example.com,x\n" % i for i in range(200))
    path.write_bytes(good)
    csv_file = preflight(path)
    path.write_bytes(good + b"late@example.com,\xff\xfe broken\n")  # changed after the checks
    with (
        psycopg.connect(migrated_db_url, autocommit=True) as conn,
        psycopg.connect(migrated_db_url, autocommit=True) as status_conn,
    ):
        import_id = jobs.queue_job(conn, account, csv_file, "test", "c.csv")
        result = jobs.execute_job(conn, status_conn, import_id, account, csv_file, "test")
        job = store.get_job(conn, account, import_id)
    assert result is None
    assert job is not None and job["status"] == "failed"
    assert "UTF8" in job["error"] or "UTF-8" in job["error"]
    assert (
        _count(migrated_db_url, "select count(*) from contacts where account_id = %s", account) == 0
    )
    assert (
        _count(
            migrated_db_url, "select count(*) from import_errors where import_id = %s", import_id
        )
        == 0
    )


def test_import_jobs_are_invisible_to_other_accounts(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    _, key = make_account(role="editor")
    _, other_key = make_account(role="admin")
    job = _upload(api_client, key, b"email\nann@example.com\n").json()
    for suffix in ("", "/errors"):
        url = f"/api/v1/contacts/imports/{job['import_id']}{suffix}"
        assert api_client.get(url, headers=auth(key)).status_code == 200
        assert api_client.get(url, headers=auth(other_key)).status_code == 404


def test_viewers_cannot_import(api_client: TestClient, make_account: MakeAccount) -> None:
    _, key = make_account(role="viewer")
    assert _upload(api_client, key, b"email\nann@example.com\n").status_code == 403


def test_the_cli_imports_a_file_with_a_progress_bar_on_stderr(
    make_account: MakeAccount,
    migrated_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account, _ = make_account(role="editor")
    monkeypatch.setenv("MURMUR_POSTGRES_URL", migrated_db_url)
    path = tmp_path / "cli.csv"
    path.write_bytes(b"email,name\nann@example.com,Ann\nbad,Bob\n")
    errors = tmp_path / "errors.csv"
    code = main(
        ["contacts", "import", str(path), "--account", str(account), "--errors", str(errors)]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert "2 / 2 rows 100%" in err
    assert "1 new" in out and "1 rejected" in out
    assert errors.read_text().splitlines()[1].startswith("3,email,")
    assert main(["contacts", "import", str(tmp_path / "nope.csv"), "--account", str(account)]) == 2


# Regression: consent dates far in the future were imported as given (issue 8, item 8).
def test_rows_with_a_consent_time_in_the_future_are_rejected_naming_the_column(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, key = make_account(role="editor")
    data = (
        b"email,Opt-in Date\r\n"
        b"future@example.com,2999-01-01T00:00:00Z\r\n"
        b"past@example.com,2020-05-01T10:00:00Z\r\n"
    )
    response = _upload(api_client, key, data)
    assert response.status_code == 202, response.text
    job = api_client.get(response.headers["Location"], headers=auth(key)).json()
    assert job["status"] == "succeeded", job
    assert (job["inserted"], job["error_rows"]) == (1, 1)
    assert set(_contacts(migrated_db_url, account)) == {"past@example.com"}
    [error] = _report(api_client, key, job["import_id"])
    assert (error["row"], error["column"]) == ("2", "Opt-in Date")
    assert "in the future" in error["reason"]


# Regression: the future-consent scan is skipped when every consent time is well within the
# limit at the import's start; a time just past the limit must still be rejected, one just
# inside accepted.
def test_consent_times_near_the_future_limit_are_judged_by_the_server_clock(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, key = make_account(role="editor")
    now = datetime.now(UTC)
    inside = (now + MAX_CLOCK_SKEW - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    beyond = (now + MAX_CLOCK_SKEW + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = f"email,Opt-in Date\r\ninside@example.com,{inside}\r\nbeyond@example.com,{beyond}\r\n"
    response = _upload(api_client, key, data.encode())
    assert response.status_code == 202, response.text
    job = api_client.get(response.headers["Location"], headers=auth(key)).json()
    assert (job["status"], job["inserted"], job["error_rows"]) == ("succeeded", 1, 1), job
    assert set(_contacts(migrated_db_url, account)) == {"inside@example.com"}
    [error] = _report(api_client, key, job["import_id"])
    assert (error["row"], error["column"]) == ("3", "Opt-in Date")
