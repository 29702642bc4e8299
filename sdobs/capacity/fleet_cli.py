"""``sdobs capacity --fleet``: every service of a namespace or of the fleet, replayed on Dask."""

from __future__ import annotations

import argparse


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fleet (all services at once, on Dask distributed)")
    group.add_argument("--fleet", action="store_true",
                       help="analyse every service of --namespace instead of one --service")
    group.add_argument("--all-namespaces", "-A", action="store_true",
                       help="with --fleet: every service of every namespace")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler, e.g. tcp://host:8786 (default: a "
                            "LocalCluster of --jobs worker processes here; --jobs 1: no "
                            "cluster, serially in this process)")


def run_fleet(args: argparse.Namespace) -> int:
    from sdobs.capacity.cli import _settings
    from sdobs.capacity.cost import PriceTableError, UnknownSpec, load_price_table
    from sdobs.capacity.fleet import (
        analyse_fleet,
        dask_client,
        dask_runner,
        describe_client,
        manifests_from,
        run_serial,
    )
    from sdobs.cli import UserError, parse_end
    from sdobs.duration import parse_duration
    from sdobs.prom.cli import client_from_args
    from sdobs.sim.manifest import ManifestError

    if args.service:
        raise UserError("--fleet analyses every service; leave out --service")
    if args.slo_p99 <= 0:
        raise UserError("--slo-p99 must be a positive number of seconds")
    end = parse_end(args.end)
    start = end - parse_duration(args.range_, "--range")
    try:
        prices = load_price_table(args.prices) if args.prices else None
        manifests = manifests_from([args.manifest]) if args.manifest else None
    except (PriceTableError, ManifestError) as exc:
        raise UserError(str(exc)) from None
    settings = _settings(args.settings) if args.settings else None
    namespace = None if args.all_namespaces else args.namespace
    prom = client_from_args(args)

    def analyse(runner, engine: str):
        return analyse_fleet(prom, start, end, namespace=namespace, slo_seconds=args.slo_p99,
                             runner=runner, engine=engine, prices=prices, manifests=manifests,
                             settings=settings, grid=args.grid, dialect=args.dialect,
                             scrape_interval=args.scrape_interval)

    where: list[str] = []

    def on_dask(works):
        # The cluster starts only once every service is read and sized (errors come first).
        with dask_client(args.scheduler, args.jobs) as dask:
            where.append(describe_client(dask))
            return dask_runner(dask)(works)

    try:
        if args.jobs == 1 and not args.scheduler:
            result = analyse(run_serial, "this process, serially")
        else:
            result = analyse(on_dask, "Dask")
            result.engine = where[0]
    except (ManifestError, UnknownSpec) as exc:
        raise UserError(str(exc)) from None
    finally:
        prom.close()
    for line in result.summary():
        print(line)
    print()
    print(result.table())
    if args.html:
        print(f"report written to {result.write_html(args.html)}")
    return 0
