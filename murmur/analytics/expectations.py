"""Great Expectations suites on the analytics data in ClickHouse: contacts and events.

Each suite is a Great Expectations `ExpectationSuite` validated by GX's pandas engine over the
rows of one ClickHouse query. The rows are fetched in slices of about `chunk_rows` so memory
stays bounded on 10M events: a slice is `cityHash64(<slice key>) % slices = i`, and the slice
key keeps every group a cross-row expectation compares in one slice (contacts are sliced by
account, so "no duplicate address per account" is exact). Results add up over the slices.

Contact addresses are personal data: results name offending rows by id (`contact_id`,
`event_id`), never by value. Importing great_expectations takes seconds, so it happens only when
a suite runs, never when the Dagster code location loads.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from murmur.analytics.replication import scalar_int
from murmur.events import EVENT_TYPES

# Normalized addresses (murmur.email_address) are lower-case, one '@', no blanks, a dotted domain.
EMAIL_REGEX = r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$"
FUTURE_TOLERANCE = dt.timedelta(minutes=5)  # clock skew between ESPs and us
CHUNK_ROWS = 500_000
SAMPLE_IDS = 10

CONTACTS_SUITE = "contacts"
EVENTS_SUITE = "events"


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str
    success: bool
    unexpected: int = 0
    sample_ids: list[str] = field(default_factory=list)
    error: str | None = None  # GX could not evaluate it (a failure, never a pass)


@dataclass
class SuiteResult:
    suite: str
    rows: int = 0
    slices: int = 0
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    def metadata(self) -> dict[str, Any]:
        """A flat summary for Dagster: rows checked, then unexpected rows per expectation."""
        out: dict[str, Any] = {"suite": self.suite, "rows_checked": self.rows}
        for o in self.outcomes:
            name = f"{o.expectation}:{o.column}"
            out[name] = o.unexpected
            if o.sample_ids:
                out[f"{name}:sample_ids"] = ", ".join(o.sample_ids)
            if o.error:
                out[f"{name}:error"] = o.error
        return out


@dataclass(frozen=True)
class SuiteSpec:
    """What a suite reads (`select` over `table`, sliced by `slice_key`) and expects of it."""

    name: str
    table: str
    select: str
    slice_key: str
    id_column: str
    expectations: Callable[[dt.datetime], list[Any]]  # built on use (GX imports lazily)
    final: bool = False


def _gxe() -> Any:
    """`great_expectations.expectations` (its classes are not re-exported for type checkers)."""
    return importlib.import_module("great_expectations.expectations")


def _contacts_expectations(_now: dt.datetime) -> list[Any]:
    gxe = _gxe()

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="email"),
        gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_REGEX),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["account_id", "email_sha256"]),
    ]


def _events_expectations(now: dt.datetime) -> list[Any]:
    from great_expectations.expectations.row_conditions import Column

    gxe = _gxe()
    matched: Any = Column("is_matched") == True  # noqa: E712 (builds a GX row condition)
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="event_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="email_record_id", row_condition=matched),
        gxe.ExpectColumnValuesToNotBeNull(column="campaign_id", row_condition=matched),
        gxe.ExpectColumnValuesToNotBeNull(column="contact_id", row_condition=matched),
        gxe.ExpectColumnValuesToBeInSet(column="type", value_set=list(EVENT_TYPES)),
        gxe.ExpectColumnValuesToNotBeNull(column="timestamp"),
        gxe.ExpectColumnValuesToBeBetween(column="timestamp", max_value=now + FUTURE_TOLERANCE),
    ]


SUITES: dict[str, SuiteSpec] = {
    CONTACTS_SUITE: SuiteSpec(
        CONTACTS_SUITE,
        "raw_contact_pii",
        # the restricted table: the only one holding addresses (read here, reported by id)
        "toString(contact_id) as contact_id, toString(account_id) as account_id,"
        " nullIf(email, '') as email, email_sha256",
        "account_id",
        "contact_id",
        _contacts_expectations,
        final=True,
    ),
    EVENTS_SUITE: SuiteSpec(
        EVENTS_SUITE,
        "events",
        "nullIf(event_id, '') as event_id, not empty(account_id) as is_matched,"
        " email_record_id, campaign_id, contact_id, type, timestamp",
        "event_id",
        "event_id",
        _events_expectations,
    ),
}


def _quiet_gx() -> Any:
    """The GX module, with its usage statistics off (no network) before it is first imported."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    return gx


