"""A new SQL segment file becomes a Dagster asset and a targetable segment after a reload.

The dbt project is copied to a temp dir; "reload" is what a code-location reload does: parse the
manifest again and build the segments definitions from it. The new model's membership is then
materialized on the local stack, and removing the file retires the segment (history kept).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client
from dagster_dbt import DbtProject

from murmur.db.tables import segments
from murmur.settings import Settings
from pipelines.defs.dbt.assets import build_dbt_assets
from pipelines.defs.dbt.project import PARSE_PROFILES_DIR, dbt_executable, dbt_project, parse
from pipelines.defs.replication.assets import postgres_replication
from pipelines.defs.segments.assets import CRITERIA_KEY, membership_key
from pipelines.defs.segments.definitions import build_segments_defs
from pipelines.defs.segments.sensors import sync_from_manifest
from tests.murmur.conftest import MakeAccount
from tests.pipelines.history import add_contact
from tests.pipelines.refresh import analytics_resources

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
MODEL = "vip_contacts"
SQL = """\
with contacts as (
    select * from {{ ref('stg_postgres__contacts') }}
),

final as (
    select account_id, contact_id
    from contacts
    where JSONExtractString(custom_fields, 'plan') = 'vip'
)

select * from final
"""
YAML = """\
version: 2
models:
  - name: vip_contacts
    description: Contacts on the VIP plan.
    config:
      meta: {{name: "VIP contacts", owner: ana@acme.example, account: "{account}"}}
    columns:
      - {{name: account_id, data_type: UUID}}
      - {{name: contact_id, data_type: Int64}}
"""
CRON = "*/5 * * * *"


def _keys(defs: dg.Definitions) -> set[dg.AssetKey]:
    return set(defs.resolve_asset_graph().get_all_asset_keys())


def _reload(project: DbtProject, resources: dict[str, Any]) -> dg.Definitions:
    """What a code-location reload does: parse again, build the definitions from the manifest."""
    parse(project)
    segments_defs = build_segments_defs(project, CRON)
    return dg.Definitions.merge(segments_defs, dg.Definitions(resources=resources))


def _segment_rows(engine: sa.Engine, account_id: uuid.UUID) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(segments).where(
                    segments.c.account_id == account_id, segments.c.dbt_model == MODEL
                )
            )
        )


def test_a_new_segment_file_is_an_asset_and_a_segment_and_its_removal_retires_it(
    analytics_settings: Settings,
    ch: Client,
    db_engine: sa.Engine,
    make_account: MakeAccount,
    tmp_path: Path,
) -> None:
    account_id, _ = make_account()
    other_id, _ = make_account()
    dbt_project()  # writes the parse profile
    copy = tmp_path / "dbt_project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=copy, profiles_dir=PARSE_PROFILES_DIR)
    url = analytics_settings.require("postgres_url")
    resources = analytics_resources(analytics_settings, project, dbt_executable())

    before = _reload(project, resources)
    assert dg.AssetKey([MODEL]) not in _keys(before)
    assert dg.AssetKey(["engaged_last_30_days"]) in _keys(before)  # the shipped examples

    # a SQL user adds a file; Dagster reloads
    (copy / "models" / "segments" / f"{MODEL}.sql").write_text(SQL)
    (copy / "models" / "segments" / f"{MODEL}.yml").write_text(YAML.format(account=account_id))
    after = _reload(project, resources)
    assert {dg.AssetKey([MODEL]), membership_key(MODEL)} <= _keys(after)
    graph = after.resolve_asset_graph()
    assert graph.get(membership_key(MODEL)).parent_keys == {dg.AssetKey([MODEL])}

    # ... and it is a segment of its account, registered once however often the sync runs
    summary = sync_from_manifest(url, project.manifest_path)
    assert "1 created" in summary, summary
    sync_from_manifest(url, project.manifest_path)
    [row] = _segment_rows(db_engine, account_id)
    assert (row.kind, row.name, row.status) == ("dbt", "VIP contacts", "active")

    with db_engine.begin() as conn:
        vips = {
            add_contact(conn, account_id, f"v{i}@acme.example", custom_fields={"plan": "vip"})
            for i in range(2)
        }
        add_contact(conn, account_id, "basic@acme.example", custom_fields={"plan": "basic"})
        add_contact(conn, other_id, "vip@other.example", custom_fields={"plan": "vip"})

    unpartitioned, _ = build_dbt_assets(project)
    segment_assets = [
        a
        for a in after.assets or []
        if isinstance(a, dg.AssetsDefinition) and CRITERIA_KEY not in a.keys
    ]
    selection = dg.AssetSelection.assets(
        *postgres_replication.keys,
        dg.AssetKey(["stg_postgres__contacts"]),
        dg.AssetKey([MODEL]),
        membership_key(MODEL),
    )
    result = dg.materialize(
        [postgres_replication, unpartitioned, *segment_assets],
        selection=selection,
        resources=resources,
    )
    assert result.success
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == membership_key(MODEL)
    ]
    metadata = event.materialization.metadata
    assert (metadata["size"].value, metadata["added"].value, metadata["removed"].value) == (2, 2, 0)
    members = ch.query(
        "select contact_id from segment_membership where segment_id = {s:Int64}",
        parameters={"s": row.segment_id},
    ).result_rows
    assert {r[0] for r in members} == vips  # the other account's VIP is not a member

    # the file is removed: the segment is retired, its history kept
    (copy / "models" / "segments" / f"{MODEL}.sql").unlink()
    (copy / "models" / "segments" / f"{MODEL}.yml").unlink()
    gone = _reload(project, resources)
    assert membership_key(MODEL) not in _keys(gone)
    assert "1 retired" in sync_from_manifest(url, project.manifest_path)
    [row] = _segment_rows(db_engine, account_id)
    assert row.status == "retired"
    history = ch.command(
        "select count() from segment_membership_history final where segment_id = {s:Int64}",
        parameters={"s": row.segment_id},
    )
    assert int(history) == 2
