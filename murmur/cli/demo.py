"""`murmur demo`: the main job on the configured services, with a printed report.

Until the pipelines carry a whole campaign, the job is the service round trip (`murmur.checks`),
then a marketer's walkthrough of the REST API, served for real by a `murmur api serve` child
process: import contacts from CSV (polling the import job until it finishes), create a template,
a segment and a campaign, and schedule it. Dispatch comes with the sender.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from murmur.checks import CheckResult, run_checks
from murmur.cli.api import ServedApi, served_api
from murmur.net import wait_until
from murmur.settings import Settings, get_settings

DEMO_ACCOUNT = "Murmuration demo"
PLANS = ("free", "pro", "team")
IMPORT_TIMEOUT = 600.0


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="run the main job on the configured services")
    demo.add_argument(
        "--walkthrough",
        action="store_true",
        help="run the API walkthrough even when MURMUR_POSTGRES_URL is set (creates demo data)",
    )
    demo.set_defaults(func=_run)


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


@dataclass(frozen=True)
class Walkthrough:
    """What the walkthrough did: the API process it used, the finished import job, the campaign."""

    api: ServedApi
    account_id: uuid.UUID
    import_job: dict[str, Any]
    campaign: dict[str, Any]


@contextmanager
def _demo_key(settings: Settings) -> Iterator[tuple[uuid.UUID, str]]:
    """The demo account (created once) and an editor key for it, revoked when the block ends."""
    from murmur.db.engine import make_engine
    from murmur.domain.accounts import (
        create_account,
        create_api_key,
        find_account_by_name,
        revoke_api_key,
    )

    engine = make_engine(settings.require("postgres_url"))
    try:
        with engine.begin() as conn:
            account_id = find_account_by_name(conn, DEMO_ACCOUNT)
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
        try:
            yield account_id, key
        finally:
            with engine.begin() as conn:
                revoke_api_key(
                    conn, api_key_id=int(row["api_key_id"]), account_id=account_id, actor="demo"
                )
    finally:
        engine.dispose()


def _check(response: Any, expected: int, what: str) -> dict[str, Any]:
    if response.status_code != expected:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def wait_for_import(api: Any, import_id: str, timeout: float = IMPORT_TIMEOUT) -> dict[str, Any]:
    """Poll `GET /contacts/imports/{id}` until the job is `succeeded` or `failed`."""
    job: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal job
        job = _check(api.get(f"/contacts/imports/{import_id}"), 200, "import status")
        return job["status"] in ("succeeded", "failed")

    try:
        wait_until(finished, timeout, f"import {import_id} finishing", interval=0.2)
    except TimeoutError as exc:
        raise RuntimeError(f"{exc} (last seen: {job or 'no answer'})") from None
    if job["status"] == "failed":
        raise RuntimeError(f"import {import_id} failed: {job.get('error')}")
    return job


def walkthrough(settings: Settings, say: Callable[[str], None], rows: int = 5000) -> Walkthrough:
    """Run the marketer's path through a served API; raises with the failing step on error."""
    import httpx

    from murmur.db.migrate import upgrade

    upgrade(settings.require("postgres_url"))
    csv_path = settings.state_dir / "demo" / "contacts.csv"
    write_contacts_csv(csv_path, rows)
    with served_api(settings) as served, _demo_key(settings) as (account_id, key):
        say(f"  api         serving   {served.base_url} (pid {served.pid}, log {served.log})")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=served.base_url, headers=headers, timeout=60) as api:
            with csv_path.open("rb") as fh:
                files = {"file": (csv_path.name, fh, "text/csv")}
                queued = _check(api.post("/contacts/import", files=files), 202, "import contacts")
            job = wait_for_import(api, queued["import_id"])
            say(
                f"  import      {job['status']:<9} {rows} rows from {csv_path}\n"
                f"              {job['inserted']} new, {job['updated']} updated, "
                f"{job['unchanged']} unchanged, {job['duplicates']} duplicates, "
                f"{job['error_rows']} rejected; report: "
                f"GET /api/v1/contacts/imports/{job['import_id']}/errors"
            )
            template = _check(
                api.post(
                    "/templates",
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
                    "/segments",
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
                    "/campaigns",
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
                api.post(f"/campaigns/{campaign['campaign_id']}/send"), 200, "schedule campaign"
            )
            say(
                f"  campaign    {sent['status']:<9} template {template['template_id']}, segment "
                f"{segment['segment_id']}, campaign {campaign['campaign_id']} "
                f"in account {account_id}"
            )
    say(f"  api         stopped   (pid {served.pid})")
    return Walkthrough(served, account_id, job, sent)


def demo(
    settings: Settings, say: Callable[[str], None] = print, walkthrough_anywhere: bool = False
) -> int:
    """Run the round trip, then the walkthrough; print one line a step; return the exit code.

    0 when everything passed, 2 when a check failed for want of a setting, else 1. The
    walkthrough creates a demo account, contacts and a scheduled campaign, so it runs only on
    the local stack's Postgres unless `walkthrough_anywhere` is set.
    """
    token = uuid.uuid4().hex[:12]

    def report(r: CheckResult) -> None:
        status = "ok" if r.ok else "FAILED"
        say(f"  {r.name:<11} {status:<7} {r.seconds:6.2f}s  {r.detail}")

    say(f"Murmuration demo (run {token})")
    results = run_checks(settings, token, on_result=report)
    if not all(r.ok for r in results):
        say("round trip FAILED")
        return 2 if any(r.misconfigured for r in results) else 1
    say("round trip complete: every service answered")
    if settings.postgres_url and not walkthrough_anywhere:
        say(
            "Marketer walkthrough skipped: MURMUR_POSTGRES_URL points at a real database and the "
            "walkthrough would create a demo account there (`murmur demo --walkthrough` forces it)."
        )
        return 0
    say("Marketer walkthrough through the REST API (/api/v1), served by `murmur api serve`")
    started = time.perf_counter()
    try:
        walkthrough(settings, say)
    except Exception as exc:
        say(f"  walkthrough FAILED: {type(exc).__name__}: {exc}")
        return 1
    say(f"walkthrough complete in {time.perf_counter() - started:.1f}s")
    say(
        "Next: `.venv/bin/murmur api serve` then http://127.0.0.1:8000/api/v1/docs "
        "(`murmur account create NAME` prints an admin key); sent mail is in "
        f"{settings.state_dir}/maildir/new; `murmur stack down` stops the services."
    )
    return 0


def run(
    settings: Settings, say: Callable[[str], None] = print, walkthrough_anywhere: bool = False
) -> bool:
    """`demo()` as a yes/no: True when every step passed."""
    return demo(settings, say, walkthrough_anywhere) == 0


def _run(args: argparse.Namespace) -> int:
    return demo(get_settings(), walkthrough_anywhere=args.walkthrough)
