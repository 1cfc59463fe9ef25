"""The pipelined SMTP path (RFC 2920): one write for MAIL/RCPT/DATA, answers judged in order."""

from __future__ import annotations

import smtplib
from email import message_from_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sender.messengers.smtp import SmtpConfig, SmtpMessenger, _content, _quote
from sender.models import Outgoing, SendFailure
from tests.sender.esp_helpers import Sink, sink  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration


def _message(i: int, rcpt: str, body: str = "hello") -> Outgoing:
    data = (
        f"From: a@p.example\r\nTo: {rcpt}\r\nMessage-ID: <{i}@p.example>\r\n"
        f"Subject: s\r\n\r\n{body}\r\n"
    ).encode()
    return Outgoing(i, i, "a@p.example", rcpt, data, f"<{i}@p.example>")


def test_messages_go_pipelined_and_arrive_intact(sink: tuple[Sink, str]) -> None:  # noqa: F811
    handler, url = sink
    messenger = SmtpMessenger(SmtpConfig.from_url(url, max_retries=0))
    body = ".starts with a dot\r\n..two\r\nmiddle\r\n.\r\nend"
    messages = {f"r{i}@p.example": _message(i, f"r{i}@p.example", body) for i in range(20)}
    try:
        ids = [messenger.push(message) for message in messages.values()]
    finally:
        messenger.close()
    assert all(i.startswith("S") for i in ids)  # the relay's queue ids
    assert handler.pipelined == 20  # DATA was on the wire before RCPT TO was answered
    assert len(handler.received) == 20
    for _, rcpt, raw in handler.received:
        assert raw == messages[rcpt].data  # byte for byte: the dots were stuffed and unstuffed


def test_without_pipelining_the_step_by_step_path_sends_the_same(
    sink: tuple[Sink, str],  # noqa: F811
) -> None:
    handler, url = sink
    handler.pipelining = False
    messenger = SmtpMessenger(SmtpConfig.from_url(url, max_retries=0))
    try:
        for i in range(3):
            messenger.push(_message(i, f"r{i}@p.example", ".dot"))
    finally:
        messenger.close()
    assert handler.pipelined == 0
    assert [message_from_bytes(raw).get_payload() for _, _, raw in handler.received] == [
        ".dot\r\n"
    ] * 3


def test_refusals_in_a_pipelined_group_name_their_step_and_keep_the_connection(
    sink: tuple[Sink, str],  # noqa: F811
) -> None:
    handler, url = sink
    handler.defer = lambda rcpt: rcpt.startswith("later")
    handler.refuse = lambda rcpt: "550 5.1.1 no such user" if rcpt.startswith("gone") else None
    messenger = SmtpMessenger(SmtpConfig.from_url(url, max_retries=0))
    try:
        with pytest.raises(SendFailure) as deferred:
            messenger.push(_message(1, "later@p.example"))
        with pytest.raises(SendFailure) as refused:
            messenger.push(_message(2, "gone@p.example"))
        messenger.push(_message(3, "ok@p.example"))  # the same connection, in step
        assert messenger.pool.qsize() == 1
        handler.down = True  # 421 to MAIL FROM: RCPT and DATA are refused after it
        with pytest.raises(SendFailure) as down:
            messenger.push(_message(4, "ok2@p.example"))
        assert messenger.pool.qsize() == 0  # a 421 closes the connection
    finally:
        messenger.close()
    assert not deferred.value.permanent and deferred.value.code == 451
    assert deferred.value.reason.endswith("(RCPT TO)")
    assert refused.value.permanent and refused.value.hard_bounce
    assert refused.value.reason.startswith("550 5.1.1") and refused.value.reason.endswith(
        "(RCPT TO)"
    )
    assert down.value.code == 421 and down.value.reason.endswith("(MAIL FROM)")
    assert [rcpt for _, rcpt, _ in handler.received] == ["ok@p.example"]


def test_content_is_dot_stuffed_and_terminated_like_smtplib() -> None:
    assert _content(b"a\r\n.b\r\n") == b"a\r\n..b\r\n.\r\n"
    assert _content(b".a") == b"..a\r\n.\r\n"
    assert _content(b"a\r\nb.c\r\n") == b"a\r\nb.c\r\n.\r\n"


_ATOMS = st.lists(st.text("aZ09_%+-", min_size=1, max_size=4), min_size=1, max_size=3)
_LABELS = st.lists(st.text("aZ09-", min_size=1, max_size=4), min_size=1, max_size=3)
_DOT_ATOMS = st.builds(lambda a, d: ".".join(a) + "@" + ".".join(d), _ATOMS, _LABELS)


@settings(max_examples=500, deadline=None)
@given(_DOT_ATOMS | st.text(alphabet='aZ09._%+-@<> "(),;:\\[]!#', max_size=24))
def test_the_address_short_cut_quotes_as_smtplib_does(address: str) -> None:
    assert _quote(address) == smtplib.quoteaddr(address)
