"""The SMTP sink's Maildir delivery, through a real aiosmtpd server in this process."""

from __future__ import annotations

import mailbox
import os
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from murmur.net import free_port
from murmur.stack.smtp_sink import MaildirHandler, SinkController

pytestmark = pytest.mark.integration


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    handler = MaildirHandler(tmp_path / "maildir")
    controller = SinkController(handler, hostname="127.0.0.1", port=port, data_size_limit=50_000)
    controller.start()
    try:
        yield tmp_path / "maildir", port
    finally:
        controller.stop()


def _message(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "news@example.com"
    msg["To"] = f"r{n}@example.org"
    msg["Subject"] = f"number {n}"
    msg.set_content(f"body {n}\n")
    return msg


def test_each_mail_lands_in_new_with_the_envelope_in_order_and_without_a_disk_sync(
    sink: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    maildir, port = sink

    def no_sync(fd: int) -> None:
        raise AssertionError("the sink synced a message to the disk")

    # Regression: mailbox.Maildir.add fsynced every message, which held the sink's one event
    # loop on the disk for each mail and capped the demo's send
    monkeypatch.setattr(os, "fsync", no_sync)
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(5):
            smtp.send_message(_message(n), "bounce@example.com", [f"r{n}@example.org"])
    names = sorted(os.listdir(maildir / "new"))
    assert len(names) == 5 and not os.listdir(maildir / "tmp")
    box = mailbox.Maildir(str(maildir), create=False)
    subjects = [box[name.split(":")[0]]["Subject"] for name in names]
    assert subjects == [f"number {n}" for n in range(5)]  # names sort in delivery order
    first = box[names[0]]
    assert first["X-Sink-Mail-From"] == "bounce@example.com"
    assert first["X-Sink-Rcpt-To"] == "r0@example.org"
    assert first.get_payload().strip() == "body 0"


@pytest.mark.parametrize(
    "body",
    [
        "one line\n",
        ".starts with a dot\n.\nend of a sentence.\n..two dots\n",
        "line one.\nline two.\n.\n",
        "x" * 3000 + "\n" + "short\n" * 400,
    ],
)
def test_data_comes_back_byte_for_byte_dot_stuffing_undone(
    sink: tuple[Path, int], body: str
) -> None:
    maildir, port = sink
    raw = f"From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\n\r\n{body}"
    raw = raw.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail("a@example.com", ["b@example.org"], raw)  # smtplib stuffs the dots
        smtp.sendmail("a@example.com", ["c@example.org"], raw)  # a second DATA on the line
    names = sorted(os.listdir(maildir / "new"))
    stored = [(maildir / "new" / n).read_bytes() for n in names]
    head = b"X-Sink-Mail-From: a@example.com\nX-Sink-Rcpt-To: "
    assert stored == [
        head + rcpt + b"\n" + raw.replace(b"\r\n", b"\n")
        for rcpt in (b"b@example.org", b"c@example.org")
    ]


def test_a_message_over_the_size_limit_is_refused_with_552(sink: tuple[Path, int]) -> None:
    maildir, port = sink
    with smtplib.SMTP("127.0.0.1", port) as smtp, pytest.raises(smtplib.SMTPException) as err:
        smtp.sendmail("a@example.com", ["b@example.org"], b"Subject: big\r\n\r\n" + b"y" * 60_000)
    assert "552" in str(err.value) or isinstance(err.value, smtplib.SMTPServerDisconnected)
    assert not os.listdir(maildir / "new")
