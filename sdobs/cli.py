"""The ``sdobs`` command: one entry point, one subcommand per capability.

Subcommand modules are imported only when run, so ``sdobs --help`` works on the light
exporter install. A subcommand module provides ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Subcommand:
    name: str
    module: str
    help: str


# Add a line here when a capability lands; the order is the order in --help.
SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("demo", "sdobs.demo", "run the embedded default on this machine"),
    Subcommand("prometheus", "sdobs.prom.cli", "start a local Prometheus for sdobs"),
    Subcommand("dialect", "sdobs.knative.cli",
               "show which Knative metric dialects a Prometheus holds"),
    Subcommand("query", "sdobs.catalog.cli", "run a catalog signal against a Prometheus"),
    Subcommand("simulate", "sdobs.sim.cli", "backfill a local Prometheus with the twin's history"),
    Subcommand("loadtest", "sdobs.loadtest.cli", "load-test an A1111 txt2img endpoint"),
    Subcommand("app", "sdobs.app.cli", "serve the Dash monitoring app over a Prometheus"),
    Subcommand("dashboards", "sdobs.dashboards.cli", "generate and load the Grafana dashboards"),
    Subcommand("capacity", "sdobs.capacity.cli", "size a service and replay what-if settings"),
    Subcommand("notebook", "sdobs.notebook",
               "start JupyterLab on the capacity notebooks, reading the demo's Prometheus"),
    Subcommand("deploy", "sdobs.deploy.cli",
               "render and check the cluster install (monitors, Knative config, values)"),
    Subcommand("rules", "sdobs.rules.cli", "generate and check the recording, SLO and alert rules"),
    Subcommand("fault", "sdobs.alerting.cli", "inject a fault into the live twin of sdobs demo"),
)


class UserError(Exception):
    """A problem the user can fix; printed as one sentence, without a traceback."""


def parse_end(text: str, flag: str = "--end") -> float:
    """Unix seconds of ``now`` or an ISO time (UTC unless it says otherwise)."""
    if text == "now":
        return time.time()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag} {text!r} is neither 'now' nor an ISO time like "
                        "2024-06-01T00:00:00Z") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def parse_time(text: str, flag: str = "--time") -> float:
    """Unix seconds of ``now``, of Unix seconds (``1767261600``) or of an ISO time (UTC unless
    it says otherwise)."""
    problem = UserError(f"{flag} {text[:40]!r} is not a time; write 'now', Unix seconds or an "
                        "ISO time like 2024-06-01T00:00:00Z")
    try:
        value = float(text)
    except ValueError:
        try:
            return parse_end(text, flag)
        except UserError:
            raise problem from None
    if not math.isfinite(value) or value < 0:
        raise problem
    return value


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is one of the project's own error types, raised for something the user can
    fix (a bad flag, file or setting), rather than a bug in sdobs or a library.

    The project's input errors (``ManifestError``, ``QueueInputError``, ...) derive from
    :class:`~sdobs.errors.InputError`; a bare ``ValueError`` is a bug and keeps its traceback.
    """
    from sdobs.errors import InputError, NotFound
    from sdobs.prom.errors import HarnessError, PrometheusError

    return isinstance(exc, (UserError, PrometheusError, HarnessError, InputError, NotFound))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdobs",
        description="Observability and capacity analysis for model services on Knative.",
    )
    from sdobs import __version__

    parser.add_argument("--version", action="version", version=f"sdobs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in SUBCOMMANDS:
        sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    names = {c.name: c for c in SUBCOMMANDS}
    if not argv or argv[0] not in names:
        args = parser.parse_args(argv)
        parser.print_help()
        return 0 if not argv else 2
    cmd = names[argv[0]]
    try:
        module = importlib.import_module(cmd.module)
    except ImportError as exc:
        print(
            f"sdobs {cmd.name}: a dependency is missing ({exc.name}); "
            "install the full package with: pip install 'sdobs[full]'",
            file=sys.stderr,
        )
        return 2
    sub = argparse.ArgumentParser(prog=f"sdobs {cmd.name}", description=cmd.help)
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    from sdobs.redact import redact_text

    try:
        return int(module.run(args) or 0)
    except Exception as exc:
        # Public entry points raise the project's error types with one sentence saying what to
        # do; a programming KeyError, IndexError or ValueError is none of them and keeps its
        # traceback. Redacted here too, whatever raised it: a URL flag may carry credentials.
        if not is_user_error(exc):
            raise
        print(f"sdobs {cmd.name}: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sdobs {cmd.name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run the sdobs.cli module, not this __main__ copy: subcommands raise sdobs.cli.UserError,
    # which this copy's own UserError class would not catch (a traceback instead of a sentence).
    from sdobs.cli import main as _main

    sys.exit(_main())
