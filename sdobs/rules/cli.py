"""``sdobs rules``: generate the recording, SLO and alerting rules, and check them with promtool."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sdobs.cli import UserError

ACTIONS = ("generate", "check")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdobs.rules.generate import (
        DEFINITIONS,
        GENERATED,
        NAMESPACE_DEFAULT,
        RUNBOOK_BASE,
        SLO_FILE,
        TARGETS,
    )

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="write rule files and PrometheusRule manifests")
    gen.add_argument("--out", type=Path, default=GENERATED,
                     help=f"output folder, one sub-folder per target (default {GENERATED})")
    gen.add_argument("--definitions", type=Path, default=DEFINITIONS,
                     help="folder of *.rules.py definitions")
    gen.add_argument("--slo-file", type=Path, default=SLO_FILE,
                     help=f"objectives (default {SLO_FILE})")
    gen.add_argument("--manifests", type=Path, nargs="*", default=[],
                     help="Knative Service YAML whose slo.sdobs.dev/* annotations override "
                          "the SLO file")
    gen.add_argument("--target", action="append", choices=TARGETS,
                     help="only this Knative dialect or gpu (repeatable; default all)")
    gen.add_argument("--runbook-base", default=RUNBOOK_BASE,
                     help="URL of docs/runbooks.md as your team publishes it (runbook_url)")
    gen.add_argument("--namespace", default=NAMESPACE_DEFAULT,
                     help="namespace of the PrometheusRule manifests")
    chk = sub.add_parser("check", help="promtool check rules on every generated rule file")
    chk.add_argument("--dir", type=Path, default=GENERATED, help="generated folder")


def run(args: argparse.Namespace) -> int:
    from sdobs.rules.generate import DefinitionError
    from sdobs.rules.slofile import SloError

    try:
        if args.action == "generate":
            return _generate(args)
        return _check(args)
    except (DefinitionError, SloError) as exc:
        raise UserError(str(exc)) from exc


def _generate(args: argparse.Namespace) -> int:
    from sdobs.rules.generate import TARGETS, generate

    for g in generate(args.out, tuple(args.target or TARGETS), args.definitions, args.slo_file,
                      args.manifests, args.runbook_base, args.namespace):
        print(f"{g.target:20} {g.key:15} {g.path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from sdobs.rules.promtool import check_rules

    paths = sorted(Path(args.dir).glob("*/*.rules.yaml"))
    if not paths:
        raise UserError(f"no generated rule files under {args.dir}; run 'sdobs rules generate'")
    result = check_rules(paths)
    print(result.output, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1
