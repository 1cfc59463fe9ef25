"""One replication run: every table, then the erasures, in an order that never loses an erasure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from clickhouse_connect.driver.client import Client

from murmur.analytics.erasure import ErasedKeys, apply_erasures, erased_keys
from murmur.analytics.replication import TableResult, ensure_tables, replicate_table
from murmur.analytics.tables import SPECS, TableSpec
from murmur.db.engine import libpq_url


@dataclass
class RunResult:
    tables: list[TableResult] = field(default_factory=list)
    erased: dict[str, int] = field(default_factory=dict)
    keys: ErasedKeys = field(default_factory=ErasedKeys)

    def by_table(self) -> dict[str, TableResult]:
        return {r.table: r for r in self.tables}


def replicate_all(
    postgres_url: str,
    ch: Client,
    specs: tuple[TableSpec, ...] = SPECS,
    progress: Callable[[TableResult], None] | None = None,
) -> RunResult:
    """Replicate `specs`, then erase every erased contact from every per-contact table.

    The erased contacts are resolved *before* the copy, while `raw_contacts` still maps their
    hash to their ids (the copy deletes the rows Postgres no longer has), and applied *after* it,
    so rows the copy brought back (an open ledger row of an erased contact) go too.
    """
    ensure_tables(ch, specs)
    now = dt.datetime.now(dt.UTC)
    result = RunResult()
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as pg:
        result.keys = erased_keys(pg, ch)
        for spec in specs:
            table = replicate_table(pg, ch, spec, now)
            result.tables.append(table)
            if progress is not None:
                progress(table)
        # tombstones written during the copy: resolved from the audit log
        later = erased_keys(pg, ch)
    result.keys = ErasedKeys(
        hashes=sorted(set(result.keys.hashes) | set(later.hashes)),
        contact_ids=sorted(set(result.keys.contact_ids) | set(later.contact_ids)),
    )
    result.erased = apply_erasures(ch, result.keys)
    return result
