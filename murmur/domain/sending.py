"""The send ledger's rules: who may receive a campaign, the audience snapshot, and counters.

The snapshot freezes the audience in one transaction: the segment's members right now minus
everything `murmur.domain.suppression.can_send` refuses, one `queued` row per (campaign, contact)
in `emails`. `sendable()` is that gate written as one SQL predicate so it applies to a whole
segment at once; tests check it agrees with `can_send` contact by contact.

"The segment's members right now": a criteria segment of contact conditions only is evaluated
live in Postgres (a contact added since the last replication is in the audience); given a
ClickHouse client its membership and history are refreshed too, so "who was in S when C went
out" has an answer. A criteria segment with event, engagement or membership conditions is
refreshed in ClickHouse, and a dbt segment's last membership is used; their member ids are
streamed in blocks into a temporary table (COPY, bounded memory) that the Postgres gate joins.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from sqlalchemy.dialects.postgresql import ARRAY, insert

from murmur.analytics.segments import (
    ensure_segment_tables,
    event_rollup_ready,
    segment_stats,
    stream_member_ids,
    write_membership,
)
from murmur.db.tables import campaigns, contacts, emails, erasures, suppressions
from murmur.domain.audience import segment_query
from murmur.domain.campaign_checks import CampaignNotReady
from murmur.domain.campaigns import dispatch_check, fail_campaign, transition
from murmur.domain.segment_criteria import needs_clickhouse
from murmur.domain.segment_refresh import (
    SegmentRefreshError,
    compile_row,
    load_segment,
    record_refresh,
)
from murmur.domain.suppression import ERASED_PREFIX

log = logging.getLogger("murmur.sending")
STATES = ("queued", "sending", "sent", "failed", "skipped")


class DispatchError(RuntimeError):
    """The campaign cannot be dispatched (not found, wrong status, no segment)."""


def _digest(email: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    return sa.func.encode(sa.func.sha256(sa.func.convert_to(email, "UTF8")), "hex")


def sendable(account_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """`can_send` as a predicate over `contacts`: subscribed, not suppressed, not erased."""
    suppressed = sa.exists().where(
        suppressions.c.account_id == account_id,
        suppressions.c.email.in_([contacts.c.email, ERASED_PREFIX + _digest(contacts.c.email)]),
    )
    erased = sa.exists().where(
        erasures.c.account_id == account_id,
        erasures.c.email_sha256 == _digest(contacts.c.email),
    )
    return sa.and_(contacts.c.status == "subscribed", ~suppressed, ~erased)


def campaign_row(conn: sa.Connection, campaign_id: int, lock: bool = False) -> dict[str, Any]:
    query = sa.select(campaigns).where(campaigns.c.campaign_id == campaign_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().one_or_none()
    if row is None:
        raise DispatchError(f"campaign {campaign_id} not found")
    return dict(row)


_MEMBERS = sa.table("snapshot_members", sa.column("contact_id", sa.BigInteger))


def _refresh_criteria(
    conn: sa.Connection, ch: Client, segment: dict[str, Any], now: datetime
) -> None:
    """Recompute a criteria segment's ClickHouse membership (and history) as of `now`.

    Event conditions the ingest-time rollup answers read it (as fresh as ingestion), as a
    scheduled refresh does, not the marts (as fresh as the last dbt run).
    """
    try:
        compiled = compile_row(segment, now, rollup=event_rollup_ready(ch))
    except SegmentRefreshError as exc:
        raise DispatchError(str(exc)) from None
    result = write_membership(
        ch,
        account_id=segment["account_id"],
        segment_id=int(segment["segment_id"]),
        select_sql=compiled.sql,
        parameters=compiled.parameters,
        computed_at=now,
    )
    record_refresh(conn, int(segment["segment_id"]), result)


def _record_history(
    conn: sa.Connection, ch: Client, segment: dict[str, Any], now: datetime
) -> None:
    """Best effort: the audience does not depend on it, so a ClickHouse failure only warns."""
    try:
        ensure_segment_tables(ch)
        with conn.begin_nested():  # record_refresh's update is undone if the write fails
            _refresh_criteria(conn, ch, segment, now)
    except ClickHouseError as exc:
        log.warning(
            "segment %s: membership history not recorded (ClickHouse: %s)",
            segment["segment_id"],
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )


def _clickhouse_members(
    conn: sa.Connection, ch: Client, segment: dict[str, Any], now: datetime
) -> sa.FromClause:
    """The segment's current ClickHouse membership, copied into a temporary table."""
    account_id, segment_id = segment["account_id"], int(segment["segment_id"])
    ensure_segment_tables(ch)
    if segment["kind"] == "criteria":
        _refresh_criteria(conn, ch, segment, now)
    elif segment_stats(ch, account_id, segment_id).computed_at is None:
        raise DispatchError(
            f"segment {segment_id} ({segment['kind']}) has no membership yet: materialize it first"
        )
    conn.execute(
        sa.text(
            "create temporary table if not exists snapshot_members"
            " (contact_id bigint primary key) on commit drop"
        )
    )
    conn.execute(sa.text("truncate snapshot_members"))
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy("copy snapshot_members (contact_id) from stdin") as copy:
        for block in stream_member_ids(ch, account_id, segment_id):
            copy.write("".join(f"{c}\n" for c in block))
    conn.execute(sa.text("analyze snapshot_members"))
    return _MEMBERS


