"""The `simulator` stack service: `python -m simulator` on the SMTP sink's Maildir.

Local stack only (production has real ESPs sending real webhooks): it posts SendGrid-signed
event batches and tracking hits to the stack's ingestion receiver, so it starts after it.
Its state (the ledger of what it posted, the names of the messages it has seen) lives in
`<state>/simulator/`. Imported by murmur.stack.services (it subclasses `Service`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from murmur.stack.services import Service

PROJECT_DIR = Path(__file__).resolve().parents[2]


class Simulator(Service):
    name: str = "simulator"

    @property
    def home(self) -> Path:
        return self.state_dir / "simulator"

    @property
    def ledger(self) -> Path:
        return self.home / "ledger.json"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "simulator",
            "--state-dir",
            str(self.state_dir),
            "--maildir",
            str(self.state_dir / "maildir"),
        ]

    def environ(self) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p)
        return {**os.environ, "MURMUR_STATE_DIR": str(self.state_dir), "PYTHONPATH": path}

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.ledger.unlink(missing_ok=True)  # healthy = this process wrote a fresh one

    def urls(self) -> dict[str, str]:
        return {}

    def healthy(self) -> bool:
        pid = self.proc.pid()
        data = json.loads(self.ledger.read_text())
        return pid is not None and data.get("pid") == pid
