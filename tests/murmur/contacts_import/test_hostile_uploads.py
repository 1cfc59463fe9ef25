"""Hostile CSV uploads: refused quickly with the limit named, in bounded memory, leaving no files.

The memory test runs the real `python -m murmur api serve` and samples its RSS with psutil while
the uploads are refused: a memory bound, not a timing assertion.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from fastapi.testclient import TestClient

from murmur.net import free_port, port_open, wait_until
from tests.murmur.conftest import MakeAccount, auth
from tests.murmur.contacts_import.messages import detail_text

pytestmark = pytest.mark.integration

MAX_EXTRA_RSS_MB = 200
WIDE = b"email," + b",".join(b"c%d" % i for i in range(300_000)) + b"\nann@example.com\n"
BIG_FIRST = b"email,note\nann@example.com," + b"x" * (9 * 1024 * 1024) + b"\nbob@example.com,y\n"
BIG_LATER = (
    b"email,note\n"
    + b"bob@example.com,y\n" * 1000
    + b'ann@example.com,"'
    + (b"x\n" * (5 * 1024 * 1024))
    + b'"\n'
)
WIDE_SHORT = b"email," + b",".join(b"c%d" % i for i in range(999)) + b"\nann@example.com\n"
HOSTILE = {
    "300k columns": (WIDE, "longer than 128 KiB"),
    "9 MB first record": (BIG_FIRST, "the maximum record size is 1.0 MiB"),
    "10 MB later record": (BIG_LATER, "line 1,002 is 10.0 MiB; the maximum record size is 1.0"),
    "1000 columns": (WIDE_SHORT, "the file has 1,000 columns; the limit is 500 columns"),
}


def _upload(client: TestClient | httpx.Client, key: str, data: bytes, url: str = "") -> Any:
    return client.post(
        f"{url}/api/v1/contacts/import",
        files={"file": ("contacts.csv", data, "text/csv")},
        headers=auth(key),
    )


def _count(url: str, sql: str, *params: object) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_upload_is_refused_naming_the_limit_and_leaves_no_temp_file(
    api_client: TestClient,
    make_account: MakeAccount,
    migrated_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    # Regression: a first record of >= 9 MB answered 500 and left the upload's temp file behind.
    data, reason = HOSTILE[name]
    account, key = make_account(role="editor")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    response = _upload(api_client, key, data)
    assert response.status_code == 422, response.text
    assert reason in detail_text(response.json())
    assert list(tmp_path.iterdir()) == []
    sql = "select count(*) from import_jobs where account_id = %s"
    assert _count(migrated_db_url, sql, account) == 0


def test_the_cli_refuses_a_huge_record_with_exit_2_and_no_traceback(
    make_account: MakeAccount, migrated_db_url: str, tmp_path: Path
) -> None:
    # Regression: the CLI printed a pyarrow traceback for a first record of >= 9 MB.
    account, _ = make_account(role="editor")
    path = tmp_path / "big.csv"
    path.write_bytes(BIG_FIRST)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "murmur",
            "contacts",
            "import",
            str(path),
            "--account",
            str(account),
        ],
        env={**os.environ, "MURMUR_POSTGRES_URL": migrated_db_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "refused: the row starting on line 2 is 9.0 MiB" in done.stderr
    assert "maximum record size is 1.0 MiB" in done.stderr
    assert "Traceback" not in done.stderr


def test_rows_that_all_have_the_wrong_field_count_are_reported_row_by_row(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    # Regression: the file was refused as "the file has a header but no data rows".
    _, key = make_account(role="editor")
    response = _upload(api_client, key, b"email,name\nann@example.com\nbob@example.com,B,x\n")
    assert response.status_code == 202, response.text
    job = api_client.get(response.headers["Location"], headers=auth(key)).json()
    assert (job["status"], job["total_rows"], job["error_rows"], job["inserted"]) == (
        "succeeded",
        2,
        2,
        0,
    )
    report = api_client.get(f"{response.headers['Location']}/errors", headers=auth(key))
    assert list(csv.reader(io.StringIO(report.text))) == [
        ["row", "column", "reason", "value"],
        ["2", "", "the row has 1 fields; the header has 2", "ann@example.com"],
        ["3", "", "the row has 3 fields; the header has 2", "bob@example.com,B,x"],
    ]


class _PeakRss:
    """Samples a process's RSS every 5 ms in a thread while the block runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def api_server(migrated_db_url: str, tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """`python -m murmur api serve` on a free port: (base URL, pid, its temp dir)."""
    port = free_port()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "MURMUR_POSTGRES_URL": migrated_db_url,
        "MURMUR_STATE_DIR": str(tmp_path / "state"),
        "TMPDIR": str(tmp),
    }
    cmd = [sys.executable, "-m", "murmur", "api", "serve", "--port", str(port)]
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, 60, "the API to listen")
        assert proc.poll() is None, (tmp_path / "api.log").read_text()
        yield f"http://127.0.0.1:{port}", proc.pid, tmp
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_refusing_hostile_csvs_keeps_api_memory_under_200_mb_above_idle(
    api_server: tuple[str, int, Path], make_account: MakeAccount
) -> None:
    # Regression: a 2.6 MB CSV with 300k columns took 2.6 GB of API memory before its refusal.
    url, pid, tmp = api_server
    _, key = make_account(role="editor")
    with httpx.Client(base_url=url, timeout=120) as client:
        warm = _upload(client, key, b"email\nwarm@example.com\n")  # loads the lazy parts
        assert warm.status_code == 202, warm.text
        wait_until(
            lambda: (
                client.get(warm.headers["Location"], headers=auth(key)).json()["status"]
                == "succeeded"
            ),
            60,
            "the warm-up import",
        )
        with _PeakRss(pid) as idle:
            time.sleep(0.5)
        with _PeakRss(pid) as busy:
            for name, (data, reason) in HOSTILE.items():
                response = _upload(client, key, data)
                assert response.status_code == 422, (name, response.text)
                assert reason in detail_text(response.json()), name
    extra_mb = (busy.peak - idle.peak) / (1024 * 1024)
    assert extra_mb < MAX_EXTRA_RSS_MB, f"peak {extra_mb:.0f} MB above idle"
    assert list(tmp.iterdir()) == []  # no upload left behind
    assert uuid.UUID(warm.json()["import_id"])
