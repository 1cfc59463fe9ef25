"""How soon a due campaign's shard runs start: the sensor's cadence and cost, the runs' priority."""

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa
from dagster._daemon.sensor import MIN_INTERVAL_LOOP_TIME

from pipelines.definitions import defs
from pipelines.defs.sending.definitions import JOB, build_sending_defs
from pipelines.defs.sending.sensors import SEND_PRIORITY, SENSOR_INTERVAL
from pipelines.lib.resources import ClickHouseResource, PostgresResource

pytestmark = pytest.mark.integration


def _sensor() -> dg.SensorDefinition:
    sending = dg.Definitions.merge(
        build_sending_defs(2),
        dg.Definitions(
            resources={"postgres": PostgresResource(), "clickhouse": ClickHouseResource()}
        ),
    )
    return sending.resolve_sensor_def("due_campaigns_sensor")


def test_the_sensor_is_evaluated_on_every_loop_of_the_sensor_daemon() -> None:
    # Regression: a minimum interval equal to the daemon's 5 s loop made every other loop fall
    # a few ms short and skip the sensor: measured ticks 5 to 10 s apart, so a due campaign
    # waited up to 10 s for its tick.
    sensor = _sensor()
    assert sensor.minimum_interval_seconds is not None
    assert sensor.minimum_interval_seconds == SENSOR_INTERVAL < MIN_INTERVAL_LOOP_TIME


def test_every_send_run_goes_ahead_of_default_priority_runs_in_the_queue() -> None:
    # Regression: the send's runs queued behind the criteria-segment runs a refresh had just
    # queued, with the same (default) priority.
    job = defs.resolve_job_def(JOB)
    assert job.run_tags["dagster/priority"] == SEND_PRIORITY
    assert int(SEND_PRIORITY) > 0
    instance = dg.DagsterInstance.ephemeral()
    run = instance.create_run_for_job(job, run_config={}, tags=job.run_tags)
    assert run.tags["dagster/priority"] == SEND_PRIORITY


def _sessions(url: str, database: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        row = conn.execute(
            "select sessions from pg_stat_database where datname = %s", (database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_sensor_ticks_reuse_one_connection_instead_of_opening_one_each(
    migrated_db_url: str,
) -> None:
    # Regression: every tick (every 5 s, idle too) built an engine, opened a Postgres
    # connection (a backend process) and disposed of it: about 7 ms of CPU against 1.4.
    sensor = _sensor()
    postgres = PostgresResource(url=migrated_db_url)
    database = sa.make_url(migrated_db_url).database
    assert database is not None
    admin = sa.make_url(migrated_db_url).set(database="postgres", drivername="postgresql")
    admin_url = admin.render_as_string(hide_password=False)

    def tick() -> None:
        context = dg.build_sensor_context(resources={"postgres": postgres})
        assert isinstance(sensor(context), dg.SkipReason)

    tick()  # the first tick connects
    before = _sessions(admin_url, database)
    for _ in range(5):
        tick()
    assert _sessions(admin_url, database) == before
