"""``sdobs query``: run one catalog signal and print the result (or just its PromQL)."""

from __future__ import annotations

import argparse
import time

from sdobs.cli import UserError, parse_time
from sdobs.duration import parse_duration
from sdobs.prom.cli import add_connection_arguments, client_from_args

SIGNALS = ("request_rate", "success_ratio", "rate_4xx", "rate_5xx", "latency", "pods",
           "concurrency", "panic_mode", "excess_burst_capacity", "activator_concurrency",
           "queue_depth", "sd_latency", "sd_phase_mean", "sd_its",
           "latency_by_source")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("signal", choices=SIGNALS)
    parser.add_argument("--namespace")
    parser.add_argument("--service")
    parser.add_argument("--configuration", help="Knative Configuration name")
    parser.add_argument("--revision", action="append", dest="revisions",
                        help="revision name (repeatable)")
    parser.add_argument("--by", action="append", default=[],
                        help="group by a canonical label: revision, pod, code_class, ...")
    parser.add_argument("--window", default="5m", help="rate window (default 5m)")
    parser.add_argument("--quantile", type=float, default=0.99, help="for latency (default 0.99)")
    parser.add_argument("--app", action="store_true",
                        help="latency/volume of the model container rather than queue-proxy")
    parser.add_argument("--state", default="actual", help="for pods: desired, actual, ...")
    parser.add_argument("--kind", default="stable", help="for concurrency: stable, panic, target")
    parser.add_argument("--phase", default="request",
                        help="for sd_latency / sd_phase_mean (SD exporter): request, queue_wait, "
                             "generation or response")
    parser.add_argument("--dialect", default="auto",
                        help="opencensus, opentelemetry, opentelemetry-early or auto (default)")
    parser.add_argument("--range", dest="range_", metavar="DURATION",
                        help="range query over DURATION (e.g. 1h, 90m, 3600) ending at --time, "
                             "instead of an instant")
    parser.add_argument("--time", default="now",
                        help="the instant: 'now' (default), Unix seconds or an ISO time")
    parser.add_argument("--print-expr", action="store_true", help="print the PromQL and exit")
    add_connection_arguments(parser)


def build(args: argparse.Namespace, dialect):
    from sdobs.catalog import Catalog, Selection

    cat = Catalog(dialect)
    sel = Selection(namespace=args.namespace, service=args.service,
                    configuration=args.configuration,
                    revisions=tuple(args.revisions) if args.revisions else None,
                    window=args.window)
    by = tuple(args.by)
    s = args.signal
    if s == "request_rate":
        return cat.request_rate(sel, by, app=args.app)
    if s == "latency":
        return cat.latency(sel, args.quantile, by, app=args.app)
    if s == "sd_latency":
        return cat.sd_latency(sel, args.quantile, by, phase=args.phase)
    if s == "sd_phase_mean":
        return cat.sd_phase_mean(sel, args.phase, by)
    if s == "sd_its":
        return cat.sd_its(sel, by or ("gpu_model",))
    if s == "latency_by_source":
        return cat.latency_by_source(sel, args.quantile, by)
    if s == "pods":
        return cat.pods(sel, args.state, by)
    if s == "concurrency":
        return cat.concurrency(sel, args.kind, by)
    return getattr(cat, s)(sel, by)


def run(args: argparse.Namespace) -> int:
    from sdobs.knative.detect import detect_dialect

    at = None if args.time == "now" else parse_time(args.time)
    span = parse_duration(args.range_, "--range") if args.range_ is not None else None
    if span is not None and span <= 0:
        raise UserError("--range must be longer than zero")
    client = client_from_args(args)
    with client:
        dialect = detect_dialect(client) if args.dialect == "auto" else args.dialect
        query = build(args, dialect)
        if args.print_expr:
            print(query.expr)
            return 0
        if span is not None:
            end = time.time() if at is None else at
            frame = client.query_range(query.expr, end - span, end)
        else:
            frame = client.query(query.expr, time=at)
    print(f"# {query.signal} [{query.unit}] {query.description}")
    if query.bounds and not frame.empty:
        readings = [query.reading(v) for v in frame["value"]]
        frame = frame.assign(reading=[r.text for r in readings])
        notes = list(dict.fromkeys(r.reason for r in readings if r.reason))
    else:
        notes = []
    print("no data" if frame.empty else frame.to_string(index=False))
    for note in notes:
        print(f"# note: {note}")
    return 0
