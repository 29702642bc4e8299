"""``sdobs capacity``: size one service from its Prometheus history and replay what-if settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdobs.cli import UserError, parse_end
from sdobs.duration import parse_duration, seconds_arg
from sdobs.prom.cli import add_connection_arguments, client_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument("--namespace", default="default", help="Knative namespace (default)")
    parser.add_argument("--service", help="Knative Service name (or --fleet)")
    parser.add_argument("--range", default="24h", dest="range_",
                        help="history to read, ending at --end, e.g. 6h, 7d (default 24h)")
    parser.add_argument("--end", default="now", help="'now' or an ISO time (default now)")
    parser.add_argument("--slo-p99", type=seconds_arg(0, 86400), default=30.0, metavar="SECONDS",
                        help="P99 response-time target in seconds (default 30)")
    parser.add_argument("--prices", type=Path,
                        help="CSV or YAML with your GPU prices (spec,hourly_usd; see docs)")
    parser.add_argument("--spec", help="price-table spec the service runs on (default: from "
                                       "the manifest)")
    parser.add_argument("--manifest", type=Path,
                        help="the Knative Service YAML (default: the twin's, for demo services)")
    parser.add_argument("--settings", type=Path,
                        help="YAML list of settings to replay (fields of sdobs.capacity.Setting)")
    parser.add_argument("--grid", choices=("small", "full"), default="small",
                        help="built-in settings to replay when --settings is not given")
    parser.add_argument("--jobs", type=int, help="replay processes (default 2; with --fleet: "
                                                 "LocalCluster workers, default the cores)")
    parser.add_argument("--dialect", help="Knative metric dialect (default: detected)")
    parser.add_argument("--scrape-interval", type=seconds_arg(0, 3600), default=30.0,
                        metavar="SECONDS",
                        help="the Prometheus scrape interval of queue-proxy (default 30)")
    parser.add_argument("--html", type=Path, help="write the report with figures to this file")
    from sdobs.capacity.fleet_cli import add_fleet_arguments

    add_fleet_arguments(parser)


def _settings(path: Path):
    import yaml

    from sdobs.capacity.whatif import Setting

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read settings {path}: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise UserError(f"{path} must be a YAML list of settings (mappings)")
    try:
        return [Setting.from_mapping(d) for d in data]
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from sdobs.capacity.analysis import analyse
    from sdobs.capacity.cost import PriceTableError, UnknownSpec, load_price_table
    from sdobs.sim.manifest import ManifestError

    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.fleet or args.all_namespaces:
        from sdobs.capacity.fleet_cli import run_fleet

        return run_fleet(args)
    if not args.service:
        raise UserError("name the service with --service, or analyse them all with --fleet")
    if args.slo_p99 <= 0:
        raise UserError("--slo-p99 must be a positive number of seconds")
    end = parse_end(args.end)
    start = end - parse_duration(args.range_, "--range")
    try:
        prices = load_price_table(args.prices) if args.prices else None
    except PriceTableError as exc:
        raise UserError(str(exc)) from None
    settings = _settings(args.settings) if args.settings else None
    client = client_from_args(args)
    try:
        result = analyse(client, args.namespace, args.service, start, end,
                         slo_seconds=args.slo_p99, prices=prices, manifest=args.manifest,
                         settings=settings, grid=args.grid, jobs=args.jobs or 2,
                         dialect=args.dialect, spec=args.spec,
                         scrape_interval=args.scrape_interval)
    except (ManifestError, UnknownSpec) as exc:
        raise UserError(str(exc)) from None
    finally:
        client.close()
    for line in result.summary():
        print(line)
    print()
    print(result.table())
    print()
    print("Knative annotations for the recommendation:")
    print(result.snippet)
    if args.html:
        path = result.write_html(args.html)
        print(f"report written to {path}")
    return 0