def snapshot(
    conn: sa.Connection,
    account_id: uuid.UUID,
    campaign: dict[str, Any],
    clickhouse: Client | None = None,
    now: datetime | None = None,
) -> int:
    """Write the campaign's audience into the ledger as `queued` rows; rows added (idempotent)."""
    if campaign["segment_id"] is None:
        raise DispatchError(f"campaign {campaign['campaign_id']} has no segment")
    try:
        segment = load_segment(conn, campaign["segment_id"], account_id)
    except SegmentRefreshError as exc:
        raise DispatchError(f"campaign {campaign['campaign_id']}: {exc} in the account") from None
    if segment["status"] != "active":
        raise DispatchError(f"segment {segment['segment_id']} is {segment['status']}")
    now = now or datetime.now(UTC)
    if clickhouse is not None and (
        segment["kind"] != "criteria" or needs_clickhouse(segment["definition"])
    ):
        members = _clickhouse_members(conn, clickhouse, segment, now)
    else:
        # Contact fields only: evaluated live in Postgres, so a contact added since the last
        # replication is in the audience. The ClickHouse membership is still refreshed (for
        # the segment's history), from the replicated contacts.
        if clickhouse is not None:
            _record_history(conn, clickhouse, segment, now)
        members = segment_query(conn, account_id, campaign["segment_id"]).subquery()
    source = (
        sa.select(
            sa.literal(account_id, type_=contacts.c.account_id.type),
            sa.literal(campaign["campaign_id"], type_=sa.BigInteger),
            contacts.c.contact_id,
        )
        .join(members, members.c.contact_id == contacts.c.contact_id)
        .where(contacts.c.account_id == account_id, sendable(account_id))
        .order_by(contacts.c.contact_id)
    )
    stmt = insert(emails).from_select(["account_id", "campaign_id", "contact_id"], source)
    stmt = stmt.on_conflict_do_nothing(index_elements=[emails.c.campaign_id, emails.c.contact_id])
    return len(conn.execute(stmt.returning(emails.c.email_record_id)).all())


def refuse_unless_compliant(engine: sa.Engine, campaign_id: int, actor: str = "sender") -> None:
    """Re-check a scheduled campaign before its first message; fail it instead of sending.

    What was checked at scheduling can be undone afterwards (the account's postal address removed,
    the sender identity blanked, the pinned template version unrenderable). The checks render,
    so they run with no lock held; a failing campaign is moved to `cancelled` with the reasons in
    `status_reason` (committed), and DispatchError names them. A campaign already `sending` (a
    re-run after a crash, another shard) passed these checks when it started.
    """
    with engine.connect() as conn:
        campaign = campaign_row(conn, campaign_id)
        if campaign["status"] != "scheduled":
            return
        try:
            dispatch_check(conn, campaign["account_id"], campaign_id)
            return
        except CampaignNotReady as exc:
            reason = str(exc)
    with engine.begin() as conn:
        fail_campaign(conn, campaign["account_id"], campaign_id, reason, actor)
    raise DispatchError(
        f"campaign {campaign_id} failed its dispatch checks and was stopped: {reason}"
    )


