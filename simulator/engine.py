"""The simulator's loop: watch the Maildir, schedule each message's plan, post the steps.

One asyncio task scans the Maildir (`new/` and `cur/`) for files it has not seen, parses them
in a worker thread and puts their steps on a time-ordered heap. The dispatcher pops due steps:
webhook events go into the SendGrid batch, flushed every `batch_seconds` or at `batch_size`;
opens, clicks and unsubscribes are requests to the URLs in the message, `concurrency` at a
time. A failed post (connection error, 5xx, 429) is retried with backoff, then given up and
counted. Seen message names are appended to `seen.txt`, so a restart does not replay them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

from simulator.config import Config
from simulator.http import Client, HttpError
from simulator.ledger import Ledger
from simulator.mail import NotOurs, Sent, parse_message
from simulator.plan import WEBHOOK_KINDS, Step, plan_for
from simulator.sendgrid import Signer, event_for

log = logging.getLogger("simulator")
WEBHOOK_PATH = "/api/v1/webhooks/esp-events/sendgrid"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
SCAN_LIMIT = 5000  # new messages taken per scan


def _key(name: str) -> str:
    """A Maildir file's unique name, without the `:2,<flags>` info of `cur/`."""
    return name.split(":", 1)[0]


def _mark_seen(path: Path) -> None:
    """Move a message from `new/` to `cur/` with the Seen flag, as a mail reader does."""
    if path.parent.name != "new":
        return
    try:
        path.rename(path.parent.parent / "cur" / f"{_key(path.name)}:2,S")
    except OSError:  # gone, or cur/ missing: it stays where it is, and is in `seen`
        pass


