"""One server child process, owned by this process: started, waited for, stopped by PID.

Prometheus, Alertmanager, VictoriaMetrics, vmagent and vmalert all run the same way here: the
binary writes to a log file, the child gets its own session (Ctrl-C in a terminal reaches only
us, and we stop it), Linux kills it with its parent (``PR_SET_PDEATHSIG``), it counts as
started when one URL answers 200, and it is stopped by PID (SIGTERM, then SIGKILL). Owners
register here so every child still running at interpreter exit is stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import signal
import subprocess
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from sdobs.prom.errors import HarnessError


class _Stoppable(Protocol):
    def stop(self) -> None: ...


class _Owner(Protocol):
    proc: subprocess.Popen[bytes] | None
    ready_timeout: float

    def stop(self) -> None: ...


_OWNERS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for owner in list(_OWNERS):
        with contextlib.suppress(Exception):  # stopping must reach every child
            owner.stop()


def own(owner: _Stoppable) -> None:
    """Stop ``owner`` at interpreter exit if it is still alive then."""
    _OWNERS.add(owner)


def disown(owner: _Stoppable) -> None:
    _OWNERS.discard(owner)


def die_with_parent() -> None:  # pragma: no cover - runs in the child after fork
    """Ask Linux to send this process SIGTERM when its parent dies (also by SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` with stdout and stderr appended to ``log_path``, dying with us."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            list(args), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent, start_new_session=True,
        )
    finally:
        log.close()


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether ``url`` answers 200 now."""
    with contextlib.suppress(urllib.error.URLError, OSError), \
            urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status == 200
    return False


class ChildExited(HarnessError):
    """The child exited before it was ready."""


class ChildLate(HarnessError):
    """The child did not get ready in time (it is still running: the caller stops it)."""


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, *,
               exited: Callable[[int | None], str], late: Callable[[], str]) -> None:
    """Wait until ``url`` answers 200; ChildExited with ``exited(code)`` when the child exits
    first, ChildLate with ``late()`` when ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ChildExited(exited(proc.returncode))
        if answers(url):
            return
        time.sleep(0.1)
    raise ChildLate(late())


def await_ready(owner: _Owner, url: str, name: str, where: str, log: Callable[[], str]) -> None:
    """Wait until ``owner``'s child answers ``url``. A child that exited first is forgotten and a
    late one stopped; either way the error names ``name`` (on ``where``) and ends with ``log()``."""
    assert owner.proc is not None
    try:
        wait_ready(
            owner.proc, url, owner.ready_timeout,
            exited=lambda code: f"{name} exited with code {code} before it was ready; {log()}",
            late=lambda: (f"{name} on {where} was not ready within "
                          f"{owner.ready_timeout:.0f} s; {log()}"),
        )
    except ChildExited:
        owner.proc = None
        raise
    except ChildLate:
        owner.stop()
        raise


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """Stop ``proc`` by PID: SIGTERM, then SIGKILL after ``timeout`` s; nothing if it is gone."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def log_tail(path: Path, lines: int = 5) -> str:
    """The last lines of a child's log on one line, for an error message."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
