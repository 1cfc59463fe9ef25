"""The SQL that defines a segment: its dbt model's source, or its criteria compiled to SQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from murmur.domain.audience import AudienceError, audience_query

DBT_SEGMENTS = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "segments"


def segment_sql(account_id: str, kind: str, dbt_model: str | None, definition: Any) -> str:
    """The dbt model's SQL (from dbt_project/models/segments) or the compiled criteria."""
    if kind == "dbt":
        if not dbt_model:
            return "-- this dbt segment names no model"
        matches = sorted(DBT_SEGMENTS.rglob(f"{Path(dbt_model).name}.sql"))
        if not matches:
            return f"-- dbt model {dbt_model!r} not found under dbt_project/models/segments"
        return matches[0].read_text()
    from sqlalchemy.dialects import postgresql

    try:
        query = audience_query(uuid.UUID(account_id), definition)
    except AudienceError as exc:
        return f"-- the criteria do not compile: {exc}"
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)
