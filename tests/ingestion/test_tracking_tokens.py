"""Tracking tokens (murmur.tracking): round trips, and any tampering fails verification."""

from __future__ import annotations

import base64
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from murmur.tracking import (
    TrackingIds,
    click_url,
    make_token,
    open_url,
    unsubscribe_url,
    verify_click,
    verify_open,
    verify_token,
    verify_unsubscribe,
)

SECRET = "s3cret"
IDS = TrackingIds(
    email_record_id=123456789, account_id=uuid.uuid4(), campaign_id=42, contact_id=987654
)

ids_strategy = st.builds(
    TrackingIds,
    email_record_id=st.integers(0, 2**63 - 1),
    account_id=st.none() | st.uuids(),
    campaign_id=st.none() | st.integers(0, 2**63 - 1),
    contact_id=st.none() | st.integers(0, 2**63 - 1),
)


@given(ids=ids_strategy)
def test_every_kind_round_trips(ids: TrackingIds) -> None:
    assert verify_open(SECRET, make_token(SECRET, "o", ids)) == ids
    assert verify_unsubscribe(SECRET, make_token(SECRET, "u", ids)) == ids
    url = "https://example.com/a?b=c"
    assert verify_click(SECRET, make_token(SECRET, "c", ids, url), url) == ids


def test_tokens_stay_short() -> None:
    assert len(make_token(SECRET, "o", IDS)) <= 64
    assert len(make_token(SECRET, "o", TrackingIds(email_record_id=5))) <= 24


def test_every_changed_byte_of_a_token_fails() -> None:
    token = make_token(SECRET, "o", IDS)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for i in range(len(raw)):
        for flip in (1, 0x80):
            bad = bytearray(raw)
            bad[i] ^= flip
            forged = base64.urlsafe_b64encode(bytes(bad)).rstrip(b"=").decode()
            assert verify_open(SECRET, forged) is None, i


def test_a_token_of_one_kind_is_not_accepted_as_another() -> None:
    token = make_token(SECRET, "o", IDS)
    assert verify_unsubscribe(SECRET, token) is None
    assert verify_click(SECRET, token, "https://example.com") is None


def test_click_token_binds_its_target_url() -> None:
    token = make_token(SECRET, "c", IDS, "https://example.com/offer")
    assert verify_click(SECRET, token, "https://example.com/offer") == IDS
    assert verify_click(SECRET, token, "https://evil.example/offer") is None
    assert verify_token(SECRET, "c", token) is None  # no URL, no click


def test_another_secret_fails() -> None:
    assert verify_open("other", make_token(SECRET, "o", IDS)) is None


@pytest.mark.parametrize("token", ["", "!!!", "a" * 500, "AAAA", "=", "ab.cd"])
def test_garbage_tokens_fail_without_raising(token: str) -> None:
    assert verify_open(SECRET, token) is None


def test_url_builders_put_tokens_where_the_receiver_routes_them() -> None:
    assert open_url("https://t.example/", SECRET, IDS).startswith("https://t.example/t/o/")
    assert open_url("https://t.example", SECRET, IDS).endswith(".gif")
    assert unsubscribe_url("https://t.example", SECRET, IDS).startswith("https://t.example/u/")
    link = click_url("https://t.example", SECRET, IDS, "https://shop.example/x?y=1&z=2")
    parts = urlsplit(link)
    assert parts.path.startswith("/t/c/")
    assert parse_qs(parts.query)["u"] == ["https://shop.example/x?y=1&z=2"]


def test_click_url_refuses_non_http_targets() -> None:
    with pytest.raises(ValueError, match="http"):
        click_url("https://t.example", SECRET, IDS, "javascript:alert(1)")


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="MURMUR_TRACKING_SECRET"):
        make_token("", "o", IDS)
