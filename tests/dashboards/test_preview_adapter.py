"""The Campaigns page's preview and test send go through `murmur.domain.test_send`."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboards.lib import preview
from tests.murmur.api.test_campaign_preview import (
    SECRET_KEY,
    TRACKING_BASE,
    TRACKING_SECRET,
    _setup,
    maildir,
)
from tests.murmur.conftest import (  # noqa: F401  (fixtures)
    MakeAccount,
    db_engine,
    empty_db_url,
    make_account,
    migrated_db_url,
)

__all__ = ["maildir"]
pytestmark = pytest.mark.integration


def _configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smtp_url: str | None) -> None:
    monkeypatch.setenv("MURMUR_STATE_DIR", str(tmp_path))  # no local stack to fall back on
    monkeypatch.setenv("MURMUR_TRACKING_BASE_URL", TRACKING_BASE)
    monkeypatch.setenv("MURMUR_TRACKING_SECRET", TRACKING_SECRET)
    monkeypatch.setenv("MURMUR_SECRET_KEY", SECRET_KEY)
    if smtp_url:
        monkeypatch.setenv("MURMUR_SMTP_URL", smtp_url)
    else:
        monkeypatch.delenv("MURMUR_SMTP_URL", raising=False)


def test_the_page_previews_the_senders_message_and_sends_a_test(
    db_engine: sa.Engine,  # noqa: F811
    make_account: MakeAccount,  # noqa: F811
    smtp_url: str,
    maildir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Regression: the adapter looked for `murmur.domain.preview`, which does not exist, so the
    # page rendered without tracking links or footer and said test sends were unavailable.
    _configure(monkeypatch, tmp_path, smtp_url)
    s = _setup(db_engine, make_account)
    with db_engine.connect() as conn:
        shown = preview.preview(conn, s.account_id, s.campaign_id, s.contact_id)
    assert shown.subject == "Hi Ada"
    assert "Hello Ada (pro)" in shown.html and f"{TRACKING_BASE}/t/c/" in shown.html
    assert "Unsubscribe" in shown.html  # the footer the sender adds
    assert preview.test_send_available()
    to = f"qa@{s.domain}"
    with db_engine.begin() as conn:
        report = preview.test_send(conn, s.account_id, s.campaign_id, to, "dashboards:test")
    assert report.subject.startswith("[Test]")
    got = [m for m in mailbox.Maildir(str(maildir), create=False) if to in str(m["To"])]
    assert len(got) == 1 and "[Test]" in str(got[0]["Subject"])


def test_without_a_relay_the_test_send_says_what_is_missing(
    db_engine: sa.Engine,  # noqa: F811
    make_account: MakeAccount,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _configure(monkeypatch, tmp_path, None)
    s = _setup(db_engine, make_account)
    assert not preview.test_send_available()
    with db_engine.begin() as conn, pytest.raises(preview.TestSendUnavailable, match="SMTP_URL"):
        preview.test_send(conn, s.account_id, s.campaign_id, "qa@example.com", "dashboards:test")
