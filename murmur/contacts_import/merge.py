"""The load step of an import: the temp table `import_rows` into `contacts`, set-based.

`_MERGE` is the fast path (plain INSERT of the new contacts, UPDATE of the existing ones);
`_UPSERT`, one `insert ... on conflict do update`, is the fallback when a contact of the file
was created by someone else while the import ran. Both apply the same merge rules (see
`murmur.contacts_import.importer`).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from murmur.contacts_import.errors import ImportFailed
from murmur.contacts_import.store import sql_text
from murmur.db.tables import contacts, suppressions
from murmur.domain.suppression import status_for_reason_sql

# the status a suppression imposes, from the domain's rule (`sup` is the joined suppression)
_SUPPRESSED_STATUS = sql.SQL(sql_text(status_for_reason_sql(sa.literal_column("sup.reason"))))


_UPSERT = """
with src as (
    select distinct on (r.email) r.* from import_rows r order by r.email, r.row desc
), up as (
    insert into {contacts} as c (account_id, email, first_name, last_name, custom_fields, status,
                               consent_source, consent_at, consent_ip)
    select {account}, s.email, s.first_name, s.last_name, s.custom_fields,
           case when sup.email is null then coalesce(s.status, 'subscribed')
                else {suppressed_status} end,
           s.consent_source, s.consent_at, s.consent_ip
    from src s
    left join {suppressions} sup on sup.account_id = {account} and sup.email = s.email
    order by s.email
    on conflict (account_id, email) do update set
        first_name = coalesce(excluded.first_name, c.first_name),
        last_name = coalesce(excluded.last_name, c.last_name),
        custom_fields = c.custom_fields || excluded.custom_fields,
        status = case when c.status <> 'subscribed' then c.status else excluded.status end,
        consent_source = coalesce(excluded.consent_source, c.consent_source),
        consent_at = coalesce(excluded.consent_at, c.consent_at),
        consent_ip = coalesce(excluded.consent_ip, c.consent_ip),
        updated_at = now()
    where (c.first_name, c.last_name, c.custom_fields, c.status, c.consent_source, c.consent_at,
           c.consent_ip)
        is distinct from
          (coalesce(excluded.first_name, c.first_name), coalesce(excluded.last_name, c.last_name),
           c.custom_fields || excluded.custom_fields,
           case when c.status <> 'subscribed' then c.status else excluded.status end,
           coalesce(excluded.consent_source, c.consent_source),
           coalesce(excluded.consent_at, c.consent_at), coalesce(excluded.consent_ip, c.consent_ip))
    returning (xmax = 0) as inserted
)
select count(*) filter (where inserted), count(*) filter (where not inserted) from up
"""


# The fast path: contacts of the file that exist are updated, the others inserted by a plain
# INSERT (no ON CONFLICT: no speculative insertion per row). `import_rows` holds one row per
# address here (the importer dropped the duplicates), so nothing is sorted but the insert (in
# index order). `incoming` is inlined into each branch: the update computes the new values for
# the existing contacts only, the insert for the new ones only. Both read one snapshot, so the
# anti-join and the update never see each other's rows. A contact created by someone else
# between the snapshot and the insert is a unique violation: the importer then runs _UPSERT.
_MERGE = """
with incoming as not materialized (
    select s.*,
           case when sup.email is null then coalesce(s.status, 'subscribed')
                else {suppressed_status} end as new_status
    from import_rows s
    left join {suppressions} sup on sup.account_id = {account} and sup.email = s.email
), up as (
    update {contacts} as c set
        first_name = coalesce(s.first_name, c.first_name),
        last_name = coalesce(s.last_name, c.last_name),
        custom_fields = c.custom_fields || s.custom_fields,
        status = case when c.status <> 'subscribed' then c.status else s.new_status end,
        consent_source = coalesce(s.consent_source, c.consent_source),
        consent_at = coalesce(s.consent_at, c.consent_at),
        consent_ip = coalesce(s.consent_ip, c.consent_ip),
        updated_at = now()
    from incoming s
    where c.account_id = {account} and c.email = s.email
      and (c.first_name, c.last_name, c.custom_fields, c.status, c.consent_source, c.consent_at,
           c.consent_ip)
        is distinct from
          (coalesce(s.first_name, c.first_name), coalesce(s.last_name, c.last_name),
           c.custom_fields || s.custom_fields,
           case when c.status <> 'subscribed' then c.status else s.new_status end,
           coalesce(s.consent_source, c.consent_source),
           coalesce(s.consent_at, c.consent_at), coalesce(s.consent_ip, c.consent_ip))
    returning 1
), ins as (
    insert into {contacts} (account_id, email, first_name, last_name, custom_fields, status,
                            consent_source, consent_at, consent_ip)
    select {account}, s.email, s.first_name, s.last_name, s.custom_fields, s.new_status,
           s.consent_source, s.consent_at, s.consent_ip
    from incoming s
    where not exists (
        select from {contacts} c where c.account_id = {account} and c.email = s.email
    )
    order by s.email
    returning 1
)
select (select count(*) from ins), (select count(*) from up)
"""


def _without_fk_triggers(conn: psycopg.Connection[Any], account_id: uuid.UUID) -> bool:
    """Check the contacts' foreign key once for the whole load instead of once per row.

    Takes the lock each per-row check takes (`for key share` on the account row: the account
    exists and cannot be deleted before commit), then turns the row triggers off for this
    transaction (`session_replication_role = replica`; contacts has no trigger but its
    foreign-key checks). False, and nothing changed, when the database role may not set it;
    the caller turns them back on with `_with_fk_triggers`.
    """
    row = conn.execute(
        "select 1 from accounts where account_id = %s for key share", (account_id,)
    ).fetchone()
    if row is None:
        raise ImportFailed(f"account {account_id} does not exist")
    try:
        with conn.transaction():  # a savepoint: a refused SET leaves the import usable
            conn.execute("set local session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def _with_fk_triggers(conn: psycopg.Connection[Any]) -> None:
    conn.execute("set local session_replication_role = origin")


def merge(conn: psycopg.Connection[Any], account_id: uuid.UUID) -> Any:
    """Insert the new contacts and update the existing ones; (inserted, updated).

    `import_rows` must hold at most one row per address (see `rejects.drop_duplicates`).
    """
    params = {
        "account": sql.Literal(str(account_id)) + sql.SQL("::uuid"),
        "contacts": sql.Identifier(contacts.name),
        "suppressions": sql.Identifier(suppressions.name),
        "suppressed_status": _SUPPRESSED_STATUS,
    }
    skipped = _without_fk_triggers(conn, account_id)
    try:
        try:
            with conn.transaction():  # a savepoint for the race below
                return conn.execute(sql.SQL(_MERGE).format(**params)).fetchone()
        except psycopg.errors.UniqueViolation:  # a contact was created meanwhile
            return conn.execute(sql.SQL(_UPSERT).format(**params)).fetchone()
    finally:
        if skipped:
            _with_fk_triggers(conn)