def _column(kwargs: Any) -> str:
    return str(kwargs.get("column") or ",".join(kwargs.get("column_list") or []))


def _sample(result: dict[str, Any], id_column: str) -> list[str]:
    rows = result.get("partial_unexpected_index_list") or []
    return [str(r[id_column]) for r in rows if isinstance(r, dict) and id_column in r]


def _utc_frame(frame: Any) -> Any:
    """ClickHouse UTC times arrive naive: mark them UTC so they compare with aware bounds."""
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_dtype(column) and column.dt.tz is None:
            frame[name] = column.dt.tz_localize("UTC")
    return frame


def _error(info: Any) -> str | None:
    info = info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")[:300]
    return None


def _merge(into: SuiteResult, outcomes: list[ExpectationOutcome]) -> None:
    if not into.outcomes:
        into.outcomes = outcomes
        return
    for total, part in zip(into.outcomes, outcomes, strict=True):
        total.success = total.success and part.success
        total.error = total.error or part.error
        total.unexpected += part.unexpected
        room = SAMPLE_IDS - len(total.sample_ids)
        total.sample_ids += part.sample_ids[: max(room, 0)]


def run_suite(
    ch: Client, name: str, chunk_rows: int = CHUNK_ROWS, now: dt.datetime | None = None
) -> SuiteResult:
    """Validate suite `name` over its ClickHouse table (in `ch`'s database), slice by slice.

    A missing table is a failure (nothing to vouch for), an empty one a success.
    """
    spec = SUITES[name]
    result = SuiteResult(name)
    exists = str(ch.command(f"exists table `{spec.table}`")).strip() == "1"
    if not exists:
        result.outcomes = [ExpectationOutcome("table_exists", spec.table, False)]
        return result
    final = " final" if spec.final else ""
    total = scalar_int(ch, f"select count() from `{spec.table}`{final}")
    result.slices = max(1, math.ceil(total / max(chunk_rows, 1)))
    gx = _quiet_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batches = (
        context.data_sources.add_pandas("murmur")
        .add_dataframe_asset(spec.table)
        .add_batch_definition_whole_dataframe("slice")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in spec.expectations(now or dt.datetime.now(dt.UTC)):
        suite.add_expectation(expectation)
    result_format = {
        "result_format": "SUMMARY",
        "unexpected_index_column_names": [spec.id_column],
        "partial_unexpected_count": SAMPLE_IDS,
    }
    for i in range(result.slices):
        frame = ch.query_df(
            f"select {spec.select} from `{spec.table}`{final}"
            # the table's column, not a select alias of the same name (nullIf would drop rows)
            f" where cityHash64(`{spec.table}`.`{spec.slice_key}`) % {{n:UInt64}}"
            " = {i:UInt64}",
            parameters={"n": result.slices, "i": i},
        )
        result.rows += len(frame)
        if frame.empty:
            continue
        frame = _utc_frame(frame)
        validation = batches.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format=result_format
        )
        _merge(
            result,
            [
                ExpectationOutcome(
                    r.expectation_config.type,
                    _column(r.expectation_config.kwargs),
                    bool(r.success),
                    int(r.result.get("unexpected_count") or 0),
                    _sample(r.result, spec.id_column),
                    _error(r.exception_info),
                )
                for r in validation.results
            ],
        )
    if not result.outcomes:  # an empty table: every expectation holds
        result.outcomes = [
            ExpectationOutcome(e.configuration.type, _column(e.configuration.kwargs), True)
            for e in suite.expectations
        ]
    return result
