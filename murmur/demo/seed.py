"""`murmur demo seed`: the demo account, filled through the platform's own code paths.

Contacts arrive as a CSV through the real importer (preflight, validation, COPY, upsert, the
error report), suppressions through `suppress()`, templates, segments and campaigns through
their domain functions. Every object is found by its name before it is created, so a re-run
changes nothing (the import then reports every row unchanged); `reset` deletes the demo
account's rows first and starts over.
"""

from __future__ import annotations

import json
import os
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import (
    api_keys,
    campaigns,
    import_errors,
    import_jobs,
    metadata,
    segments,
    templates,
    users,
)
from murmur.demo import content
from murmur.demo.people import Person, generate_people, write_csv
from murmur.settings import Settings

Say = Callable[[str], None]
Progress = Callable[[int, int], None]
ACTOR = "demo-seed"
SUPPRESSED_EVERY = 97  # about 1% of the list was suppressed at the previous ESP
ERROR_SAMPLE = 6


@dataclass(frozen=True)
class SeedOptions:
    contacts: int = 20_000
    seed: int = 7
    reset: bool = False


@dataclass
class SeedResult:
    account_id: uuid.UUID
    created: bool
    users: list[tuple[str, str, str]]  # (email, role, password)
    api_key: str
    csv_path: Path
    csv_rows: int
    import_id: uuid.UUID
    import_counts: dict[str, int]
    error_sample: list[str]
    suppressed: int
    templates: dict[str, int] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)
    campaigns: dict[str, int] = field(default_factory=dict)


def user_password(seed: int, email: str) -> str:
    """The demo user's password: 16 characters, the same for the same seed."""
    rng = random.Random(f"password:{seed}:{email}")
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(16))


# The audit log is append-only (a trigger refuses deletes) and erasures are the record of a
# GDPR request: a reset keeps both.
KEPT_ON_RESET = frozenset({"audit_log", "erasures"})


def _account_tables() -> list[sa.Table]:
    return [
        t for t in metadata.sorted_tables if "account_id" in t.c and t.name not in KEPT_ON_RESET
    ]


def reset_account(conn: sa.Connection, account_id: uuid.UUID) -> None:
    """Delete the account's rows in every table but the audit log and erasures (no FKs)."""
    from murmur.domain.audit import audit

    audit(conn, account_id, ACTOR, "demo.reset", "account", account_id)
    jobs = sa.select(import_jobs.c.import_id).where(import_jobs.c.account_id == account_id)
    conn.execute(import_errors.delete().where(import_errors.c.import_id.in_(jobs)))
    for table in _account_tables():
        conn.execute(table.delete().where(table.c.account_id == account_id))


def _account(conn: sa.Connection, reset: bool) -> tuple[uuid.UUID, bool]:
    from murmur.db.tables import accounts
    from murmur.domain.accounts import create_account, find_account_by_name

    account_id = find_account_by_name(conn, content.ACCOUNT_NAME)
    if account_id is not None and reset:
        reset_account(conn, account_id)
        account_id = None
    if account_id is None:
        return create_account(conn, content.ACCOUNT_NAME, ACTOR, **content.ACCOUNT_FIELDS), True
    where = accounts.c.account_id == account_id
    conn.execute(accounts.update().where(where).values(**content.ACCOUNT_FIELDS))
    return account_id, False


def _users(conn: sa.Connection, account_id: uuid.UUID, seed: int) -> list[tuple[str, str, str]]:
    from argon2 import PasswordHasher

    hasher = PasswordHasher()
    out = []
    for email, role in content.USERS:
        password = user_password(seed, email)
        digest = hasher.hash(password)
        where = (users.c.account_id == account_id, users.c.email == email)
        found = conn.execute(sa.select(users.c.user_id).where(*where)).scalar()
        if found is None:
            values = {"account_id": account_id, "email": email, "role": role}
            conn.execute(users.insert().values(**values, password_hash=digest))
        else:
            conn.execute(users.update().where(*where).values(role=role, password_hash=digest))
        out.append((email, role, password))
    return out


def _credentials_file(settings: Settings) -> Path:
    return settings.state_dir / "demo" / "credentials.json"


def _api_key(conn: sa.Connection, account_id: uuid.UUID, settings: Settings) -> str:
    """The demo's admin key: the one saved by an earlier seed while it still works, else new."""
    from murmur.domain.accounts import create_api_key, verify_api_key

    path = _credentials_file(settings)
    try:
        saved = json.loads(path.read_text())
        key = str(saved["api_key"])
        record = verify_api_key(conn, key)
        if record is not None and record.account_id == account_id and record.role == "admin":
            return key
    except (OSError, ValueError, KeyError, TypeError):
        pass
    stale = (api_keys.c.account_id == account_id, api_keys.c.name == content.API_KEY_NAME)
    conn.execute(api_keys.update().where(*stale).values(revoked_at=sa.func.now()))
    _, key = create_api_key(conn, account_id, "admin", name=content.API_KEY_NAME, actor=ACTOR)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"account_id": str(account_id), "api_key": key}, fh)
    path.with_suffix(".tmp").replace(path)
    return key


def _import(
    settings: Settings, account_id: uuid.UUID, path: Path, progress: Progress | None
) -> tuple[uuid.UUID, dict[str, int], list[str]]:
    """The CSV through the importer, as `murmur contacts import` runs it."""
    import psycopg

    from murmur.contacts_import import jobs, store
    from murmur.contacts_import.reader import preflight
    from murmur.db.engine import libpq_url

    csv = preflight(path)
    url = libpq_url(settings.require("postgres_url"))
    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as status_conn,
    ):
        import_id = jobs.queue_job(conn, account_id, csv, ACTOR, path.name)
        result = jobs.execute_job(
            conn, status_conn, import_id, account_id, csv, ACTOR, path.name, progress
        )
        if result is None:
            job = store.get_job(conn, account_id, import_id) or {}
            raise RuntimeError(f"import {import_id} of {path} failed: {job.get('error')}")
        report = b"".join(store.iter_error_report(conn, import_id, account_id=account_id))
    lines = report.decode().splitlines()
    return import_id, asdict(result), lines[: ERROR_SAMPLE + 1]


