"""Start, run and stop the local ClickHouse server."""

from __future__ import annotations

import errno
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from murmur.chserver.app import App
from murmur.chserver.config import ServerConfig
from murmur.chserver.engine import Engine
from murmur.chserver.handler import ChHTTPServer
from murmur.chserver.logs import JsonLog


class StartupError(Exception):
    """The server could not start (port taken, data directory locked, ...)."""


class RunningServer:
    """A bound, serving instance; `stop` shuts it down and closes the engine."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.log = JsonLog(config.log_file)
        try:
            self.httpd = ChHTTPServer((config.host, config.port))
        except OSError as exc:
            self.log.close()
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"cannot listen on {config.host}:{config.port}: address already in use"
                ) from exc
            raise StartupError(f"cannot listen on {config.host}:{config.port}: {exc}") from exc
        base = {"max_execution_time": f"{config.query_timeout:g}"} if config.query_timeout else {}
        try:
            self.engine = Engine(config.data_dir, base)
        except Exception as exc:
            self.httpd.server_close()
            self.log.close()
            raise StartupError(f"cannot open chdb data directory: {exc}") from exc
        self.app = App(config, self.engine, self.log)
        self.httpd.app = self.app
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://{config.host}:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="chserver"
        )
        self._thread.start()
        self._stopped = False
        self.log.event(
            "ready",
            url=self.url,
            pid=os.getpid(),
            data_dir=str(self.engine.data_dir),
            engine_version=self.engine.version,
        )

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, then close sessions and the engine."""
        if self._stopped:
            return
        self._stopped = True
        self.log.event("stopping")
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()
        clean = self.httpd.wait_idle(self.config.shutdown_grace)
        self.httpd.disconnect_all()
        if not clean:
            clean = self.httpd.wait_idle(5.0)
        self.app.sessions.close_all()
        self.engine.close()
        self.log.event("stopped", clean=clean)
        self.log.close()


def serve(
    config: ServerConfig,
    *,
    on_ready: Callable[[RunningServer], None] | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop_event``), then shut down cleanly.

    Signal handlers are installed only when called from the main thread.

    Returns:
        0 after a clean shutdown.

    Raises:
        StartupError: the port is taken or the data directory cannot be opened.
    """
    stop = stop_event or threading.Event()
    server = RunningServer(config)
    if threading.current_thread() is threading.main_thread():

        def _on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    try:
        if on_ready is not None:
            on_ready(server)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0
