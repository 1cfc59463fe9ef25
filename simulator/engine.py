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

import httpx

from simulator.config import Config
from simulator.ledger import Ledger
from simulator.mail import NotOurs, Sent, parse_message
from simulator.plan import WEBHOOK_KINDS, Step, plan_for
from simulator.sendgrid import Signer, event_for

log = logging.getLogger("simulator")
WEBHOOK_PATH = "/api/v1/webhooks/esp-events/sendgrid"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
SCAN_LIMIT = 5000  # new messages taken per scan


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
        self.limit = asyncio.Semaphore(config.concurrency)

    # --- the Maildir ------------------------------------------------------------------------

    def load_seen(self) -> None:
        try:
            self.seen = set(self.config.seen_path.read_text().split())
        except OSError:
            self.seen = set()

    def _new_files(self) -> list[Path]:
        found: list[Path] = []
        for sub in ("new", "cur"):
            try:
                with os.scandir(self.config.maildir / sub) as it:
                    found += [Path(e.path) for e in it if e.is_file() and e.name not in self.seen]
            except FileNotFoundError:
                continue
        return sorted(found, key=lambda p: p.name)

    def _parse(self, paths: Iterable[Path]) -> list[tuple[Sent, list[Step]]]:
        out = []
        for path in paths:
            try:
                sent = parse_message(path.name, path.read_bytes())
            except NotOurs:
                self.ledger.skipped += 1
                continue
            except OSError:  # moved between listing and reading: the next scan finds it
                continue
            out.append((sent, plan_for(sent, self.config)))
        return out

    async def scan(self) -> int:
        """Schedule the plans of up to SCAN_LIMIT new messages; how many files it took."""
        paths = [p for p in self._new_files() if p.name not in self.seen][:SCAN_LIMIT]
        if not paths:
            return 0
        parsed = await asyncio.to_thread(self._parse, paths)
        now = time.monotonic()
        for sent, steps in parsed:
            self.ledger.message(sent.campaign_id, sent.email_record_id, len(steps))
            for step in steps:
                heapq.heappush(self.heap, (now + step.at, next(self.order), sent, step, 1))
        names = [p.name for p in paths]
        self.seen.update(names)
        self.config.seen_path.parent.mkdir(parents=True, exist_ok=True)
        with self.config.seen_path.open("a") as fh:
            fh.write("".join(f"{n}\n" for n in names))
        self.wakeup.set()
        return len(paths)

    async def watch(self) -> None:
        """Scan every `poll_seconds`; at once again only after a full scan (a backlog).

        Listing the Maildir costs time in proportion to every file in it: rescanning as soon
        as one new mail had arrived kept a core busy listing 20,000 files during a send.
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

    async def flush(self, client: httpx.AsyncClient) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        events = [event_for(self.config.seed, sent, step) for sent, step, _ in batch]
        body = json.dumps(events, separators=(",", ":")).encode()
        url = self.config.ingestion_url.rstrip("/") + WEBHOOK_PATH
        why = ""
        try:
            resp = await client.post(url, content=body, headers=self.signer.headers(body))
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
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}"
        for sent, step, attempt in batch:
            self._retry(sent, step, attempt, why)

    async def hit(self, client: httpx.AsyncClient, sent: Sent, step: Step, attempt: int) -> None:
        """An open, click or one-click unsubscribe at the URL the message carries."""
        headers = {"User-Agent": step.user_agent or "Mozilla/5.0"}
        url = step.url or ""
        async with self.limit:
            try:
                if step.kind == "unsubscribe":
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                    resp = await client.post(
                        url, content=b"List-Unsubscribe=One-Click", headers=headers
                    )
                else:
                    resp = await client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                self._retry(sent, step, attempt, f"{type(exc).__name__}: {exc}")
                return
        ok = resp.status_code == (302 if step.kind == "click" else 200)
        if ok:
            self.ledger.posted(sent.campaign_id, sent.email_record_id, step)
        elif resp.status_code in _RETRY_STATUS:
            self._retry(sent, step, attempt, f"HTTP {resp.status_code}")
        else:
            log.error("%s %s answered HTTP %s", step.kind, url[:120], resp.status_code)
            self.ledger.gave_up(step)

    def _spawn(self, client: httpx.AsyncClient, sent: Sent, step: Step, attempt: int) -> None:
        task = asyncio.create_task(self.hit(client, sent, step, attempt))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def dispatch(self, client: httpx.AsyncClient) -> None:
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
        limits = httpx.Limits(max_connections=self.config.concurrency + 4)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
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
        self.ledger.write()
        log.info(
            "simulator stopped: %s messages, %s steps pending",
            self.ledger.messages,
            self.ledger.pending,
        )
