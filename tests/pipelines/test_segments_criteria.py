"""Criteria segments in Dagster: the sensor keeps one partition per segment, the asset computes it,
the cleanup sensor empties the membership of a deleted segment.

A real Dagster instance (ephemeral) holds the dynamic partitions; the sensor reads the real app
database; the asset writes membership into the local ClickHouse (contacts replicated first).
"""

from __future__ import annotations

import json
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.run import replicate_all
from murmur.analytics.segments import OPEN_END
from murmur.analytics.tables import CONTACT_PII, CONTACTS
from murmur.db.tables import segments
from murmur.domain.dbt_segments import CRITERIA_PARTITIONS
from murmur.settings import Settings
from pipelines.defs.segments.assets import CRITERIA_KEY, criteria_segments
from pipelines.defs.segments.sensors import (
    build_criteria_segments_sensor,
    build_membership_cleanup_sensor,
)
from pipelines.lib.resources import PostgresResource
from tests.murmur.conftest import MakeAccount
from tests.pipelines.history import add_contact
from tests.pipelines.refresh import database_resources

pytestmark = pytest.mark.integration

PRO = {"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]}


def _criteria(engine: sa.Engine, account_id: uuid.UUID, definition: object) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                segments.insert()
                .values(account_id=account_id, name="pro", kind="criteria", definition=definition)
                .returning(segments.c.segment_id)
            ).scalar_one()
        )


def _members(ch: Client, segment_id: int) -> set[int]:
    rows = ch.query(
        "select contact_id from segment_membership where segment_id = {s:Int64}",
        parameters={"s": segment_id},
    ).result_rows
    return {int(r[0]) for r in rows}


def _tick(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None, url: str
) -> dg.SensorResult | dg.SkipReason:
    """One sensor evaluation; its partition requests are applied as the daemon would."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": PostgresResource(url=url)}
    )
    result = sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(CRITERIA_PARTITIONS, list(request.partition_keys))
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(CRITERIA_PARTITIONS, key)
    assert isinstance(result, dg.SensorResult | dg.SkipReason)
    return result


@pytest.mark.slow
def test_the_sensor_adds_and_removes_partitions_and_the_asset_writes_membership(
    analytics_settings: Settings, ch: Client, db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    url = analytics_settings.require("postgres_url")
    account_id, _ = make_account()
    with db_engine.begin() as conn:
        pros = {
            add_contact(conn, account_id, f"p{i}@acme.example", custom_fields={"plan": "pro"})
            for i in range(3)
        }
        free = add_contact(conn, account_id, "f@acme.example", custom_fields={"plan": "free"})
    replicate_all(url, ch, (CONTACTS, CONTACT_PII))
    first = _criteria(db_engine, account_id, PRO)
    second = _criteria(db_engine, account_id, {"all": []})

    instance = dg.DagsterInstance.ephemeral()
    sensor = build_criteria_segments_sensor("criteria_segments_job")
    tick = _tick(sensor, instance, None, url)
    assert isinstance(tick, dg.SensorResult)
    assert {r.partition_key for r in tick.run_requests or []} >= {str(first), str(second)}
    assert {str(first), str(second)} <= set(instance.get_dynamic_partitions(CRITERIA_PARTITIONS))
    cursor = tick.cursor

    # nothing changed: the next tick skips
    again = _tick(sensor, instance, cursor, url)
    assert isinstance(again, dg.SkipReason)

    # materializing the partition writes the segment's membership, with its metadata
    resources = database_resources(analytics_settings)
    result = dg.materialize(
        [criteria_segments], partition_key=str(first), instance=instance, resources=resources
    )
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == CRITERIA_KEY]
    metadata = event.materialization.metadata
    assert (metadata["size"].value, metadata["added"].value, metadata["removed"].value) == (3, 3, 0)
    assert metadata["computed_at"].value
    assert _members(ch, first) == pros
    with db_engine.connect() as conn:
        size = conn.execute(sa.select(segments.c.size).where(segments.c.segment_id == first))
        assert size.scalar_one() == 3  # mirrored for the API
    everyone = dg.materialize(
        [criteria_segments], partition_key=str(second), instance=instance, resources=resources
    )
    assert everyone.success and _members(ch, second) == {*pros, free}

    # a changed definition is requested again; a deleted segment loses its partition
    with db_engine.begin() as conn:
        conn.execute(
            segments.update()
            .where(segments.c.segment_id == first)
            .values(definition={"all": []}, updated_at=sa.func.now())
        )
        conn.execute(segments.delete().where(segments.c.segment_id == second))
    changed = _tick(sensor, instance, cursor, url)
    assert isinstance(changed, dg.SensorResult)
    assert [r.partition_key for r in changed.run_requests or []] == [str(first)]
    partitions = set(instance.get_dynamic_partitions(CRITERIA_PARTITIONS))
    assert str(first) in partitions and str(second) not in partitions
    assert str(second) not in json.loads(changed.cursor or "{}")

    # the deleted segment's members are emptied by the cleanup sensor; its history is closed
    cleanup = build_membership_cleanup_sensor()
    context = dg.build_sensor_context(instance=instance, resources=resources)
    skip = cleanup(context)
    assert isinstance(skip, dg.SkipReason) and f"[{second}]" in str(skip.skip_message)
    assert _members(ch, second) == set() and _members(ch, first) == pros
    open_stays = ch.command(
        "select count() from segment_membership_history final"
        " where segment_id = {s:Int64} and valid_to = {end:DateTime64(6, 'UTC')}",
        parameters={"s": second, "end": OPEN_END},
    )
    closed = ch.command(
        "select count() from segment_membership_history final where segment_id = {s:Int64}",
        parameters={"s": second},
    )
    assert (int(open_stays), int(closed)) == (0, 4)
