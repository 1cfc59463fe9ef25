"""The demo's marketer walkthrough, through the real REST API (in-process) on the app database.

Creates (or reuses) a demo account, imports a generated CSV with a few planted mistakes, then
creates a template, a segment and a campaign and schedules it. Dispatch comes with the sender.
"""

from __future__ import annotations

import csv
import random
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from murmur.settings import Settings

DEMO_ACCOUNT = "Murmuration demo"
PLANS = ("free", "pro", "team")


def write_contacts_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A contacts file like a real export: mixed header names, a custom column, some bad rows."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["E-mail", "First Name", "last_name", "Plan", "Consent Source"])
        for i in range(rows):
            email = f"reader{i}@example.com"
            if i % 500 == 499:
                email = f"reader{i}@@example"  # planted: not an address
            elif i % 250 == 249:
                email = f"READER{i - 1}@Example.com"  # planted: duplicate of the previous row
            writer.writerow([email, f"Reader{i}", "Demo", rng.choice(PLANS), "demo signup"])


@contextmanager
def _transaction(settings: Settings) -> Iterator[sa.Connection]:
    """One transaction on the app database through a short-lived engine."""
    from murmur.db.engine import make_engine

    engine = make_engine(settings.require("postgres_url"))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _demo_key(settings: Settings) -> tuple[uuid.UUID, str, int]:
    from murmur.db.tables import accounts
    from murmur.domain.accounts import create_account, create_api_key

    with _transaction(settings) as conn:
        account_id = conn.execute(
            sa.select(accounts.c.account_id).where(accounts.c.name == DEMO_ACCOUNT).limit(1)
        ).scalar()
        if account_id is None:
            account_id = create_account(
                conn,
                DEMO_ACCOUNT,
                actor="demo",
                postal_address="1 Starling Way, Springfield",
                default_from_name="Murmuration Demo",
                default_from_email="news@murmuration.local",
            )
        row, key = create_api_key(conn, account_id, "editor", name="demo", actor="demo")
    return account_id, key, int(row["api_key_id"])


def _revoke(settings: Settings, account_id: uuid.UUID, api_key_id: int) -> None:
    from murmur.domain.accounts import revoke_api_key

    with _transaction(settings) as conn:
        revoke_api_key(conn, api_key_id=api_key_id, account_id=account_id, actor="demo")


def _check(response: Any, expected: int, what: str) -> dict[str, Any]:
    if response.status_code != expected:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def walkthrough(settings: Settings, say: Callable[[str], None], rows: int = 5000) -> None:
    """Run the marketer's path through the API; raises with the failing step on error."""
    with warnings.catch_warnings():  # starlette's note about httpx is not for our users
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from murmur.api.app import create_app
    from murmur.db.migrate import upgrade

    upgrade(settings.require("postgres_url"))
    account_id, key, key_id = _demo_key(settings)
    headers = {"Authorization": f"Bearer {key}"}
    csv_path = settings.state_dir / "demo" / "contacts.csv"
    write_contacts_csv(csv_path, rows)
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as api:
            with csv_path.open("rb") as fh:
                files = {"file": (csv_path.name, fh, "text/csv")}
                job = _check(
                    api.post("/api/v1/contacts/import", files=files, headers=headers),
                    202,
                    "import contacts",
                )
            job = _check(
                api.get(f"/api/v1/contacts/imports/{job['import_id']}", headers=headers),
                200,
                "import status",
            )
            say(
                f"  import      {job['status']:<9} {rows} rows from {csv_path}\n"
                f"              {job['inserted']} new, {job['updated']} updated, "
                f"{job['unchanged']} unchanged, {job['duplicates']} duplicates, "
                f"{job['error_rows']} rejected; report: "
                f"GET /api/v1/contacts/imports/{job['import_id']}/errors"
            )
            template = _check(
                api.post(
                    "/api/v1/templates",
                    headers=headers,
                    json={
                        "name": "Demo newsletter",
                        "subject": "Hello {{ first_name }}",
                        "body_html": "<p>Hi {{ first_name }}, you are on the "
                        "{{ custom_fields.plan }} plan.</p>",
                        "body_text": "Hi {{ first_name }}",
                    },
                ),
                201,
                "create template",
            )
            segment = _check(
                api.post(
                    "/api/v1/segments",
                    headers=headers,
                    json={
                        "name": "Pro readers",
                        "kind": "criteria",
                        "definition": {
                            "all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]
                        },
                    },
                ),
                201,
                "create segment",
            )
            campaign = _check(
                api.post(
                    "/api/v1/campaigns",
                    headers=headers,
                    json={
                        "name": f"Demo campaign {uuid.uuid4().hex[:6]}",
                        "subject": "Hello {{ first_name }}",
                        "template_id": template["template_id"],
                        "segment_id": segment["segment_id"],
                    },
                ),
                201,
                "create campaign",
            )
            sent = _check(
                api.post(f"/api/v1/campaigns/{campaign['campaign_id']}/send", headers=headers),
                200,
                "schedule campaign",
            )
            say(
                f"  campaign    {sent['status']:<9} template {template['template_id']}, segment "
                f"{segment['segment_id']}, campaign {campaign['campaign_id']} "
                f"in account {account_id}"
            )
    finally:
        _revoke(settings, account_id, key_id)
