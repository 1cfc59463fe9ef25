"""Pure helpers of the analytics pipelines: partition vars, the dbt translator, the dbt profile."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from murmur.analytics.dbt_profile import PROFILE, profiles_yml, write_profiles_dir
from murmur.settings import SettingsError, get_settings
from pipelines.lib.dbt.partitions import partition_window_vars, vars_args
from pipelines.lib.dbt.translator import DAILY_GROUP, GROUP, MurmurDbtTranslator

UTC = dt.UTC


def test_one_daily_partition_is_a_one_day_window() -> None:
    start = dt.datetime(2026, 11, 2, tzinfo=UTC)
    assert partition_window_vars(start, start + dt.timedelta(days=1)) == {
        "min_date": "2026-11-02",
        "max_date": "2026-11-03",
    }


def test_a_backfill_range_is_one_window_with_an_exclusive_end() -> None:
    start = dt.datetime(2026, 10, 30, tzinfo=UTC)
    end = dt.datetime(2026, 11, 2, tzinfo=UTC)
    assert partition_window_vars(start, end) == {"min_date": "2026-10-30", "max_date": "2026-11-02"}


def test_a_window_ending_inside_a_day_includes_that_day() -> None:
    start = dt.datetime(2026, 11, 2, 5, tzinfo=UTC)
    end = dt.datetime(2026, 11, 2, 6, tzinfo=UTC)
    assert partition_window_vars(start, end) == {"min_date": "2026-11-02", "max_date": "2026-11-03"}


def test_an_empty_window_is_refused() -> None:
    at = dt.datetime(2026, 11, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="empty partition window"):
        partition_window_vars(at, at)


def test_vars_args_are_json_for_dbt_and_nothing_without_vars() -> None:
    args = vars_args({"min_date": "2026-11-02", "max_date": "2026-11-03"})
    assert args[0] == "--vars"
    assert json.loads(args[1]) == {"max_date": "2026-11-03", "min_date": "2026-11-02"}
    assert vars_args({}) == []


def test_translator_maps_sources_onto_the_replication_and_ingestion_assets() -> None:
    translator = MurmurDbtTranslator()
    raw = {"resource_type": "source", "source_name": "postgres", "name": "raw_contacts"}
    events = {"resource_type": "source", "source_name": "ingestion", "name": "events"}
    assert translator.get_asset_key(raw) == dg.AssetKey(["replication", "raw_contacts"])
    assert translator.get_asset_key(events) == dg.AssetKey(["ingestion", "events"])


def test_translator_groups_daily_models_apart() -> None:
    translator = MurmurDbtTranslator()
    assert translator.get_group_name({"tags": ["daily"]}) == DAILY_GROUP
    assert translator.get_group_name({"tags": []}) == GROUP


def test_the_dbt_profile_comes_from_the_settings(tmp_path: Path) -> None:
    settings = get_settings(
        clickhouse_url="https://reader:s3cr%3At@ch.internal:8443",
        clickhouse_database="analytics",
        state_dir=tmp_path,
    )
    profile = yaml.safe_load(profiles_yml(settings))[PROFILE]
    output = profile["outputs"][profile["target"]]
    assert output["host"] == "ch.internal" and output["port"] == 8443
    assert output["user"] == "reader" and output["password"] == "s3cr:t"
    assert output["secure"] is True and output["schema"] == "analytics"
    directory = write_profiles_dir(settings)
    path = directory / "profiles.yml"
    assert directory == tmp_path / "dbt"
    assert yaml.safe_load(path.read_text()) == yaml.safe_load(profiles_yml(settings))
    assert path.stat().st_mode & 0o077 == 0  # the password is readable by its owner only


def test_the_analytics_crons_must_have_five_fields() -> None:
    assert get_settings(analytics_cron="0 * * * *").analytics_cron == "0 * * * *"
    with pytest.raises(SettingsError, match="MURMUR_ANALYTICS_CRON"):
        get_settings(analytics_cron="every 5 minutes")
    assert get_settings(analytics_expectations_cron="5 * * * *").analytics_expectations_cron
    with pytest.raises(SettingsError, match="MURMUR_ANALYTICS_EXPECTATIONS_CRON"):
        get_settings(analytics_expectations_cron="hourly")
    with pytest.raises(SettingsError, match="MURMUR_ANALYTICS_DBT_CHECKS_CRON"):
        get_settings(analytics_dbt_checks_cron="* *")


def test_schedules_use_the_configured_cron_and_target_yesterdays_partition() -> None:
    from pipelines.defs.analytics.schedules import build_schedules

    refresh, daily, expectations, dbt_checks = build_schedules("*/15 * * * *")
    assert refresh.job_name == "analytics_refresh"
    assert expectations.job_name == "analytics_expectations"
    assert dbt_checks.job_name == "analytics_dbt_checks"
    assert refresh.cron_schedule == "*/15 * * * *" and daily.cron_schedule == "10 0 * * *"
    assert expectations.cron_schedule == "17 * * * *" and dbt_checks.cron_schedule == "47 * * * *"
    _, _, expectations, dbt_checks = build_schedules(
        "*/15 * * * *", expectations_cron="5 * * * *", dbt_checks_cron="35 */2 * * *"
    )
    assert expectations.cron_schedule == "5 * * * *" and dbt_checks.cron_schedule == "35 */2 * * *"
    assert {s.name for s in (refresh, expectations, dbt_checks)} == {
        "analytics_refresh_schedule", "analytics_expectations_schedule",
        "analytics_dbt_checks_schedule",
    }  # fmt: skip
    assert refresh.default_status == dg.DefaultScheduleStatus.RUNNING
    # Regression: it asked for today's partition, which does not exist until the day is over
    at = dt.datetime(2026, 11, 2, 0, 10, tzinfo=UTC)
    request = daily(dg.build_schedule_context(scheduled_execution_time=at))
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2026-11-01"
    assert request.run_key == "2026-11-01"
    from pipelines.defs.analytics.schedules import yesterdays_partition
    from pipelines.defs.dbt.partitions import daily_partitions

    # the newest partition that exists now is the one a tick now requests
    now = dt.datetime.now(UTC)
    assert yesterdays_partition(now) == daily_partitions.get_last_partition_key()


def test_dbt_runs_keep_one_target_dir_per_profile_and_vars(tmp_path: Path) -> None:
    from pipelines.lib.dbt.target import locked_target, target_dir

    settings = get_settings(
        clickhouse_url="http://ch.internal:8123", clickhouse_database="a", state_dir=tmp_path
    )
    window = {"min_date": "2026-11-02", "max_date": "2026-11-03"}
    assert target_dir(settings) == target_dir(settings, {})  # partial parsing is reused
    assert target_dir(settings).parent == tmp_path / "dbt"
    assert target_dir(settings, window) != target_dir(settings)  # other vars: another parse
    other = get_settings(
        clickhouse_url="http://ch.internal:8123", clickhouse_database="b", state_dir=tmp_path
    )
    assert target_dir(other) != target_dir(settings)  # another profile: another parse
    with locked_target(settings, window) as target:
        assert target == target_dir(settings, window) and target.is_dir()


def test_the_cheap_behavior_flag_source_names_the_module_dbt_itself_names() -> None:
    """dbt's own `_default_source` (inspect.stack()) and ours agree for flags built here."""
    from dbt_common.behavior_flags import Behavior, BehaviorFlagRendered

    from pipelines.lib.dbt import runner

    flags = [{"name": "a_flag", "default": False, "description": "a flag"}]
    runner.cheap_behavior_flag_source()
    runner.cheap_behavior_flag_source()  # idempotent: dbt's own is kept once
    ours = BehaviorFlagRendered.__dict__["_default_source"]
    assert ours.__func__ is runner._frame_module_source
    got = Behavior(flags, {}).a_flag._behavior_change_event.flag_source
    (dbt_own,) = runner._DBT_DEFAULT_SOURCE
    try:
        BehaviorFlagRendered._default_source = dbt_own  # type: ignore[method-assign]
        expected = Behavior(flags, {}).a_flag._behavior_change_event.flag_source
    finally:
        BehaviorFlagRendered._default_source = ours  # type: ignore[method-assign]
    assert got == expected == __name__


def test_the_cheap_behavior_flag_source_leaves_a_dbt_whose_internals_moved_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dbt-common whose `_default_source` is no staticmethod keeps it; dbt still runs."""
    from dbt_common.behavior_flags import BehaviorFlagRendered

    from pipelines.lib.dbt import runner

    def moved(*_args: object) -> str:
        return "moved"

    monkeypatch.setattr(BehaviorFlagRendered, "_default_source", moved)
    runner.cheap_behavior_flag_source()  # no KeyError / AttributeError
    assert BehaviorFlagRendered.__dict__["_default_source"] is moved
