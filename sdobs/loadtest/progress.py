"""A one-line live progress bar for the command line, drawn from ``Progress`` snapshots."""

from __future__ import annotations

from typing import TextIO

from sdobs.loadtest.runner import Progress


def render(p: Progress, width: int = 24) -> str:
    """One line: bar, counts, in-flight and rate."""
    filled = round(p.fraction * width)
    bar = "#" * filled + "." * (width - filled)
    rate = p.done / p.elapsed if p.elapsed > 0 else 0.0
    count = f"{p.done}/{p.planned}" if p.planned else f"{p.done}"
    clock = f"{p.elapsed:.1f}s" + (f"/{p.deadline_s:g}s" if p.deadline_s else "")
    return (
        f"[{bar}] {count}  ok {p.succeeded}  err {p.failed}  "
        f"in flight {p.in_flight}  {clock}  {rate:.1f} req/s"
    )


class ProgressLine:
    """Redraws in place on a terminal; elsewhere prints a line every ``every_s`` seconds."""

    def __init__(self, stream: TextIO, *, every_s: float = 10.0) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every_s = every_s
        self._last = float("-inf")
        self._width = 0

    def update(self, p: Progress) -> None:
        """Show the snapshot."""
        line = render(p)
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
            self.stream.flush()
        elif p.elapsed - self._last >= self.every_s:
            self._last = p.elapsed
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the line so later output starts on a fresh one."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
