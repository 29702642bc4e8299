"""``sdobs app``: serve the Dash monitoring app (waitress, 127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from sdobs.duration import seconds_arg
from sdobs.prom.cli import add_connection_arguments, client_from_args, wait_for_signal

DEFAULT_PORT = 8050


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; anything else should "
                             "have --auth-user)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--threads", type=int, default=8, help="server threads (default 8)")
    parser.add_argument("--auth-user", default=os.environ.get("SDOBS_APP_USER"),
                        help="require HTTP basic auth with this user ($SDOBS_APP_USER)")
    parser.add_argument("--auth-password-env", default="SDOBS_APP_PASSWORD", metavar="VAR",
                        help="environment variable holding the basic-auth password "
                             "(default SDOBS_APP_PASSWORD)")
    parser.add_argument("--dialect", default="auto",
                        help="Knative metric dialect: opencensus, opentelemetry, "
                             "opentelemetry-early or auto (default: detect, and re-check "
                             "when a page fails)")
    parser.add_argument("--scrape-interval", type=seconds_arg(0, 3600), default=15.0,
                        help="Prometheus' scrape interval in seconds, for rate windows "
                             "(default 15)")
    parser.add_argument("--base-path", default="/",
                        help="URL path the app is served under, e.g. /sdobs/ behind a proxy")
    parser.add_argument("--loadtest-target", default="", metavar="URL",
                        help="A1111 base URL the load test page starts with (e.g. the demo's "
                             "live twin gateway)")
    parser.add_argument("--loadtest-host", default="", metavar="HOST",
                        help="Host header the load test page starts with (Knative addressing: "
                             "{service}.{namespace}.{domain})")
    add_connection_arguments(parser)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from sdobs.app.app import create_app
    from sdobs.app.serve import serve
    from sdobs.cli import UserError

    auth = None
    if args.auth_user:
        password = os.environ.get(args.auth_password_env)
        if not password:
            raise UserError(f"--auth-user is set but ${args.auth_password_env} is empty; "
                            "export the password in that variable")
        auth = (args.auth_user, password)
    if args.loadtest_target:
        from sdobs.loadtest import LoadTestConfigError
        from sdobs.loadtest.httpclient import parse_target

        try:
            parse_target(args.loadtest_target, host=args.loadtest_host or None)
        except LoadTestConfigError as exc:
            raise UserError(f"--loadtest-target: {exc}") from exc
    base = "/" + args.base_path.strip("/") + "/" if args.base_path.strip("/") else "/"
    dialect = None if args.dialect == "auto" else args.dialect
    app = create_app(client_from_args(args), dialect=dialect, auth=auth,
                     scrape_interval=args.scrape_interval, url_base_pathname=base,
                     loadtest_target=args.loadtest_target,
                     loadtest_host=args.loadtest_host)
    print(f"Prometheus   {app.sdobs.source.url}: {app.sdobs.source.start()}")
    try:
        handle = serve(app, host=args.host, port=args.port, threads=args.threads)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                        "stop what holds the port or pass another --port") from exc
    if not _loopback(args.host) and auth is None:
        print(f"warning: serving on {args.host} without --auth-user: anyone who can reach it "
              "can read your metrics and start load tests from it", file=sys.stderr)
    print(f"sdobs app    {handle.url}{base}   (Ctrl-C stops it)", flush=True)
    try:
        wait_for_signal()
    finally:
        handle.stop()
    return 0