class Simulator:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.signer = Signer(config.sendgrid_key_path)
        self.ledger = Ledger(config.ledger_path, config.seed)
        self.seen: set[str] = set()
        self.heap: list[tuple[float, int, Sent, Step, int]] = []
        self.order = itertools.count()
        self.batch: list[tuple[Sent, Step, int]] = []
        self.batch_started = 0.0
        self.stopping = asyncio.Event()
        self.wakeup = asyncio.Event()
        self.inflight: set[asyncio.Task[None]] = set()
        self.scanned = False  # the first scan lists cur/ too

    # --- the Maildir ------------------------------------------------------------------------

    def load_seen(self) -> None:
        try:
            self.seen = set(self.config.seen_path.read_text().split())
        except OSError:
            self.seen = set()

    def _new_files(self, subs: tuple[str, ...]) -> list[Path]:
        found: list[Path] = []
        for sub in subs:
            try:
                with os.scandir(self.config.maildir / sub) as it:
                    found += [
                        Path(e.path) for e in it if e.is_file() and _key(e.name) not in self.seen
                    ]
            except FileNotFoundError:
                continue
        return sorted(found, key=lambda p: p.name)

    def _parse(self, paths: Iterable[Path]) -> list[tuple[Sent, list[Step]]]:
        out = []
        for path in paths:
            try:
                raw = path.read_bytes()
            except OSError:  # moved between listing and reading: the next scan finds it
                continue
            _mark_seen(path)
            try:
                sent = parse_message(_key(path.name), raw)
            except NotOurs:
                self.ledger.skipped += 1
                continue
            out.append((sent, plan_for(sent, self.config)))
        return out

    async def scan(self) -> int:
        """Schedule the plans of up to SCAN_LIMIT new messages; how many files it took.

        The first scan also lists `cur/` (messages a previous run or a mail client moved there
        before this process saw them); later ones list `new/` only, where each message stays
        until it has been read.
        """
        subs = ("new",) if self.scanned else ("new", "cur")
        paths = self._new_files(subs)[:SCAN_LIMIT]
        self.scanned = True
        if not paths:
            return 0
        parsed = await asyncio.to_thread(self._parse, paths)
        now = time.monotonic()
        for sent, steps in parsed:
            self.ledger.message(sent.campaign_id, sent.email_record_id, len(steps))
            for step in steps:
                heapq.heappush(self.heap, (now + step.at, next(self.order), sent, step, 1))
        names = [_key(p.name) for p in paths]
        self.seen.update(names)
        self.config.seen_path.parent.mkdir(parents=True, exist_ok=True)
        with self.config.seen_path.open("a") as fh:
            fh.write("".join(f"{n}\n" for n in names))
        self.wakeup.set()
        return len(paths)

    async def watch(self) -> None:
        """Scan every `poll_seconds`; at once again only after a full scan (a backlog).

        Listing a directory costs time in proportion to every file in it: rescanning as soon
        as one new mail had arrived kept a core busy listing 20,000 files during a send, and
        listing every message ever received twice a second kept an idle simulator busy; read
        messages move to `cur/`.
        """
        while not self.stopping.is_set():
            try:
                taken = await self.scan()
            except Exception:
                log.exception("scanning %s failed", self.config.maildir)
                taken = 0
            if taken < SCAN_LIMIT:
                await self._sleep(self.config.poll_seconds)

    # --- posting ----------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass

    def _retry(self, sent: Sent, step: Step, attempt: int, why: str) -> None:
        if attempt >= self.config.max_attempts:
            log.error("gave up %s of email %s: %s", step.kind, sent.email_record_id, why)
            self.ledger.gave_up(step)
            return
        delay = min(30.0, 0.5 * 2**attempt)
        log.warning(
            "%s of email %s failed (%s); retry in %.1fs",
            step.kind,
            sent.email_record_id,
            why,
            delay,
        )
        due = time.monotonic() + delay
        heapq.heappush(self.heap, (due, next(self.order), sent, step, attempt + 1))

    async def flush(self, client: Client) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        events = [event_for(self.config.seed, sent, step) for sent, step, _ in batch]
        body = json.dumps(events, separators=(",", ":")).encode()
        url = self.config.ingestion_url.rstrip("/") + WEBHOOK_PATH
        why = ""
        try:
            resp = await client.request("POST", url, self.signer.headers(body), body)
            if resp.status_code == 200:
                answer = resp.json()
                if answer.get("accepted") != len(events):
                    log.warning(
                        "webhook accepted %s of %s events: %s",
                        answer.get("accepted"),
                        len(events),
                        answer,
                    )
                for sent, step, _ in batch:
                    self.ledger.posted(sent.campaign_id, sent.email_record_id, step)
                return
            why = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if resp.status_code not in _RETRY_STATUS:
                for _sent, step, _ in batch:
                    log.error("webhook refused: %s", why)
                    self.ledger.gave_up(step)
                return
        except HttpError as exc:
            why = str(exc)
        for sent, step, attempt in batch:
            self._retry(sent, step, attempt, why)

    async def hit(self, client: Client, sent: Sent, step: Step, attempt: int) -> None:
        """An open, click or one-click unsubscribe at the URL the message carries."""
        headers = {"User-Agent": step.user_agent or "Mozilla/5.0"}
        url = step.url or ""
        try:
            if step.kind == "unsubscribe":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                resp = await client.request("POST", url, headers, b"List-Unsubscribe=One-Click")
            else:
                resp = await client.request("GET", url, headers)
        except HttpError as exc:
            self._retry(sent, step, attempt, str(exc))
            return
        ok = resp.status_code == (302 if step.kind == "click" else 200)
        if ok:
            self.ledger.posted(sent.campaign_id, sent.email_record_id, step)
        elif resp.status_code in _RETRY_STATUS:
            self._retry(sent, step, attempt, f"HTTP {resp.status_code}")
        else:
            log.error("%s %s answered HTTP %s", step.kind, url[:120], resp.status_code)
            self.ledger.gave_up(step)

    def _spawn(self, client: Client, sent: Sent, step: Step, attempt: int) -> None:
        task = asyncio.create_task(self.hit(client, sent, step, attempt))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def dispatch(self, client: Client) -> None:
        while not self.stopping.is_set() or self.batch:
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                _, _, sent, step, attempt = heapq.heappop(self.heap)
                if step.kind in WEBHOOK_KINDS:
                    if not self.batch:
                        self.batch_started = now
                    self.batch.append((sent, step, attempt))
                    if len(self.batch) >= self.config.batch_size:
                        await self.flush(client)
                else:
                    self._spawn(client, sent, step, attempt)
            if self.batch and (
                now - self.batch_started >= self.config.batch_seconds or self.stopping.is_set()
            ):
                await self.flush(client)
            if self.stopping.is_set():
                break
            wait = self.config.batch_seconds if self.batch else 1.0
            if self.heap:
                wait = min(wait, self.heap[0][0] - now)
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=max(0.01, wait))
            except TimeoutError:
                pass

    async def keep_ledger(self) -> None:
        while not self.stopping.is_set():
            if self.ledger.dirty:
                self.ledger.write()
            await self._sleep(0.5)

    async def run(self) -> None:
        self.load_seen()
        self.ledger.write()
        log.info(
            "simulating %s: maildir %s, posting to %s, seed %s, ledger %s",
            "SendGrid",
            self.config.maildir,
            self.config.ingestion_url,
            self.config.seed,
            self.config.ledger_path,
        )
        client = Client(self.config.concurrency + 1, timeout=30.0)
        try:
            tasks = [
                asyncio.create_task(self.watch()),
                asyncio.create_task(self.dispatch(client)),
                asyncio.create_task(self.keep_ledger()),
            ]
            await self.stopping.wait()
            self.wakeup.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.inflight:
                await asyncio.gather(*self.inflight, return_exceptions=True)
        finally:
            await client.aclose()
        self.ledger.write()
        log.info(
            "simulator stopped: %s messages, %s steps pending",
            self.ledger.messages,
            self.ledger.pending,
        )
