"""``sdobs deploy``: render the cluster install for a dialect and monitoring stack; check it."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdobs.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdobs.deploy.manifests import DEFAULT_RELEASE, STACKS
    from sdobs.knative.dialects import DIALECTS

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ren = sub.add_parser("render", help="write the complete install into a folder")
    ren.add_argument("--stack", choices=STACKS, default="kube-prometheus-stack",
                     help="monitoring stack: the Prometheus Operator's kube-prometheus-stack "
                          "(PodMonitors) or a plain Prometheus (scrape jobs)")
    ren.add_argument("--dialect", choices=[d.name for d in DIALECTS], default="opentelemetry",
                     help="Knative metric dialect: opentelemetry (v1.19.8+/v1.20.1+), "
                          "opentelemetry-early (v1.19.0-7, v1.20.0), opencensus (<= v1.18)")
    ren.add_argument("--release", default=DEFAULT_RELEASE,
                     help="kube-prometheus-stack Helm release name, put on every object as the "
                          f"release label its default selectors pick (default {DEFAULT_RELEASE};"
                          " '' for none: the values fragment then selects every monitor)")
    ren.add_argument("--namespace", default="monitoring",
                     help="namespace of the monitors, rules and dashboard ConfigMaps")
    ren.add_argument("--knative-namespace", default="knative-serving",
                     help="namespace of Knative Serving's control plane")
    ren.add_argument("--control-plane-extra", action="store_true",
                     help="also scrape Knative's controller and webhook")
    ren.add_argument("--out", type=Path, help="output folder (default deploy/<stack>)")
    ren.add_argument("--defaults", action="store_true",
                     help="re-render the committed deploy/ folders and ignore the other flags")

    chk = sub.add_parser("check", help="validate a rendered install against the API schemas")
    chk.add_argument("folder", type=Path, nargs="?", help="rendered folder (default: deploy/*)")


def run(args: argparse.Namespace) -> int:
    from sdobs.deploy import render as r
    from sdobs.deploy.manifests import InstallOptions
    from sdobs.deploy.validate import ValidationUnavailable, validate_folder

    if args.action == "render":
        if args.defaults:
            paths = r.render_defaults()
        else:
            opts = InstallOptions(dialect=args.dialect, stack=args.stack, release=args.release,
                                  namespace=args.namespace,
                                  knative_namespace=args.knative_namespace,
                                  control_plane_extra=args.control_plane_extra)
            try:
                paths = r.render(opts, args.out or r.DEPLOY / args.stack)
            except FileNotFoundError as exc:
                raise UserError(str(exc)) from exc
        for p in paths:
            print(p)
        return 0
    folders = [args.folder] if args.folder else list(r.default_installs())
    problems: list[str] = []
    try:
        for folder in folders:
            if not folder.is_dir():
                raise UserError(f"{folder} is not a folder; run sdobs deploy render first")
            problems += validate_folder(folder)
    except ValidationUnavailable as exc:
        raise UserError(str(exc)) from exc
    for p in problems:
        print(p)
    if not problems:
        print(f"valid: {', '.join(str(f) for f in folders)}")
    return 1 if problems else 0
