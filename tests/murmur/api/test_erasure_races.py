"""GDPR erasure racing a create or an import, with real concurrent requests to `murmur api serve`.

Erasure must win every interleaving: once `POST /gdpr/erase` answered, no contact of that
address exists, whatever ran at the same time.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from murmur.db.tables import contacts, suppressions
from tests.murmur.conftest import MakeAccount, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ITERATIONS = 50
FILLER_ROWS = 3000


def _together(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the calls in threads released at the same moment; their responses in call order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # surfaced by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in results:
        if not isinstance(r, httpx.Response):
            raise AssertionError(f"a request failed: {r!r}")
    return results


def _contacts_of(db_engine: sa.Engine, account_id: uuid.UUID, email: str) -> list[Any]:
    with db_engine.connect() as conn:
        query = sa.select(contacts.c.contact_id, contacts.c.status).where(
            contacts.c.account_id == account_id, contacts.c.email == email
        )
        return list(conn.execute(query).all())


# Regression: POST /contacts and POST /gdpr/erase fired together left a subscribed contact next
# to the erasure suppression (issue 8, item 1).
def test_an_erasure_racing_a_create_of_the_same_address_always_wins(
    api_server: str, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    headers = auth(key)
    with httpx.Client(base_url=api_server, headers=headers, timeout=60) as client:
        for i in range(ITERATIONS):
            email = f"race-{i}@example.com"
            jitter = random.Random(i).random() * 0.004

            def create(email: str = email, jitter: float = jitter) -> httpx.Response:
                time.sleep(jitter if i % 2 else 0)
                return client.post("/api/v1/contacts", json={"email": email})

            def erase(email: str = email, jitter: float = jitter) -> httpx.Response:
                time.sleep(0 if i % 2 else jitter)
                return client.post("/api/v1/gdpr/erase", json={"email": email})

            created, erased = _together(create, erase)
            assert erased.status_code == 200, erased.text
            assert created.status_code in (201, 409), created.text
            assert _contacts_of(db_engine, account_id, email) == [], (i, created.json())
            again = client.post("/api/v1/contacts", json={"email": email})
            assert again.status_code == 409, again.text


# Regression: a rename to an address and a suppression of it raced its erasure the same way
# (issue 8, item 1): both take the address lock and re-check the tombstone.
def test_an_erasure_racing_a_rename_or_a_suppression_of_the_address_always_wins(
    api_server: str, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    with httpx.Client(base_url=api_server, headers=auth(key), timeout=60) as client:
        for i in range(ITERATIONS):
            email = f"renamed-{i}@example.com"
            made = client.post("/api/v1/contacts", json={"email": f"old-{i}@example.com"})
            contact_id = made.json()["contact_id"]

            def rename(contact_id: int = contact_id, email: str = email) -> httpx.Response:
                return client.patch(f"/api/v1/contacts/{contact_id}", json={"email": email})

            def suppress(email: str = email) -> httpx.Response:
                return client.post("/api/v1/suppressions", json={"email": email})

            def erase(email: str = email) -> httpx.Response:
                return client.post("/api/v1/gdpr/erase", json={"email": email})

            renamed, suppressed, erased = _together(rename, suppress, erase)
            assert erased.status_code == 200, erased.text
            assert renamed.status_code in (200, 409), renamed.text
            assert suppressed.status_code in (201, 409), suppressed.text
            assert _contacts_of(db_engine, account_id, email) == [], i
            with db_engine.connect() as conn:
                raw = conn.execute(
                    sa.select(suppressions.c.reason).where(
                        suppressions.c.account_id == account_id, suppressions.c.email == email
                    )
                ).all()
            assert raw == [], i


def _csv(target: str, iteration: int) -> bytes:
    lines = ["email,first_name"]
    lines += [f"fill-{iteration}-{k}@example.com,F{k}" for k in range(FILLER_ROWS // 2)]
    lines.append(f"{target},Target")
    lines += [
        f"fill-{iteration}-{k}@example.com,F{k}" for k in range(FILLER_ROWS // 2, FILLER_ROWS)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def _finish(client: httpx.Client, import_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/contacts/imports/{import_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"import {import_id} did not finish")


def _import_seconds(client: httpx.Client) -> float:
    """How long an upload of the test file takes until its job finished (a warm-up import)."""
    started = time.monotonic()
    files = {"file": ("warmup.csv", _csv("warmup@example.com", -1), "text/csv")}
    job = client.post("/api/v1/contacts/import", files=files).json()
    assert _finish(client, job["import_id"])["status"] == "succeeded"
    return time.monotonic() - started


# Regression: an erasure during a running import of that address was undone when the import
# committed (issue 8, item 1): the importer re-checks tombstones at commit, under a lock.
def test_an_erasure_during_an_import_of_the_address_is_never_undone_by_its_commit(
    api_server: str, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    headers = auth(key)
    with httpx.Client(base_url=api_server, headers=headers, timeout=60) as client:
        span = _import_seconds(client)
        rng = random.Random(8)
        for i in range(ITERATIONS):
            email = f"imported-{i}@example.com"
            files = {"file": (f"race-{i}.csv", _csv(email, i), "text/csv")}
            delay = rng.random() * span  # spread the erasures over the whole import

            def upload(files: dict[str, Any] = files) -> httpx.Response:
                return client.post("/api/v1/contacts/import", files=files)

            def erase(email: str = email, delay: float = delay) -> httpx.Response:
                time.sleep(delay)
                return client.post("/api/v1/gdpr/erase", json={"email": email})

            uploaded, erased = _together(upload, erase)
            assert uploaded.status_code == 202, uploaded.text
            assert erased.status_code == 200, erased.text
            job = _finish(client, uploaded.json()["import_id"])
            assert job["status"] == "succeeded", job
            assert _contacts_of(db_engine, account_id, email) == [], (i, delay, job)