def start_dispatch(
    conn: sa.Connection,
    campaign_id: int,
    actor: str = "sender",
    clickhouse: Client | None = None,
) -> dict[str, Any]:
    """Freeze the audience and move a scheduled campaign to `sending` (one transaction).

    A campaign already `sending` (a re-run, another shard) is returned as it is, snapshotting
    first if no snapshot was recorded. Raises DispatchError for any other status. With
    `clickhouse`, the audience is the segment's ClickHouse membership (see `snapshot`).
    """
    campaign = campaign_row(conn, campaign_id, lock=True)
    account_id = campaign["account_id"]
    if campaign["status"] == "sending" and campaign["snapshot_at"] is not None:
        return campaign
    if campaign["status"] not in ("scheduled", "sending"):
        raise DispatchError(
            f"campaign {campaign_id} is {campaign['status']}: only a scheduled or sending "
            "campaign can be dispatched"
        )
    snapshot(conn, account_id, campaign, clickhouse)
    now = sa.func.now()
    if campaign["status"] == "scheduled":
        row = transition(conn, account_id, campaign_id, "sending", actor, snapshot_at=now)
        if row is None:  # the campaign row was locked above: only a concurrent delete gets here
            raise DispatchError(f"campaign {campaign_id} disappeared while starting")
        return row
    conn.execute(
        campaigns.update().where(campaigns.c.campaign_id == campaign_id).values(snapshot_at=now)
    )
    return campaign_row(conn, campaign_id)


def counters(conn: sa.Connection, campaign_id: int) -> dict[str, int]:
    """Ledger counts of one campaign: each state, `total` and `possible_duplicates`."""
    rows = conn.execute(
        sa.select(
            emails.c.status,
            sa.func.count(),
            sa.func.count().filter(emails.c.possible_duplicate),
        )
        .where(emails.c.campaign_id == campaign_id)
        .group_by(emails.c.status)
    ).all()
    result = dict.fromkeys(STATES, 0)
    duplicates = 0
    for status, count, dups in rows:
        result[status] = int(count)
        duplicates += int(dups)
    result["total"] = sum(result[s] for s in STATES)
    result["possible_duplicates"] = duplicates
    return result


def finish_if_done(conn: sa.Connection, campaign_id: int, actor: str = "sender") -> bool:
    """Move a `sending` campaign to `sent` once no ledger row is queued or sending."""
    campaign = campaign_row(conn, campaign_id, lock=True)
    if campaign["status"] != "sending":
        return bool(campaign["status"] == "sent")
    open_rows = conn.execute(
        sa.select(sa.func.count()).where(
            emails.c.campaign_id == campaign_id, emails.c.status.in_(("queued", "sending"))
        )
    ).scalar_one()
    if open_rows:
        return False
    done = counters(conn, campaign_id)
    transition(
        conn,
        campaign["account_id"],
        campaign_id,
        "sent",
        actor,
        possible_duplicates=done["possible_duplicates"],
    )
    return True


def skip_unsendable(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, contact_ids: list[int]
) -> set[int]:
    """Mark `skipped` the claimed rows whose contact became unsendable since the snapshot.

    Returns the skipped email record ids. A contact that no longer exists is skipped too.
    """
    if not contact_ids:
        return set()
    # one array parameter, not an IN list of a batch's ids: compiled once, converted cheaply
    claimed = sa.any_(sa.bindparam("claimed", contact_ids, type_=ARRAY(sa.BigInteger)))
    still_ok = sa.select(contacts.c.contact_id).where(
        contacts.c.account_id == account_id,
        contacts.c.contact_id == claimed,
        sendable(account_id),
    )
    rows = conn.execute(
        emails.update()
        .where(
            emails.c.campaign_id == campaign_id,
            emails.c.status == "sending",
            emails.c.contact_id == claimed,
            emails.c.contact_id.not_in(still_ok.scalar_subquery()),
        )
        .values(status="skipped", error="contact no longer sendable", lease_until=None)
        .returning(emails.c.email_record_id)
    )
    return set(rows.scalars())
