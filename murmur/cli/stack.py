"""`murmur stack ...`: run the embedded local services."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from murmur.cli import error
from murmur.settings import get_settings
from murmur.stack.manager import ALL_SERVICES, STACK_UP_SERVICES, Stack, configured_ports


def register(sub: Any) -> None:
    stack = sub.add_parser("stack", help="start/stop the embedded local services")
    ssub = stack.add_subparsers(dest="stack_command", metavar="ACTION")
    ssub.required = True
    up = ssub.add_parser("up", help="start every service that is not running (idempotent)")
    up.add_argument("services", nargs="*", metavar="SERVICE")
    up.set_defaults(func=_up)
    down = ssub.add_parser("down", help="stop every service (Postgres data is kept)")
    down.set_defaults(func=_down)
    status = ssub.add_parser("status", help="URL, pid and health of each service")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
    env = ssub.add_parser(
        "env", help="print `export MURMUR_...=` lines for eval (exit 1 when nothing runs)"
    )
    env.set_defaults(func=_env)
    logs = ssub.add_parser("logs", help="the last lines of a service's log")
    logs.add_argument("service", choices=STACK_UP_SERVICES)
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.set_defaults(func=_logs)


def _stack(services: list[str] | None = None) -> Stack:
    """The named services; by default the core ones plus on-request ones that are running."""
    settings = get_settings()
    if not services:
        running = Stack(settings.state_dir, STACK_UP_SERVICES).status_pids()
        services = [n for n in STACK_UP_SERVICES if n in ALL_SERVICES or running.get(n)]
    return Stack(settings.state_dir, services, configured_ports(settings))


def _up(args: argparse.Namespace) -> int:
    stack = _stack(args.services or list(STACK_UP_SERVICES))
    print(f"local stack in {stack.state_dir}")
    statuses = stack.up(say=lambda m: print(f"  {m}", flush=True))
    _print_status(statuses)
    return 0 if all(s.healthy for s in statuses) else 1


def _down(args: argparse.Namespace) -> int:
    stack = _stack()
    stack.down(say=lambda m: print(f"  {m}", flush=True))
    print(f"local stack in {stack.state_dir} is down")
    return 0


def _status(args: argparse.Namespace) -> int:
    statuses = _stack().status()
    if args.json:
        print(json.dumps([s.__dict__ for s in statuses], indent=2))
    else:
        _print_status(statuses)
    return 0 if all(s.healthy for s in statuses) else 1


def _print_status(statuses: list[Any]) -> None:
    print(f"{'SERVICE':<11} {'HEALTH':<8} {'PID':>7}  URL")
    for s in statuses:
        health = "healthy" if s.healthy else ("unhealthy" if s.pid else "down")
        url = " ".join(s.urls.values()) if s.urls else "-"
        print(f"{s.name:<11} {health:<8} {s.pid or '-':>7}  {url}")
    sys.stdout.flush()


def _env(args: argparse.Namespace) -> int:
    stack = _stack()
    statuses = stack.status()
    down = [s.name for s in statuses if not s.pid]
    if len(down) == len(statuses):
        error(
            f"the local stack under {stack.state_dir} is not running: nothing to export "
            "(`murmur stack up` starts it)"
        )
        return 1
    for line in stack.env_lines(statuses):
        print(line)
    if down:
        print(f"murmur: warning: not running (no variables): {', '.join(down)}", file=sys.stderr)
    return 0


def _logs(args: argparse.Namespace) -> int:
    stack = _stack()
    logfile = stack.service(args.service).proc.logfile
    if not logfile.exists():
        error(f"no log for {args.service} yet ({logfile})")
        return 1
    print(stack.logs(args.service, args.lines))
    return 0
