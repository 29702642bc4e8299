"""``sdobs prometheus``: run a local Prometheus for sdobs; shared connection options."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from sdobs.duration import seconds_arg

#: Where sdobs keeps its local state (Prometheus TSDB, generated files) unless told otherwise.
STATE_DIR = Path(os.environ.get("SDOBS_HOME", ".sdobs"))
#: The local Prometheus' default port: away from 9090 so it never collides with a real one.
LOCAL_PROMETHEUS_PORT = 19090
DEFAULT_URL = os.environ.get("SDOBS_PROMETHEUS_URL", f"http://127.0.0.1:{LOCAL_PROMETHEUS_PORT}")


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that reads Prometheus takes (secrets also from the environment)."""
    g = parser.add_argument_group("Prometheus connection")
    g.add_argument("--prometheus-url", default=DEFAULT_URL,
                   help=f"Prometheus (or Thanos/Mimir) base URL (default {DEFAULT_URL}, "
                        "or $SDOBS_PROMETHEUS_URL)")
    g.add_argument("--prometheus-user", default=os.environ.get("SDOBS_PROMETHEUS_USER"),
                   help="basic-auth user ($SDOBS_PROMETHEUS_USER)")
    g.add_argument("--prometheus-password-env", default="SDOBS_PROMETHEUS_PASSWORD",
                   metavar="VAR", help="environment variable holding the basic-auth password")
    g.add_argument("--prometheus-token-env", default="SDOBS_PROMETHEUS_TOKEN", metavar="VAR",
                   help="environment variable holding a bearer token")
    g.add_argument("--prometheus-ca", help="CA bundle to verify the server's TLS certificate")
    g.add_argument("--insecure-skip-verify", action="store_true",
                   help="do not verify the server's TLS certificate")
    g.add_argument("--timeout", type=seconds_arg(0, 3600), default=30.0,
                   help="seconds per request (default 30)")
    g.add_argument("--prometheus-tenant", default=os.environ.get("SDOBS_PROMETHEUS_TENANT"),
                   metavar="TENANT",
                   help="send X-Scope-OrgID: TENANT, for Mimir or Cortex ('t1|t2' federates "
                        "tenants) ($SDOBS_PROMETHEUS_TENANT); a VictoriaMetrics cluster takes its "
                        "tenant in the URL: .../select/<accountID>/prometheus")
    g.add_argument("--prometheus-header", action="append", default=[], metavar="NAME=VALUE",
                   help="extra request header, repeatable (also one per line in "
                        "$SDOBS_PROMETHEUS_HEADERS, which keeps a secret value off the command "
                        "line)")


def connection_headers(env_value: str | None, flags: list[str] | tuple[str, ...] = ()
                       ) -> dict[str, str]:
    """Extra headers from ``$SDOBS_PROMETHEUS_HEADERS`` (one NAME=VALUE a line), then flags."""
    from sdobs.prom.tenancy import parse_headers

    return parse_headers([*(env_value or "").splitlines(), *flags])


def client_from_args(args: argparse.Namespace):  # -> PrometheusClient (pandas loaded lazily)
    from sdobs.prom.client import PrometheusClient

    return PrometheusClient(
        args.prometheus_url,
        timeout=args.timeout,
        username=args.prometheus_user,
        password=os.environ.get(args.prometheus_password_env),
        bearer_token=os.environ.get(args.prometheus_token_env),
        ca_file=args.prometheus_ca,
        verify_tls=not args.insecure_skip_verify,
        headers=connection_headers(os.environ.get("SDOBS_PROMETHEUS_HEADERS"),
                                   getattr(args, "prometheus_header", [])),
        tenant=getattr(args, "prometheus_tenant", None) or None,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=LOCAL_PROMETHEUS_PORT,
                        help=f"port on 127.0.0.1 (default {LOCAL_PROMETHEUS_PORT})")
    parser.add_argument("--dir", type=Path, default=STATE_DIR / "prometheus",
                        help="working directory with config and TSDB (default .sdobs/prometheus)")
    parser.add_argument("--backfill", type=Path, action="append", default=[],
                        metavar="FILE", help="OpenMetrics file to load first (repeatable)")


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def run(args: argparse.Namespace) -> int:
    from sdobs.prom.harness import LocalPrometheus

    prom = LocalPrometheus(args.dir, port=args.port)
    for path in args.backfill:
        print(f"backfilling {path} ({prom.backfill(path):.1f} s)")
    with prom:
        print(f"Prometheus is ready at {prom.url} (pid {prom.pid}, data in {prom.tsdb}); "
              "Ctrl-C stops it")
        wait_for_signal()
    return 0
