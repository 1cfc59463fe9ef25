"""Contact import endpoints: upload a CSV, poll the job, download its error report.

`POST /contacts/import` (multipart CSV) starts a job; poll `GET /contacts/imports/{id}` and
download `GET /contacts/imports/{id}/errors` (CSV).

A job runs in the API process after the response (a background task). If that process stops,
the job's transaction is rolled back and nothing is imported; the job is then marked `failed`
("interrupted ...") at the next API start or status poll, once its heartbeat is older than
`ImportOptions.stale_after` (10 minutes) and no connection holds its lock.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import psycopg
import sqlalchemy as sa
from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.datastructures import UploadFile

from murmur.api.deps import Editor, Engine, Principal, Viewer
from murmur.api.errors import not_found
from murmur.contacts_import import jobs, store
from murmur.contacts_import.errors import ImportRefused
from murmur.contacts_import.reader import CsvFile, preflight

log = logging.getLogger(__name__)
router = APIRouter(tags=["contacts"])
_COPY_CHUNK = 1024 * 1024
_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def get_import_options() -> jobs.ImportOptions:
    """The import limits (override in tests with `app.dependency_overrides`)."""
    return jobs.ImportOptions()


Options = Annotated[jobs.ImportOptions, Depends(get_import_options)]


@contextmanager
def _pg(engine: sa.Engine) -> Iterator[psycopg.Connection[Any]]:
    """A pooled psycopg connection in autocommit mode (the import manages its transactions)."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        if not isinstance(conn, psycopg.Connection):
            raise TypeError(f"imports need a psycopg 3 engine, got {type(conn).__name__}")
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:
                conn.autocommit = False
    finally:
        raw.close()


def fail_interrupted_jobs(engine: sa.Engine) -> None:
    """At API startup: mark jobs left queued/running by a stopped API process as failed."""
    try:
        with _pg(engine) as conn:
            failed = store.fail_interrupted(
                conn, None, stale_after=get_import_options().stale_after
            )
    except (psycopg.OperationalError, sa.exc.OperationalError) as exc:
        log.warning("could not check for interrupted imports at startup: %s", exc)
        return
    if failed:
        log.warning("marked %d interrupted import(s) as failed: %s", len(failed), failed)


def _job_out(job: dict[str, Any]) -> dict[str, Any]:
    out = jsonable_encoder(job)
    out["errors_url"] = f"/api/v1/contacts/imports/{job['import_id']}/errors"
    return dict(out)


def _save_upload(upload: UploadFile, max_bytes: int) -> Path:
    """Copy the upload to a temp file, refusing it (413) as soon as it exceeds `max_bytes`."""
    fd, name = tempfile.mkstemp(prefix="murmur-import-", suffix=".csv")
    path = Path(name)
    size = 0
    try:
        with open(fd, "wb") as out:
            while (chunk := upload.file.read(_COPY_CHUNK)) and size <= max_bytes:
                size += len(chunk)
                out.write(chunk)
        if size > max_bytes:
            raise ImportRefused(
                f"the file is larger than the {max_bytes}-byte limit: split it", 413
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _queue(
    engine: sa.Engine, principal: Principal, csv: CsvFile, filename: str | None
) -> dict[str, Any]:
    with _pg(engine) as conn:
        import_id = jobs.queue_job(conn, principal.account_id, csv, principal.actor, filename)
        job = store.get_job(conn, principal.account_id, import_id)
    if job is None:  # queued in this very call: only a concurrent account deletion removes it
        raise not_found("import", import_id)
    return job


def _run(
    engine: sa.Engine,
    import_id: uuid.UUID,
    account_id: uuid.UUID,
    csv: CsvFile,
    actor: str,
    filename: str | None,
) -> None:
    try:
        with _pg(engine) as conn, _pg(engine) as status_conn:
            jobs.execute_job(conn, status_conn, import_id, account_id, csv, actor, filename)
    finally:
        csv.path.unlink(missing_ok=True)


@router.post("/contacts/import", status_code=202, openapi_extra=_UPLOAD_SCHEMA)
async def import_contacts(
    request: Request,
    principal: Editor,
    engine: Engine,
    options: Options,
    background: BackgroundTasks,
) -> JSONResponse:
    """Upload a CSV (multipart field `file`) and start an import job; 202 with the job.

    A file that cannot be imported at all (too large, not UTF-8, not CSV, no email column, no
    rows) is refused with 413/422 and nothing is written. Otherwise poll the job's URL.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > options.max_bytes + 64 * 1024:
        raise HTTPException(413, f"the upload is larger than the {options.max_bytes}-byte limit")
    form = await request.form(max_files=1, max_fields=10)
    path: Path | None = None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "send the CSV file as the multipart form field 'file'")
        filename = upload.filename
        path = await run_in_threadpool(_save_upload, upload, options.max_bytes)
        csv = await run_in_threadpool(preflight, path, options.max_bytes)
        job = await run_in_threadpool(_queue, engine, principal, csv, filename)
    except ImportRefused as exc:
        raise HTTPException(exc.status_code, exc.reason) from None
    else:
        path = None  # the background task owns the file now
    finally:
        await form.close()
        if path is not None:  # refused or failed: never leave the upload behind
            with suppress(OSError):
                path.unlink()
    import_id = uuid.UUID(str(job["import_id"]))
    background.add_task(
        _run, engine, import_id, principal.account_id, csv, principal.actor, filename
    )
    location = f"/api/v1/contacts/imports/{import_id}"
    return JSONResponse(_job_out(job), status_code=202, headers={"Location": location})


@router.get("/contacts/imports/{import_id}")
def get_import(
    import_id: uuid.UUID, principal: Viewer, engine: Engine, options: Options
) -> dict[str, Any]:
    """The job: status (queued, running, succeeded, failed), progress and counts.

    A job whose API process stopped is reported `failed` with error "interrupted (...)".
    """
    with _pg(engine) as conn:
        store.fail_interrupted(conn, principal.account_id, import_id, options.stale_after)
        job = store.get_job(conn, principal.account_id, import_id)
    if job is None:
        raise not_found("import", import_id)
    return _job_out(job)


@router.get(
    "/contacts/imports/{import_id}/errors",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "row,column,reason,value"}},
)
def get_import_errors(import_id: uuid.UUID, principal: Viewer, engine: Engine) -> StreamingResponse:
    """The per-row error report as CSV: `row,column,reason,value`, in row order."""
    with _pg(engine) as conn:
        job = store.get_job(conn, principal.account_id, import_id)
    if job is None:
        raise not_found("import", import_id)

    def body() -> Iterator[bytes]:
        with _pg(engine) as conn:
            yield from store.iter_error_report(conn, import_id, account_id=principal.account_id)

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'},
    )
