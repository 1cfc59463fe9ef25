"""Sign-in, the session timeout, account scoping of users, and the empty states."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from murmur.db.engine import make_engine
from murmur.domain.accounts import AmbiguousUser, create_account, verify_user_password
from murmur.settings import Settings
from tests.dashboards.conftest import APP, app_env, sign_in
from tests.dashboards.world import PASSWORD, add_user

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EmptyWorld = tuple[Settings, uuid.UUID]


def headers(at: object) -> list[str]:
    return [h.value for h in at.header]  # type: ignore[attr-defined]


def test_no_page_is_reachable_without_signing_in(
    monkeypatch: pytest.MonkeyPatch, empty_world: EmptyWorld
) -> None:
    app_env(monkeypatch, empty_world[0])
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Murmuration" and headers(at) == ["Sign in"]
    # before sign-in the navigation registers the sign-in page alone: nothing else to reach
    for path in ("app_pages/overview.py", "app_pages/contact_360.py", "app_pages/status.py"):
        with pytest.raises(ValueError, match=r"Known pages: \['[^,]*/app_pages/login.py'\]"):
            at.switch_page(path)
    assert not at.metric and not at.dataframe


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    monkeypatch: pytest.MonkeyPatch, empty_world: EmptyWorld
) -> None:
    app_env(monkeypatch, empty_world[0])
    for email, password in (("viewer@empty.test", "wrong password!"), ("nobody@x.test", PASSWORD)):
        at = sign_in(email, password)
        assert [e.value for e in at.error] == ["Unknown email or wrong password."]
        assert headers(at) == ["Sign in"]


def test_an_idle_session_times_out(
    monkeypatch: pytest.MonkeyPatch, empty_world: EmptyWorld
) -> None:
    app_env(monkeypatch, empty_world[0])
    at = sign_in("viewer@empty.test")
    assert headers(at) == ["Overview"]
    at.session_state["last_seen"] = at.session_state["last_seen"] - 31 * 60  # idle 31 minutes
    at.run()
    assert headers(at) == ["Sign in"]
    assert "timed out" in at.warning[0].value


def test_the_empty_states_say_what_to_do(
    monkeypatch: pytest.MonkeyPatch, empty_world: EmptyWorld
) -> None:
    app_env(monkeypatch, empty_world[0])
    at = sign_in("admin@empty.test")
    expected = {
        "app_pages/overview.py": "murmur pipelines materialize",
        "app_pages/campaign_report.py": "murmur pipelines materialize",
        "app_pages/deliverability.py": "murmur pipelines materialize",
        "app_pages/segments.py": "no segments yet",
        "app_pages/contact_360.py": "Type part of an email address",
        "app_pages/campaigns.py": "No campaigns yet",
        "app_pages/pipeline_health.py": "Dagster has not run here yet",
    }
    for path, hint in expected.items():
        at.switch_page(path).run()
        assert not at.exception, (path, at.exception)
        assert not at.error, (path, [e.value for e in at.error])
        infos = " ".join(i.value for i in at.info)
        assert hint in infos, (path, infos)


def test_the_services_page_warns_when_the_stack_is_down(
    monkeypatch: pytest.MonkeyPatch, empty_world: EmptyWorld
) -> None:
    app_env(monkeypatch, empty_world[0])
    at = sign_in("viewer@empty.test")
    at.switch_page("app_pages/status.py").run()
    assert not at.exception
    assert "Some services are down" in at.warning[0].value


def test_users_sign_in_within_their_account(empty_world: EmptyWorld) -> None:
    settings, account = empty_world
    engine = make_engine(settings.postgres_url or "", pool_size=1, max_overflow=1)
    try:
        with engine.begin() as conn:
            twin = create_account(conn, f"twin-{uuid.uuid4().hex[:6]}")
            add_user(conn, twin, "viewer@empty.test", "editor")  # same email, same password
            name = conn.execute(sa.text("select name from accounts where account_id = :a"),
                                {"a": account}).scalar_one()  # fmt: skip
        with engine.connect() as conn:
            with pytest.raises(AmbiguousUser):
                verify_user_password(conn, "viewer@empty.test", PASSWORD)
            user = verify_user_password(conn, "Viewer@Empty.test", PASSWORD, name)
            assert user is not None and (user.account_id, user.role) == (account, "viewer")
            other = verify_user_password(conn, "viewer@empty.test", PASSWORD, "no-such-account")
            assert other is None
            assert verify_user_password(conn, "viewer@empty.test", "nope", name) is None
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("delete from users where account_id <> :a"), {"a": account})
        engine.dispose()
