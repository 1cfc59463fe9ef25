"""SMTP sink: accepts every message and stores it in a Maildir so a user can open what was sent.

Run as `python -m murmur.stack.smtp_sink --maildir DIR --port N`; the local stack does this.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import signal
import socket
import time
from email.header import Header
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP

log = logging.getLogger("murmur.smtp_sink")
END = b"\r\n.\r\n"


class FastDataSMTP(SMTP):
    """aiosmtpd's server, but DATA is read up to the end marker, not line by line.

    aiosmtpd reads and copies each line of a message (a few µs each, ~200 lines per rendered
    newsletter): the biggest part of the sink's one thread per mail. This reads until a line
    ending in "." and stops at the first that is the lone-dot end marker, then undoes the dot
    stuffing (RFC 5321 4.5.2). What else DATA does is aiosmtpd's: the checks before it, the
    size limit (552), the handler hook, the reply. Lines longer than 1000 octets are accepted.
    """

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if self.envelope is None or not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        limit = self.data_size_limit or 2**31
        reader: Any = self._reader  # its `_limit` (one line for aiosmtpd) is raised for DATA
        saved = reader._limit
        reader._limit = limit + len(END)
        try:
            data = b""
            while not (data == b".\r\n" or data.endswith(END)):
                data += await reader.readuntil(b".\r\n")
        except asyncio.LimitOverrunError:
            await self.push("552 Error: Too much mail data")
            self._writer.close()  # the rest of it is still on the wire
            return
        finally:
            reader._limit = saved
        body = data[: -len(END) + 2] if data != b".\r\n" else b""  # keep the last CRLF
        if body.startswith(b".."):
            body = body[1:]
        original = body.replace(b"\r\n..", b"\r\n.")
        self.envelope.content = self.envelope.original_content = original
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)


class SinkController(Controller):
    def factory(self) -> SMTP:
        return FastDataSMTP(self.handler, **self.SMTP_kwargs)


def _header_value(value: str) -> str:
    """An envelope address as a trace-header value: ASCII as is.

    An SMTPUTF8 address becomes an RFC 2047 encoded word (as the email package wrote it when the
    sink re-generated each message), so a header parser reads it back intact.
    """
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=998)


class MaildirHandler:
    """aiosmtpd handler that delivers each message to a Maildir, with envelope headers added."""

    def __init__(self, maildir: Path) -> None:
        self.root = maildir
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self.host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
        self.pid = os.getpid()
        self.count = itertools.count()

    def deliver(self, data: bytes) -> str:
        """Write a message into `new/` the Maildir way (a file in `tmp/`, renamed); its name.

        Without an fsync: `mailbox.Maildir.add` syncs every message to the disk, which held the
        sink's one event loop for each mail (a disk flush per mail, longer on a busy disk) and
        capped a send; this sink is the local stack's stand-in for an ESP, not a mail store.
        """
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6):06d}P{self.pid}Q{next(self.count)}.{self.host}"
        tmp = self.root / "tmp" / name
        with open(tmp, "xb") as fh:
            fh.write(data)
        os.rename(tmp, self.root / "new" / name)
        return name

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # The bytes as received, the envelope prepended as trace headers (as an MTA adds
        # Return-Path): parsing and re-generating each message cost ~3 ms of the sink's single
        # thread, the cap of a 20,000-mail send. Stored with LF line ends, as before.
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        trace = f"X-Sink-Mail-From: {_header_value(str(envelope.mail_from))}\n"
        trace += f"X-Sink-Rcpt-To: {_header_value(', '.join(envelope.rcpt_tos))}\n"
        key = self.deliver(trace.encode("ascii") + raw.replace(b"\r\n", b"\n"))
        log.info("stored %s from=%s to=%s", key, envelope.mail_from, envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # aiosmtpd logs every command and reply at INFO (6 lines a mail: a quarter of the sink's CPU
    # during a send); the sink's own line per stored mail stays
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = SinkController(
        MaildirHandler(args.maildir), hostname=args.host, port=args.port, data_size_limit=50_000_000
    )
    controller.start()
    log.info("smtp sink listening on %s:%s, maildir %s", args.host, args.port, args.maildir)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()
    log.info("smtp sink stopped")


if __name__ == "__main__":
    main()
