"""SQL segments: the dbt models of `dbt_project/models/segments/`, registered as `dbt` segments.

A segment model is a dbt model tagged `segment` (dbt_project.yml tags the whole folder). Its
YAML gives a description and `config.meta`: `account` (an account id, or an account name: the
oldest account so named), `name` (the segment's display name, default the model name) and
`owner`. Its contract declares exactly `account_id UUID, contact_id Int64`.

`sync_dbt_segments` makes Postgres agree with the manifest, idempotently: a model declared for
an account gets one `dbt` segment there (created, renamed or re-activated); a `dbt` segment whose
model is no longer a segment model of the manifest is marked `retired`, never deleted (its
membership history stays). A model that breaks these rules is reported by name and skipped.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.segments import (
    MEMBERSHIP_TABLE,
    MembershipResult,
    drop_segment_membership,
    ensure_segment_tables,
)
from murmur.db.tables import accounts, segments
from murmur.domain.accounts import find_account_by_name
from murmur.domain.audit import audit
from murmur.domain.segment_refresh import refresh_dbt_segment

SEGMENT_TAG = "segment"
CONTRACT = {"account_id": "UUID", "contact_id": "Int64"}
ACTIVE = "active"
RETIRED = "retired"
ACTOR = "dbt-sync"
# Names the Dagster code location (pipelines/defs/segments) gives segment work, shared with the
# refresh endpoint (murmur imports no app, so they live here).
CRITERIA_JOB = "criteria_segments_job"
CRITERIA_PARTITIONS = "criteria_segment"
CRITERIA_ASSET = "criteria_segments"
REFRESH_JOB = "segments_refresh"
MEMBERSHIP_PREFIX = "segment_membership"
_MODEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
_SYNC_LOCK = 0x5E6D_B7  # pg_advisory_xact_lock key: one sync at a time (code server, sensor)
_NAME_LIMIT = 200


@dataclass(frozen=True)
class DbtSegmentModel:
    """A segment model as the manifest describes it."""

    model: str
    relation: str  # the table's name in the ClickHouse database (the model's alias)
    path: str
    name: str
    description: str
    owner: str | None
    account: str | None
    columns: Mapping[str, str | None]


@dataclass
class SyncReport:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    reactivated: list[int] = field(default_factory=list)
    retired: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = {
            "created": self.created,
            "updated": self.updated,
            "reactivated": self.reactivated,
            "retired": self.retired,
            "unchanged": self.unchanged,
        }
        text = ", ".join(f"{len(v)} {k}" for k, v in counts.items())
        return text + (f"; {len(self.errors)} model(s) skipped" if self.errors else "")


def segment_models(manifest: Mapping[str, Any]) -> list[DbtSegmentModel]:
    """The segment models of a dbt `manifest.json` (parsed), sorted by model name."""
    found = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or SEGMENT_TAG not in node.get("tags", []):
            continue
        meta = {**(node.get("meta") or {}), **(node.get("config", {}).get("meta") or {})}
        columns = {
            str(name): (str(c["data_type"]) if c.get("data_type") else None)
            for name, c in (node.get("columns") or {}).items()
        }
        found.append(
            DbtSegmentModel(
                model=str(node["name"]),
                relation=str(node.get("alias") or node["name"]),
                path=str(node.get("original_file_path", "")),
                name=str(meta.get("name") or node["name"]),
                description=str(node.get("description") or ""),
                owner=None if meta.get("owner") is None else str(meta["owner"]),
                account=None if meta.get("account") is None else str(meta["account"]),
                columns=columns,
            )
        )
    return sorted(found, key=lambda m: m.model)


def model_problem(model: DbtSegmentModel) -> str | None:
    """Why `model` cannot be a segment (None when it can), naming the model and the fix."""
    where = f"segment model {model.model} ({model.path})"
    if not _MODEL_NAME.match(model.model):
        return f"{where}: the model name must be letters, digits and underscores"
    if model.relation != model.model:
        return f"{where}: a segment model cannot set an alias ({model.relation})"
    if dict(model.columns) != CONTRACT:
        declared = ", ".join(f"{k} {v or '(no data_type)'}" for k, v in model.columns.items())
        return (
            f"{where}: its YAML must declare exactly the columns account_id UUID, contact_id "
            f"Int64 (declared: {declared or 'nothing'})"
        )
    if not model.account:
        return f"{where}: config.meta.account is missing (an account id or name)"
    if len(model.name) > _NAME_LIMIT:
        return f"{where}: config.meta.name is longer than {_NAME_LIMIT} characters"
    return None


def resolve_account(conn: sa.Connection, account: str) -> uuid.UUID | None:
    """The account an `account` meta value names: an existing account id, else a name."""
    try:
        account_id = uuid.UUID(account)
    except ValueError:
        return find_account_by_name(conn, account)
    exists = conn.execute(
        sa.select(accounts.c.account_id).where(accounts.c.account_id == account_id)
    ).first()
    return account_id if exists else None


def sync_dbt_segments(conn: sa.Connection, models: list[DbtSegmentModel]) -> SyncReport:
    """Make the `dbt` segments of every account match `models` (see the module docstring)."""
    report = SyncReport()
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SYNC_LOCK)))
    wanted: dict[tuple[uuid.UUID, str], DbtSegmentModel] = {}
    for model in models:
        problem = model_problem(model)
        account_id = None if problem else resolve_account(conn, str(model.account))
        if problem is None and account_id is None:
            problem = (
                f"segment model {model.model} ({model.path}): config.meta.account "
                f"{model.account!r} names no account"
            )
        if problem is not None or account_id is None:
            report.errors.append(str(problem))
            continue
        wanted[(account_id, model.model)] = model
    existing = conn.execute(
        sa.select(segments).where(segments.c.kind == "dbt").order_by(segments.c.segment_id)
    ).all()
    seen: set[tuple[uuid.UUID, str]] = set()
    model_names = {m.model for m in models}
    for row in existing:
        key = (row.account_id, row.dbt_model)
        found = wanted.get(key)
        if found is None or key in seen:
            if row.dbt_model not in model_names and row.status != RETIRED:
                _set(conn, row, {"status": RETIRED}, "segment.retire")
                report.retired.append(row.segment_id)
            continue
        seen.add(key)
        model = found
        changes: dict[str, Any] = {
            column: value
            for column, value in _described(model).items()
            if getattr(row, column) != value
        }
        if not changes:
            report.unchanged.append(row.segment_id)
            continue
        _set(conn, row, changes, "segment.reactivate" if "status" in changes else "segment.update")
        (report.reactivated if "status" in changes else report.updated).append(row.segment_id)
    for (account_id, model_name), model in wanted.items():
        if (account_id, model_name) in seen:
            continue
        segment_id = conn.execute(
            segments.insert()
            .values(account_id=account_id, kind="dbt", dbt_model=model_name, **_described(model))
            .returning(segments.c.segment_id)
        ).scalar_one()
        audit(conn, account_id, ACTOR, "segment.create", "segment", segment_id, _details(model))
        report.created.append(int(segment_id))
    return report


def _described(model: DbtSegmentModel) -> dict[str, Any]:
    """The columns of a segment row that the model's YAML decides."""
    return {
        "name": model.name,
        "description": model.description or None,
        "owner": model.owner,
        "status": ACTIVE,
    }


