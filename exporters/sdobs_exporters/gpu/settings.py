"""The GPU exporter's settings: one validated layer for command-line flags and ``SDOBS_GPU_*``.

Every option is declared once in :data:`OPTIONS` with its flag, environment variable, default
and a parser that accepts only sensible values. A flag wins over its variable, the variable over
the default; whichever is used is validated the same way, and a bad one stops the exporter with
one line naming the flag or variable it came from (never a traceback, and ``--help`` works
whatever the environment holds). Standard library only: the exporter stays light.

Why the bounds: a negative lock timeout would make ``threading.Lock.acquire`` wait forever, so
a scrape would hang for as long as a stuck NVML call; NaN or infinity are not durations; an
exporter asked for fewer than one simulated GPU would serve ``up 1`` about no GPU at all.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from . import naming
from .podresources import DEFAULT_SOCKET
from .server import DEFAULT_PORT

PROG = "sdobs-gpu-exporter"
MAX_SIMULATED_GPUS = 64
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class SettingError(ValueError):
    """A flag or variable holds a value the exporter cannot use; the message says which."""


# -- value parsers: text in, a valid value out, or ValueError with what is expected ----------
def choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")
        return value

    parse.choices = allowed  # type: ignore[attr-defined]
    return parse


def seconds(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """A duration in seconds (``5``, ``2.5``, ``500ms``, ``5s``, ``5m``, ``1h``) within bounds."""
    bound = (f"more than {low:g} and at most {high:g}" if low_open
             else f"from {low:g} to {high:g}")

    def parse(text: str) -> float:
        m = _DURATION.fullmatch(text.strip())
        value = float(m.group(1)) * _UNITS[m.group(2)] if m else math.nan
        if not math.isfinite(value) or value < low or (low_open and value == low) or value > high:
            raise ValueError(f"seconds {bound} (e.g. 5, 500ms, 5m)")
        return value

    return parse


def whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = text.strip()
        if not re.fullmatch(r"[0-9]{1,9}", value) or not low <= int(value) <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return int(value)

    return parse


def listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9402`` for IPv6; an empty host means all addresses)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 <= int(port) <= 65535:
        raise ValueError(f"HOST:PORT, for example 0.0.0.0:{DEFAULT_PORT}")
    return host.strip("[]") or "0.0.0.0", int(port)


def text_value(text: str) -> str:
    if not text.strip() or any(not ch.isprintable() for ch in text):
        raise ValueError("a non-empty value without control characters")
    return text.strip()


def boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"one of {', '.join(_TRUE)} or {', '.join(v for v in _FALSE if v)}")


# -- the options --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One setting: ``--flag`` (or a ``--no-…`` switch when ``switch``), its variable, default."""

    flag: str
    env: str | None
    default: str | Callable[[], str]
    parse: Callable[[str], Any]
    help: str
    switch: bool = False
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def default_text(self) -> str:
        return self.default() if callable(self.default) else self.default


def _hostname_default() -> str:
    return socket.gethostname()


