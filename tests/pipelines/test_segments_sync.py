"""Registration of SQL segments: the manifest's segment models ↔ the `dbt` segments in Postgres."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from murmur.db.tables import audit_log, segments
from murmur.domain.dbt_segments import DbtSegmentModel, sync_dbt_segments
from tests.murmur.conftest import MakeAccount

pytestmark = pytest.mark.integration
CONTRACT = {"account_id": "UUID", "contact_id": "Int64"}


def _model(model: str, account: str | None, **fields: Any) -> DbtSegmentModel:
    values: dict[str, Any] = {
        "model": model,
        "relation": model,
        "path": f"models/segments/{model}.sql",
        "name": model.replace("_", " "),
        "description": f"about {model}",
        "owner": "ana@acme.example",
        "account": account,
        "columns": CONTRACT,
    }
    values.update(fields)
    return DbtSegmentModel(**values)


def _rows(engine: sa.Engine, account_id: uuid.UUID) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(segments).where(segments.c.account_id == account_id, segments.c.kind == "dbt")
        ).all()
    return {r.dbt_model: r for r in rows}


def _sync(engine: sa.Engine, models: list[DbtSegmentModel]) -> Any:
    with engine.begin() as conn:
        return sync_dbt_segments(conn, models)


def test_sync_creates_updates_retires_and_reactivates_idempotently(
    db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    account_id, _ = make_account()
    with db_engine.connect() as conn:
        name = conn.execute(
            sa.text("select name from accounts where account_id = :a"), {"a": account_id}
        ).scalar_one()
    models = [_model("alpha", str(account_id)), _model("beta", name)]  # by id and by name

    first = _sync(db_engine, models)
    rows = _rows(db_engine, account_id)
    assert sorted(rows) == ["alpha", "beta"] and len(first.created) == 2
    alpha = rows["alpha"]
    assert (alpha.name, alpha.description, alpha.owner, alpha.status) == (
        "alpha",
        "about alpha",
        "ana@acme.example",
        "active",
    )
    again = _sync(db_engine, models)
    assert sorted(again.unchanged) == sorted(first.created) and not again.created

    renamed = _sync(db_engine, [_model("alpha", str(account_id), name="Alpha!"), models[1]])
    assert renamed.updated == [alpha.segment_id]
    assert _rows(db_engine, account_id)["alpha"].name == "Alpha!"

    # beta's file is removed: retired, not deleted; it comes back with the same id
    gone = _sync(db_engine, [_model("alpha", str(account_id), name="Alpha!")])
    beta = _rows(db_engine, account_id)["beta"]
    assert gone.retired == [beta.segment_id] and beta.status == "retired"
    back = _sync(db_engine, [_model("alpha", str(account_id), name="Alpha!"), models[1]])
    assert back.reactivated == [beta.segment_id]
    assert _rows(db_engine, account_id)["beta"].status == "active"

    with db_engine.connect() as conn:
        actions = (
            conn.execute(
                sa.select(audit_log.c.action)
                .where(audit_log.c.account_id == account_id, audit_log.c.actor == "dbt-sync")
                .order_by(audit_log.c.audit_id)
            )
            .scalars()
            .all()
        )
    assert actions == [
        "segment.create",
        "segment.create",
        "segment.update",
        "segment.retire",
        "segment.reactivate",
    ]


def test_a_model_that_cannot_be_registered_is_reported_and_writes_nothing(
    db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    account_id, _ = make_account()
    nobody = f"no-such-account-{uuid.uuid4().hex[:6]}"
    report = _sync(
        db_engine,
        [
            _model("orphan", nobody),
            _model("wide", str(account_id), columns={**CONTRACT, "email": "String"}),
            _model("unowned", None),
            _model("gamma", str(account_id)),
        ],
    )
    assert sorted(_rows(db_engine, account_id)) == ["gamma"]
    assert len(report.created) == 1
    assert report.errors == [
        f"segment model orphan (models/segments/orphan.sql): config.meta.account {nobody!r} "
        "names no account",
        "segment model wide (models/segments/wide.sql): its YAML must declare exactly the "
        "columns account_id UUID, contact_id Int64 (declared: account_id UUID, contact_id "
        "Int64, email String)",
        "segment model unowned (models/segments/unowned.sql): config.meta.account is missing "
        "(an account id or name)",
    ]
    # a model still present but broken keeps its segment active (only a removed model retires)
    broken = _sync(db_engine, [_model("gamma", None)])
    assert not broken.retired and _rows(db_engine, account_id)["gamma"].status == "active"
