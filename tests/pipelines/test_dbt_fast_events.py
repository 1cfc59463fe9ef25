"""dbt's events built without ParseDict (pipelines/lib/dbt/fast_events.py) are the messages dbt
builds itself: compared on every event of real invocations against the local ClickHouse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.dbt_profile import write_profiles_dir
from murmur.settings import Settings
from pipelines.defs.dbt.project import DBT_DIR
from pipelines.lib.dbt import fast_events
from pipelines.lib.dbt.runner import DbtInvocation, DbtRunError, dbt_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _invoke(settings: Settings, target: Path, command: str, *args: str) -> list[dict[str, Any]]:
    profiles = write_profiles_dir(settings)
    invocation = DbtInvocation(
        dbt_args(command, *args, project_dir=DBT_DIR, profiles_dir=profiles, target=target)
    )
    return list(invocation.events())


def test_every_event_of_real_invocations_is_the_message_dbt_builds(
    analytics_settings: Settings, ch: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dbt_common.events import base_types, event_manager

    fast_events.install()  # what every DbtInvocation does: dbt's own functions kept aside
    assert base_types.BaseEvent.__init__ is fast_events.event_init
    assert event_manager.msg_from_base_event is fast_events.msg_from_base_event  # type: ignore[attr-defined]
    dbt_init = fast_events._DBT_EVENT_INIT[0]
    dbt_msg = fast_events._DBT_MSG_FROM_BASE_EVENT[0]
    # one timestamp for both builds of an envelope
    monkeypatch.setattr(base_types, "get_json_string_utcnow", lambda: "2026-12-02T20:00:00.5Z")
    checked: list[str] = []
    mismatched: list[str] = []

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        fast_events.event_init(self, *args, **dict(kwargs))
        fast = self.pb_msg
        dbt_init(self, *args, **kwargs)  # dbt's own, on the same arguments: kept as the event
        if fast != self.pb_msg:
            mismatched.append(f"{type(self).__name__}: {fast} != {self.pb_msg}")
        checked.append(type(self).__name__)

    def msg(event: Any, level: Any = None) -> Any:
        ours, theirs = fast_events.msg_from_base_event(event, level), dbt_msg(event, level)
        if ours != theirs:
            mismatched.append(f"{type(event).__name__}Msg: {ours} != {theirs}")
        checked.append(f"{type(event).__name__}Msg")
        return theirs

    monkeypatch.setattr(base_types.BaseEvent, "__init__", init)
    monkeypatch.setattr(event_manager, "msg_from_base_event", msg)
    monkeypatch.setattr(fast_events, "install", lambda: None)  # the invocations keep the spies
    _invoke(analytics_settings, tmp_path, "seed")
    with pytest.raises(DbtRunError):  # an error's events too
        _invoke(analytics_settings, tmp_path, "run-operation", "no_such_macro_anywhere")
    assert mismatched == []
    names = set(checked)
    # statements with their node info (a Struct of meta), results, errors, their envelopes
    for name in (
        "AdapterEventDebug", "NodeStart", "NodeFinished", "LogSeedResult", "LogSeedResultMsg",
        "RunningOperationCaughtError", "RunningOperationCaughtErrorMsg",
    ):  # fmt: skip
        assert name in names, " ".join(sorted(names))
    assert len(checked) > 100


def test_a_value_only_parsedict_converts_is_converted_as_dbt_does() -> None:
    from dbt.adapters.events.types import SQLQueryStatus

    fast_events.install()
    # elapsed is a float field: a string of a number is ParseDict's to convert
    event = SQLQueryStatus(status="OK", elapsed="0.25")
    assert event.pb_msg.elapsed == 0.25
    assert SQLQueryStatus(status="OK", elapsed=0.25).pb_msg == event.pb_msg
