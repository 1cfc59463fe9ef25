"""Run an import as a job: the orchestration shared by the CLI and the API."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from murmur.contacts_import import store
from murmur.contacts_import.errors import ImportFailed
from murmur.contacts_import.importer import ImportResult, run_import
from murmur.contacts_import.reader import DEFAULT_MAX_BYTES, CsvFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportOptions:
    """Limits of an import; the API and the CLI each build one (the CLI from its flags)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    # a queued/running job whose heartbeat is older than this, and whose lock is free, was
    # interrupted (see store.fail_interrupted)
    stale_after: timedelta = store.STALE_AFTER


def queue_job(
    conn: psycopg.Connection[Any],
    account_id: uuid.UUID,
    csv: CsvFile,
    actor: str,
    filename: str | None,
) -> uuid.UUID:
    return store.create_job(
        conn, account_id, actor, filename, csv.size, csv.estimated_rows, csv.columns.describe()
    )


def execute_job(
    conn: psycopg.Connection[Any],
    status_conn: psycopg.Connection[Any],
    import_id: uuid.UUID,
    account_id: uuid.UUID,
    csv: CsvFile,
    actor: str,
    filename: str | None = None,
    progress: store.ProgressFn | None = None,
) -> ImportResult | None:
    """Run a queued job to `succeeded` (returns the counts) or `failed` (returns None).

    The failure reason goes on the job row. `status_conn` (autocommit) carries the progress and
    the failure while `conn` holds the import's transaction.
    """
    store.mark_running(status_conn, account_id, import_id)
    write_progress = store.job_progress_writer(status_conn, account_id, import_id)

    def report(done: int, total: int) -> None:
        write_progress(done, total)
        if progress is not None:
            progress(done, total)

    try:
        return run_import(conn, import_id, account_id, csv, actor, report, filename)
    except ImportFailed as exc:
        store.mark_failed(status_conn, account_id, import_id, str(exc))
    except psycopg.Error as exc:
        log.exception("contact import %s failed in the database", import_id)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        store.mark_failed(status_conn, account_id, import_id, f"database error: {first}")
    except Exception as exc:
        log.exception("contact import %s failed", import_id)
        store.mark_failed(
            status_conn, account_id, import_id, f"internal error: {type(exc).__name__}"
        )
    return None