def _suppress(conn: sa.Connection, account_id: uuid.UUID, people: list[Person]) -> int:
    from murmur.domain.suppression import suppress

    chosen = people[SUPPRESSED_EVERY // 2 :: SUPPRESSED_EVERY]
    for i, person in enumerate(chosen):
        reason = ("unsubscribe", "bounce", "complaint")[i % 3]
        suppress(conn, account_id, person.email, reason, "previous ESP export", ACTOR)
    return len(chosen)


def _by_name(conn: sa.Connection, table: sa.Table, account_id: uuid.UUID, name: str) -> int | None:
    key = next(iter(table.primary_key.columns))
    query = sa.select(key).where(table.c.account_id == account_id, table.c.name == name)
    found = conn.execute(query.order_by(key).limit(1)).scalar()
    return None if found is None else int(found)


def _content(conn: sa.Connection, account_id: uuid.UUID, result: SeedResult) -> None:
    from murmur.domain.audit import audit
    from murmur.domain.campaigns import create_campaign
    from murmur.domain.segment_criteria import validate_criteria
    from murmur.domain.templates import create_template

    for spec in content.TEMPLATES:
        found = _by_name(conn, templates, account_id, spec.name)
        if found is None:
            values: dict[str, Any] = {
                "name": spec.name,
                "subject": spec.subject,
                "body_html": spec.body_html,
            }
            found = int(create_template(conn, account_id, values, ACTOR)["template_id"])
        result.templates[spec.name] = found
    for seg in content.SEGMENTS:
        found = _by_name(conn, segments, account_id, seg.name)
        if found is None:
            if seg.definition is not None:
                validate_criteria(seg.definition)
            insert = segments.insert().values(
                account_id=account_id,
                name=seg.name,
                kind=seg.kind,
                definition=seg.definition,
                dbt_model=seg.dbt_model,
            )
            found = int(conn.execute(insert.returning(segments.c.segment_id)).scalar_one())
            audit(conn, account_id, ACTOR, "segment.create", "segment", found)
        result.segments[seg.name] = found
    for camp in content.CAMPAIGNS:
        found = _by_name(conn, campaigns, account_id, camp.name)
        if found is None:
            values = {
                "name": camp.name,
                "subject": next(t.subject for t in content.TEMPLATES if t.name == camp.template),
                "template_id": result.templates[camp.template],
                "segment_id": result.segments[camp.segment],
            }
            found = int(create_campaign(conn, account_id, values, ACTOR)["campaign_id"])
        result.campaigns[camp.name] = found


def seed(
    settings: Settings,
    options: SeedOptions,
    say: Say = lambda _: None,
    progress: Progress | None = None,
) -> SeedResult:
    """Create or refresh the demo account; raises with the failing step on error."""
    from murmur.db.engine import make_engine
    from murmur.db.migrate import upgrade

    if options.contacts < 1:
        raise ValueError(f"contacts must be at least 1, got {options.contacts}")
    url = settings.require("postgres_url")
    upgrade(url)
    people = generate_people(options.contacts, options.seed)
    path = settings.state_dir / "demo" / f"contacts-{options.contacts}-seed{options.seed}.csv"
    stats = write_csv(path, people, options.seed)
    say(
        f"generated {stats.rows:,} CSV rows ({options.contacts:,} people, {stats.invalid} "
        f"invalid, {stats.duplicates} duplicate rows planted) in {path}"
    )
    engine = make_engine(url, pool_size=2, max_overflow=2)
    try:
        with engine.begin() as conn:
            account_id, created = _account(conn, options.reset)
            people_users = _users(conn, account_id, options.seed)
            key = _api_key(conn, account_id, settings)
        import_id, counts, sample = _import(settings, account_id, path, progress)
        with engine.begin() as conn:
            suppressed = _suppress(conn, account_id, people)
        result = SeedResult(
            account_id=account_id,
            created=created,
            users=people_users,
            api_key=key,
            csv_path=path,
            csv_rows=stats.rows,
            import_id=import_id,
            import_counts=counts,
            error_sample=sample,
            suppressed=suppressed,
        )
        with engine.begin() as conn:
            _content(conn, account_id, result)
    finally:
        engine.dispose()
    return result


def new_campaign_copy(settings: Settings, account_id: uuid.UUID, campaign_id: int) -> int:
    """A draft copy of a campaign that was already sent (a re-run sends a fresh one)."""
    from murmur.db.engine import make_engine
    from murmur.domain.campaigns import create_campaign, get_campaign

    engine = make_engine(settings.require("postgres_url"), pool_size=1, max_overflow=1)
    try:
        with engine.begin() as conn:
            row = get_campaign(conn, account_id, campaign_id)
            if row is None:
                raise RuntimeError(f"campaign {campaign_id} is gone")
            values: dict[str, Any] = {k: row[k] for k in ("subject", "template_id", "segment_id")}
            base = str(row["name"]).split(" #")[0]
            same = campaigns.c.account_id == account_id, campaigns.c.name.startswith(base)
            runs = conn.execute(sa.select(sa.func.count()).where(*same)).scalar_one()
            values["name"] = f"{base} #{int(runs) + 1}"
            return int(create_campaign(conn, account_id, values, ACTOR)["campaign_id"])
    finally:
        engine.dispose()
