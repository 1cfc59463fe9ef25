"""Open pixel, click redirect and one-click unsubscribe, through the app to Kafka."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from murmur.tracking import TrackingIds, click_url, make_token, open_url, unsubscribe_url
from tests.ingestion.conftest import TRACKING_BASE, MakeClient
from tests.ingestion.kafka_log import Written
from tests.ingestion.signing import Keys

pytestmark = pytest.mark.integration

Capture = Callable[[Callable[[], Any]], tuple[Any, Written]]
IDS = TrackingIds(email_record_id=777001, account_id=uuid.uuid4(), campaign_id=12, contact_id=34)
APPLE_MPP = "Mozilla/5.0"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_open_pixel_answers_a_gif_and_records_an_open_with_the_token_ids(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    url = open_url(TRACKING_BASE, keys.tracking, IDS)
    response, written = capture(
        lambda: client.get(_path(url), headers={"User-Agent": "Thunderbird"})
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-store" in response.headers["cache-control"]
    (event,) = written.events
    assert event.type == "open" and event.provider == "tracking"
    assert (event.email_record_id, event.account_id) == (IDS.email_record_id, IDS.account_id)
    assert (event.campaign_id, event.contact_id) == (IDS.campaign_id, IDS.contact_id)
    assert event.user_agent == "Thunderbird" and not event.machine_open
    assert written.keys == [str(IDS.email_record_id).encode()]


def test_open_through_apple_privacy_protection_is_a_machine_open(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    url = open_url(TRACKING_BASE, keys.tracking, IDS)
    _response, written = capture(lambda: client.get(_path(url), headers={"User-Agent": APPLE_MPP}))
    assert [e.machine_open for e in written.events] == [True]


def test_click_redirects_to_the_bound_url_and_records_the_click(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    target = "https://shop.example/offer?id=9&utm=mail"
    url = click_url(TRACKING_BASE, keys.tracking, IDS, target)
    response, written = capture(lambda: client.get(_path(url)))
    assert response.status_code == 302
    assert response.headers["location"] == target
    (event,) = written.events
    assert (event.type, event.url, event.email_record_id) == ("click", target, IDS.email_record_id)


def test_tampered_click_token_or_url_is_404_and_never_redirects(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    target = "https://shop.example/offer"
    token = make_token(keys.tracking, "c", IDS, target)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    attempts = [
        f"/t/c/{flipped}?u={target}",
        f"/t/c/{token}?u=https://evil.example/offer",
        f"/t/c/{token}",
        f"/t/c/{make_token(keys.tracking, 'o', IDS)}?u={target}",
        f"/t/c/{make_token('another-secret', 'c', IDS, target)}?u={target}",
    ]
    for path in attempts:
        response, written = capture(lambda p=path: client.get(p))  # type: ignore[misc]
        assert response.status_code == 404, path
        assert "location" not in response.headers, path
        assert written.nothing, path


def test_unknown_open_token_is_404(client: TestClient, capture: Capture) -> None:
    response, written = capture(lambda: client.get("/t/o/AAAAAAAAAAAAAAAAAAAAAAAAAAAA.gif"))
    assert response.status_code == 404
    assert written.nothing


def test_unsubscribe_page_shows_a_form_that_works_without_javascript_and_writes_nothing(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    url = unsubscribe_url(TRACKING_BASE, keys.tracking, IDS)
    response, written = capture(lambda: client.get(_path(url)))
    assert response.status_code == 200
    page = response.text
    assert f'<form method="post" action="{url}"' in page and "<script" not in page
    assert 'name="List-Unsubscribe" value="One-Click"' in page
    assert written.nothing  # link scanners fetch pages: only the POST unsubscribes


def test_one_click_post_records_one_unsubscribe_per_email_however_often(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    path = _path(unsubscribe_url(TRACKING_BASE, keys.tracking, IDS))
    ids = []
    for _ in range(2):
        response, written = capture(
            lambda: client.post(
                path,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        )
        assert response.status_code == 200, response.text
        (event,) = written.events
        assert event.type == "unsubscribe" and event.contact_id == IDS.contact_id
        ids.append(event.event_id)
    assert ids[0] == ids[1]


def test_one_click_post_as_multipart_form_is_accepted(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    path = _path(unsubscribe_url(TRACKING_BASE, keys.tracking, IDS))
    response, written = capture(
        lambda: client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    )
    assert response.status_code == 200, response.text
    assert [e.type for e in written.events] == ["unsubscribe"]


def test_unsubscribe_post_without_the_rfc8058_body_is_400(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    path = _path(unsubscribe_url(TRACKING_BASE, keys.tracking, IDS))
    response, written = capture(lambda: client.post(path, content=b"something=else"))
    assert response.status_code == 400
    assert written.nothing


def test_tracking_is_404_when_no_secret_is_configured(
    make_client: MakeClient, keys: Keys, capture: Capture
) -> None:
    bare = make_client(tracking_secret=None)
    response, written = capture(
        lambda: bare.get(_path(open_url(TRACKING_BASE, keys.tracking, IDS)))
    )
    assert response.status_code == 404
    assert written.nothing


def test_unsubscribe_post_with_a_non_numeric_content_length_is_400_not_500(
    client: TestClient, keys: Keys
) -> None:
    # Regression: int(content-length) raised on "abc" and the app answered 500.
    path = _path(unsubscribe_url(TRACKING_BASE, keys.tracking, IDS))
    response = client.post(path, content=b"", headers={"Content-Length": "abc"})
    assert response.status_code == 400
