"""The local stack itself: start, status, restart, crash detection and clean shutdown, by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from murmur.stack.manager import ALL_SERVICES, Stack
from murmur.stack.process import ManagedProcess, StackError
from murmur.stack.services import SmtpSink

pytestmark = pytest.mark.integration


def _cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MURMUR_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "murmur", "stack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _our_processes(stack: Stack) -> list[psutil.Process]:
    procs = []
    for status in stack.status():
        if status.pid:
            proc = psutil.Process(status.pid)
            procs += [proc, *proc.children(recursive=True)]
    return procs


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("stack"))
    stack.up()
    yield stack
    stack.down()


def test_up_starts_every_service_healthy_and_status_exits_zero(stack: Stack) -> None:
    statuses = stack.status()
    assert [s.name for s in statuses] == list(ALL_SERVICES)
    assert all(s.healthy and s.pid for s in statuses), statuses
    done = _cli(stack.state_dir, "status")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ALL_SERVICES:
        assert name in done.stdout


def test_up_twice_is_a_no_op_that_keeps_the_same_pids(stack: Stack) -> None:
    before = {s.name: s.pid for s in stack.status()}
    done = _cli(stack.state_dir, "up")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already running" in done.stdout
    assert {s.name: s.pid for s in stack.status()} == before


def test_env_prints_eval_able_exports_for_every_url(stack: Stack) -> None:
    done = _cli(stack.state_dir, "env")
    assert done.returncode == 0
    script = done.stdout + '\necho "$MURMUR_POSTGRES_URL|$MURMUR_CLICKHOUSE_URL|$MURMUR_SMTP_URL"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    pg, ch, smtp = out.stdout.strip().split("|")
    assert pg.startswith("postgresql://") and ch.startswith("http://")
    assert smtp.startswith("smtp://")
    assert "MURMUR_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:" in done.stdout


def test_a_killed_service_shows_as_down_and_status_exits_non_zero(stack: Stack) -> None:
    smtp = next(s for s in stack.status() if s.name == "smtp")
    assert smtp.pid is not None
    os.kill(smtp.pid, signal.SIGKILL)
    psutil.Process(smtp.pid).wait(timeout=10)
    after = next(s for s in stack.status() if s.name == "smtp")
    assert after.pid is None and not after.healthy
    done = _cli(stack.state_dir, "status")
    assert done.returncode != 0
    assert "down" in done.stdout
    env = _cli(stack.state_dir, "env")  # still useful for the others, and says what is missing
    assert env.returncode == 0
    assert "MURMUR_POSTGRES_URL=" in env.stdout and "MURMUR_SMTP_URL" not in env.stdout
    assert "not running (no variables): smtp" in env.stderr
    stack.up()  # brings only the dead one back
    assert all(s.healthy for s in stack.status())


def test_postgres_data_survives_down_and_up(stack: Stack) -> None:
    url = stack.service("postgres").urls()["postgres_url"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table if not exists keep_me (v int)")
        conn.execute("insert into keep_me values (42)")
    stack.down()
    stack.up()
    url = stack.service("postgres").urls()["postgres_url"]
    with psycopg.connect(url) as conn:
        row = conn.execute("select v from keep_me").fetchone()
    assert row == (42,)


def test_down_leaves_no_process_of_ours_running(tmp_path: Path) -> None:
    stack = Stack(tmp_path, ["postgres", "smtp"])
    stack.up()
    procs = _our_processes(stack)
    assert len(procs) >= 3  # postmaster, its children, the sink
    done = _cli(tmp_path, "down")
    assert done.returncode == 0, done.stderr
    _gone, alive = psutil.wait_procs(procs, timeout=15)
    assert alive == [], [p.pid for p in alive]
    assert not list((tmp_path / "run").glob("*.pid"))


def test_a_configured_port_that_is_taken_fails_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StackError, match=rf"port {port} is taken"):
            Stack(tmp_path, ["smtp"], ports={"smtp": port}).up()


def test_a_service_that_dies_during_start_reports_its_log_tail(tmp_path: Path) -> None:
    proc = ManagedProcess("broken", tmp_path / "run", tmp_path / "logs")
    proc.start([sys.executable, "-c", "print('disk on fire', flush=True); raise SystemExit(3)"])
    with pytest.raises(StackError, match=r"exited during start(.|\n)*disk on fire"):
        proc.wait_healthy(lambda: False, timeout=20)


def test_a_stale_pidfile_is_cleaned(tmp_path: Path) -> None:
    proc = ManagedProcess("ghost", tmp_path / "run", tmp_path / "logs")
    proc.run_dir.mkdir(parents=True)
    proc.pidfile.write_text('{"pid": 999999, "create_time": 1.0}')
    assert proc.pid() is None
    assert not proc.pidfile.exists()


def test_a_running_but_unhealthy_service_is_reported_and_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(tmp_path, ["smtp"])
    stack.up()
    pid = stack.status()[0].pid
    assert pid is not None
    monkeypatch.setattr(SmtpSink, "start_timeout", 3.0)
    os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
    try:
        with pytest.raises(StackError, match="running but not healthy"):
            stack.up()
        assert psutil.pid_exists(pid) and stack.status()[0].pid == pid
    finally:
        os.kill(pid, signal.SIGCONT)
        stack.down()


def test_a_service_whose_setup_fails_is_stopped_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_setup(self: SmtpSink) -> None:
        raise RuntimeError("cannot create topic")

    monkeypatch.setattr(SmtpSink, "after_start", broken_setup)
    stack = Stack(tmp_path, ["smtp"])
    with pytest.raises(StackError, match=r"setup failed.*cannot create topic"):
        stack.up()
    assert stack.status()[0].pid is None
    assert not list((tmp_path / "run").glob("*.pid"))