OPTIONS: tuple[Option, ...] = (
    Option("--listen", "SDOBS_GPU_LISTEN", f"127.0.0.1:{DEFAULT_PORT}", listen,
           "HOST:PORT to serve /metrics and /healthz on; use 0.0.0.0:PORT in a pod",
           metavar="HOST:PORT"),
    Option("--naming", "SDOBS_GPU_NAMING", "default", choice(*naming.NAMINGS),
           "metric names: Prometheus-style sdobs_gpu_* or dcgm-exporter's DCGM_FI_*"),
    Option("--mode", "SDOBS_GPU_MODE", "sidecar", choice("sidecar", "node", "none"),
           "attribution: sidecar reads K_SERVICE/K_REVISION/POD_NAME from the environment, "
           "node asks the kubelet pod-resources API"),
    Option("--backend", "SDOBS_GPU_BACKEND", "nvml", choice("nvml", "simulated"),
           "device backend"),
    Option("--simulated-gpus", "SDOBS_GPU_SIMULATED", "1", whole(1, MAX_SIMULATED_GPUS),
           "with --backend simulated: how many GPUs", metavar="N"),
    Option("--simulated-model", "SDOBS_GPU_SIMULATED_MODEL", "a10", text_value,
           "with --backend simulated: GPU model key", metavar="MODEL"),
    Option("--pod-resources-socket", "SDOBS_GPU_POD_RESOURCES_SOCKET", DEFAULT_SOCKET, text_value,
           "node mode: kubelet socket", metavar="PATH"),
    Option("--mapping-refresh", "SDOBS_GPU_MAPPING_REFRESH", "10",
           seconds(0, 86400, low_open=True),
           "node mode: seconds between pod-resources List calls", metavar="SECONDS"),
    Option("--mapping-ttl", "SDOBS_GPU_MAPPING_TTL", "300", seconds(0, 7 * 86400),
           "node mode: seconds the last good mapping is kept while the kubelet does not answer",
           metavar="SECONDS"),
    Option("--hostname", "NODE_NAME", _hostname_default, text_value,
           "node name for the Hostname/hostname labels",
           metavar="NAME"),
    Option("--no-gpu-processes", "SDOBS_GPU_NO_PROCESSES", "0", boolean,
           "do not export per-process GPU memory and SM utilisation", switch=True),
    Option("--no-xid-events", "SDOBS_GPU_NO_XID", "0", boolean,
           "do not register for XID events", switch=True),
    Option("--no-pcie-counters", "SDOBS_GPU_NO_PCIE", "0", boolean,
           "do not read the PCIe byte counters", switch=True),
    Option("--no-self-metrics", "SDOBS_GPU_NO_SELF", "0", boolean,
           "do not export the exporter's own process_* and python_* metrics", switch=True),
    Option("--lock-timeout", "SDOBS_GPU_LOCK_TIMEOUT", "5", seconds(0, 300),
           "seconds a scrape waits for a running collection before it answers with health "
           "series only", metavar="SECONDS"),
    Option("--log-level", "SDOBS_GPU_LOG_LEVEL", "info",
           choice("debug", "info", "warning", "error"), "log level"),
)


class SettingsParser(argparse.ArgumentParser):
    """argparse for the flags, then the environment and defaults through the same parsers.

    Flags are parsed as text (argparse never converts them), so each value, from wherever it
    came, is validated once in :meth:`resolve`; every error is one line and exit status 2.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.environ = os.environ if environ is None else environ

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        ns, rest = super().parse_known_args(args, namespace)
        return self.resolve(ns), rest

    def resolve(self, ns: argparse.Namespace) -> argparse.Namespace:
        for opt in OPTIONS:
            given = getattr(ns, opt.dest, None)
            if opt.switch:
                given = "1" if given else None
            if given is not None:
                where, text = opt.flag, given
            elif opt.env and self.environ.get(opt.env, "").strip():  # an empty one is unset
                where, text = opt.env, self.environ[opt.env]
            else:
                where, text = "default", opt.default_text()
            try:
                value = opt.parse(text)
            except ValueError as exc:
                self.error(f"{where} must be {exc}, not {_shown(text)}")
            setattr(ns, opt.dest, value)
        host, port = ns.listen
        ns.listen = f"{'[' + host + ']' if ':' in host else host}:{port}"
        ns.listen_address = (host, port)
        return ns


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def build_parser(environ: Mapping[str, str] | None = None) -> SettingsParser:
    """The exporter's command line; ``environ`` (default ``os.environ``) supplies variables."""
    p = SettingsParser(environ, prog=PROG,
                       description="Prometheus exporter for NVIDIA GPUs, attributed to Knative "
                                   "revisions. Every option also reads the environment "
                                   "variable named in its help; a flag wins.")
    for opt in OPTIONS:
        default = opt.default_text() if opt.flag != "--hostname" else "the host name"
        env = f"env {opt.env}, " if opt.env else ""
        if opt.switch:
            p.add_argument(opt.flag, action="store_true", default=None,
                           help=f"{opt.help} ({env.rstrip(', ')}=1)")
            continue
        choices = getattr(opt.parse, "choices", None)
        metavar = opt.metavar or ("{" + ",".join(choices) + "}" if choices else None)
        p.add_argument(opt.flag, default=None, metavar=metavar,
                       help=f"{opt.help} ({env}default {default})")
    return p


def parse(argv: Sequence[str] | None = None,
          environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Validated settings from ``argv`` (default ``sys.argv[1:]``) and the environment."""
    return build_parser(environ).parse_args(sys.argv[1:] if argv is None else argv)