def _details(model: DbtSegmentModel) -> dict[str, Any]:
    return {"dbt_model": model.model, "path": model.path, "owner": model.owner}


def _set(conn: sa.Connection, row: sa.Row[Any], values: dict[str, Any], action: str) -> None:
    conn.execute(
        segments.update()
        .where(segments.c.segment_id == row.segment_id)
        .values(**values, updated_at=sa.func.now())
    )
    details = {"dbt_model": row.dbt_model, "fields": sorted(values)}
    audit(conn, row.account_id, ACTOR, action, "segment", row.segment_id, details)


def active_dbt_segments(conn: sa.Connection, model: str) -> list[tuple[int, uuid.UUID]]:
    """(segment id, account id) of every active `dbt` segment built from `model`."""
    rows = conn.execute(
        sa.select(segments.c.segment_id, segments.c.account_id)
        .where(
            segments.c.kind == "dbt",
            segments.c.dbt_model == model,
            segments.c.status == ACTIVE,
        )
        .order_by(segments.c.segment_id)
    ).all()
    return [(int(r.segment_id), r.account_id) for r in rows]


def refresh_dbt_memberships(
    engine: sa.Engine, ch: Client, *, model: DbtSegmentModel, computed_at: datetime
) -> list[tuple[int, MembershipResult]]:
    """Refresh every active segment built from `model` (its table just built), one account each."""
    problem = model_problem(model)
    if problem is not None:
        raise ValueError(problem)
    with engine.connect() as conn:
        targets = active_dbt_segments(conn, model.model)
    if targets:
        ensure_segment_tables(ch)
    return [
        (segment_id, refresh_dbt_segment(engine, ch, segment_id, computed_at, ensure=False))
        for segment_id, _ in targets
    ]


def close_orphan_memberships(engine: sa.Engine, ch: Client) -> list[int]:
    """Empty the current membership of segments deleted or retired in Postgres; history kept.

    The segments holding members are the partitions of `segment_membership` (read from
    `system.parts`, cheap at any size); each one that is no longer an active segment has its
    members removed and its open stays closed now (`drop_segment_membership`), so point-in-time
    answers end where the segment did. Returns the segment ids emptied.
    """
    held = {
        int(r[0])
        for r in ch.query(
            "select distinct partition_id from system.parts where database = currentDatabase()"
            " and table = {t:String} and active",
            parameters={"t": MEMBERSHIP_TABLE},
        ).result_rows
        if str(r[0]).isdigit()
    }
    if not held:
        return []
    with engine.connect() as conn:
        active = set(
            conn.execute(
                sa.select(segments.c.segment_id).where(
                    segments.c.segment_id.in_(sorted(held)), segments.c.status == ACTIVE
                )
            ).scalars()
        )
    emptied = []
    for segment_id in sorted(held - active):
        rows = ch.query(
            f"select account_id from `{MEMBERSHIP_TABLE}` where segment_id = {{s:Int64}} limit 1",
            parameters={"s": segment_id},
        ).result_rows
        if rows:
            drop_segment_membership(ch, rows[0][0], segment_id)
            emptied.append(segment_id)
    return emptied
