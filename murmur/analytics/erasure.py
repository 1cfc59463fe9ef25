"""GDPR erasure in ClickHouse: every table holding per-contact data forgets an erased contact.

Postgres is the truth: the `erasures` tombstones (sha256 of the normalized address) and the
`contact.erase` audit entries (which name the contact id). An erased contact is found in
ClickHouse by its hash and by its contact ids (from the audit log, and from `raw_contacts` rows
carrying the hash), and its rows are deleted from every table of `PER_CONTACT_TABLES`. ClickHouse
keeps no tombstone of its own, so after a run no erased hash is left anywhere; `leftovers` proves
it by scanning every table of the database that has a `contact_id` or `email_sha256` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from clickhouse_connect.driver.client import Client

from murmur.analytics.replication import delete_keys, scalar_int

# Every ClickHouse table (in MURMUR_CLICKHOUSE_DATABASE) holding per-contact data, with the column
# that identifies the contact. Tables that do not exist yet are skipped. Views are not listed:
# they hold nothing. The dbt marts are rebuilt from the raw tables, but the incremental ones keep
# old days, and between a replication run and the next dbt build every mart still holds the
# contact: erasing there too makes "gone at the next run" true at the end of the replication.
PER_CONTACT_TABLES: tuple[tuple[str, str], ...] = (
    ("raw_contacts", "contact_id"),
    ("raw_contacts", "email_sha256"),
    ("raw_contact_pii", "contact_id"),
    ("raw_contact_pii", "email_sha256"),
    ("raw_emails", "contact_id"),
    ("raw_suppressions", "email_sha256"),
    ("events", "contact_id"),
    ("contact_last_events", "contact_id"),  # the consumer's per-contact rollup of `events`
    ("event_recipients", "recipient_sha256"),  # the consumer's restricted table (addresses)
    ("int_email_sends__outcomes", "contact_id"),  # dbt's per-send intermediate (incremental)
    ("fct_email_events", "contact_id"),
    ("fct_email_sends", "contact_id"),
    ("dim_contacts", "contact_id"),
    ("dim_contacts", "email_sha256"),
    ("contact_engagement", "contact_id"),
    ("segment_membership", "contact_id"),  # murmur.analytics.segments: current members
    ("segment_membership_history", "contact_id"),  # and every past stay
)

KEY_COLUMNS = ("contact_id", "email_sha256", "recipient_sha256")

_AUDIT_IDS = """
select distinct (details ->> 'contact_id')::bigint
from audit_log
where action = 'contact.erase' and details ->> 'email_sha256' = any(%(hashes)s)
  and jsonb_typeof(details -> 'contact_id') = 'number'
"""


@dataclass
class ErasedKeys:
    hashes: list[str] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.hashes or self.contact_ids)


def erased_keys(pg: psycopg.Connection[Any], ch: Client) -> ErasedKeys:
    """The hashes of every tombstone and the contact ids they stood for."""
    hashes = sorted({r[0] for r in pg.execute("select email_sha256 from erasures").fetchall()})
    if not hashes:
        return ErasedKeys()
    ids = {int(r[0]) for r in pg.execute(_AUDIT_IDS, {"hashes": hashes}).fetchall()}
    if _exists(ch, "raw_contacts"):
        for start in range(0, len(hashes), 1000):
            rows = ch.query(
                "select distinct contact_id from raw_contacts"
                " where has({h:Array(String)}, email_sha256)",
                parameters={"h": hashes[start : start + 1000]},
            ).result_rows
            ids.update(int(r[0]) for r in rows)
    return ErasedKeys(hashes=hashes, contact_ids=sorted(ids))


def _exists(ch: Client, table: str) -> bool:
    return bool(
        scalar_int(
            ch,
            "select count() from system.tables where database = currentDatabase()"
            " and name = {t:String}",
            {"t": table},
        )
    )


def _columns(ch: Client, table: str) -> set[str]:
    rows = ch.query(
        "select name from system.columns where database = currentDatabase() and table = {t:String}",
        parameters={"t": table},
    ).result_rows
    return {r[0] for r in rows}


def apply_erasures(
    ch: Client,
    keys: ErasedKeys,
    registry: tuple[tuple[str, str], ...] = PER_CONTACT_TABLES,
) -> dict[str, int]:
    """Delete every row of an erased contact from the registry's tables; rows deleted per table."""
    deleted: dict[str, int] = {}
    if not keys:
        return deleted
    for table, column in registry:
        if not _exists(ch, table) or column not in _columns(ch, table):
            continue
        values: list[Any] = keys.contact_ids if column == "contact_id" else keys.hashes
        count = delete_keys(ch, table, column, values) if values else 0
        if count:
            deleted[table] = deleted.get(table, 0) + count
    return deleted


def leftovers(ch: Client, keys: ErasedKeys) -> list[tuple[str, str, int]]:
    """(table, column, rows) for every table of the database still holding an erased contact.

    Scans all tables (not the registry), so a table missing from `PER_CONTACT_TABLES` shows up.
    """
    if not keys:
        return []
    rows = ch.query(
        "select c.table, c.name from system.columns c"
        " join system.tables t on t.database = c.database and t.name = c.table"
        " where c.database = currentDatabase() and c.name in {names:Array(String)}"
        " and t.engine not in ('View', 'MaterializedView', 'LiveView')",
        parameters={"names": list(KEY_COLUMNS)},
    ).result_rows
    found: list[tuple[str, str, int]] = []
    for table, column in rows:
        values: list[Any] = keys.contact_ids if column == "contact_id" else keys.hashes
        if not values:
            continue
        typ = "Int64" if column == "contact_id" else "String"
        count = scalar_int(
            ch,
            f"select count() from `{table}` where has({{v:Array({typ})}}, `{column}`)",
            {"v": values},
        )
        if count:
            found.append((table, column, count))
    return found
