"""In the scheduled refresh (var tests_scope=refreshed) the marts' tests read the rebuilt rows.

They still fail on what a refresh can break: a newest row repeating the key of an older row
(across the boundary of the rows rebuilt), a newest row with a value out of the accepted set.
Without the var (a full build, a plain `dbt build`) they read every row.
"""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import SPECS
from pipelines.lib.dbt.partitions import vars_args
from tests.dbt.conftest import Dbt
from tests.dbt.test_incremental_refresh import AS_OF, _build, _first_history, _second_history

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REFRESHED = vars_args({**AS_OF, "tests_scope": "refreshed"})
NEWEST = "(select max(built_at) from fct_email_sends)"


def _copy_as_newest(ch: Client, record: int, status: str | None = None) -> None:
    """Append a copy of send `record`'s row stamped as the newest build (with `status`)."""
    names = [r[0] for r in ch.query("describe table fct_email_sends").result_rows]
    values = {"built_at": NEWEST, **({"status": f"'{status}'"} if status else {})}
    columns = ", ".join(values.get(n, f"`{n}`") for n in names)
    ch.command(
        f"insert into fct_email_sends select {columns} from fct_email_sends"
        f" where email_record_id = {record}"
    )


def test_refreshed_scope_still_catches_what_a_refresh_can_break(ch: Client, dbt: Dbt) -> None:
    ensure_tables(ch, SPECS)
    _first_history(ch)
    _build(dbt)
    _second_history(ch)
    dbt("build", "--exclude", "tag:segment", *REFRESHED)  # the refresh, its tests scoped

    # send 1 was not rebuilt: a newest row with its key duplicates an older row
    rebuilt = ch.query(f"select email_record_id from fct_email_sends where built_at = {NEWEST}")
    assert 1 not in {r[0] for r in rebuilt.result_rows}
    _copy_as_newest(ch, 1)
    with pytest.raises(AssertionError):
        dbt("test", "--select", "fct_email_sends,test_name:unique", *REFRESHED)
    ch.command(f"delete from fct_email_sends where email_record_id = 1 and built_at = {NEWEST}")
    dbt("test", "--select", "fct_email_sends,test_name:unique", *REFRESHED)

    # a newest row with an unknown status fails; as an older row (tested when it was built),
    # only the full scope reads it
    _copy_as_newest(ch, 2, status="bogus")
    with pytest.raises(AssertionError):
        dbt("test", "--select", "fct_email_sends,test_name:accepted_values", *REFRESHED)
    ch.command(
        "alter table fct_email_sends update built_at = toDateTime64(0, 6, 'UTC')"
        " where status = 'bogus' settings mutations_sync = 2"
    )
    dbt("test", "--select", "fct_email_sends,test_name:accepted_values", *REFRESHED)
    with pytest.raises(AssertionError):
        dbt("test", "--select", "fct_email_sends,test_name:accepted_values", *vars_args(AS_OF))
