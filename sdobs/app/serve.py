"""Run the app inside this process (the demo's way): waitress in a thread, stopped by a handle."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from dash import Dash


@dataclass
class AppHandle:
    """A running app: its URL and a way to stop it."""

    url: str
    host: str
    port: int
    app: Dash
    _server: Any
    _thread: threading.Thread

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close every connection and wait for the thread (idempotent)."""
        from waitress import wasyncore

        server = self._server
        if server is None:
            return
        self._server = None
        loadtests = getattr(getattr(self.app, "sdobs", None), "loadtests", None)
        if loadtests is not None and loadtests.stop():  # a test started from the page
            loadtests.wait(timeout)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        wasyncore.close_all(server._map)
        self._thread.join(timeout)

    def __enter__(self) -> AppHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: Dash | str | None = None, *, host: str = "127.0.0.1", port: int = 0,
          threads: int = 8, **create_kwargs: Any) -> AppHandle:
    """Serve ``app`` (or ``create_app(app, **create_kwargs)`` for a URL) on ``host:port``.

    ``port=0`` picks a free port; the handle's ``url`` says which. The server thread is a
    daemon, so an interrupted demo or test never keeps the process alive.
    """
    from waitress.server import create_server

    if not isinstance(app, Dash):
        from sdobs.app.app import create_app

        app = create_app(app, **create_kwargs)
    server = create_server(app.server, host=host, port=port, threads=threads, ident="sdobs",
                           clear_untrusted_proxy_headers=True)
    bound_port = int(server.effective_port)
    thread = threading.Thread(target=server.run, name=f"sdobs-app-{bound_port}", daemon=True)
    thread.start()
    shown = f"[{host}]" if ":" in host else host
    return AppHandle(f"http://{shown}:{bound_port}", host, bound_port, app, server, thread)
