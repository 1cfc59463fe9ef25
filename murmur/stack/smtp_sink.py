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

log = logging.getLogger("murmur.smtp_sink")


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
    controller = Controller(
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
