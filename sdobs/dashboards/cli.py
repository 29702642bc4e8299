"""``sdobs dashboards``: generate, check, upload and package the Grafana dashboards."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sdobs.cli import UserError
from sdobs.duration import seconds_arg

ACTIONS = ("generate", "check", "upload", "provisioning", "configmap")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sdobs.dashboards.generate import DEFINITIONS, DIALECT_NAMES, GENERATED

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="write the dashboard JSON for every dialect")
    gen.add_argument("--out", type=Path, default=GENERATED,
                     help=f"output folder, one sub-folder per dialect (default {GENERATED})")
    gen.add_argument("--definitions", type=Path, default=DEFINITIONS,
                     help="folder of *.dashboard.py definitions")
    gen.add_argument("--dialect", action="append", choices=DIALECT_NAMES,
                     help="only this Knative dialect (repeatable; default all)")
    gen.add_argument("--deploy", type=Path, metavar="DIR",
                     help="also write provisioning files and ConfigMaps there "
                          "(the repository keeps them in deploy/grafana)")

    chk = sub.add_parser("check", help="validate generated JSON with Grafana's typed models (and "
                                       "its JSON schemas when a copy is there), lint")
    chk.add_argument("--dir", type=Path, default=GENERATED, help="folder of dashboard JSON")
    chk.add_argument("--schema-dir", type=Path,
                     help="a copy of Grafana's JSON schemas (v11.6) for an extra check")

    up = sub.add_parser("upload", help="POST the dashboards to Grafana's HTTP API")
    up.add_argument("--grafana-url", required=True, help="e.g. http://127.0.0.1:3000")
    auth = up.add_mutually_exclusive_group()
    auth.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"),
                      help="service account token (default $GRAFANA_TOKEN)")
    auth.add_argument("--basic-auth", metavar="USER:PASSWORD",
                      help="basic auth instead of a token")
    up.add_argument("--folder", metavar="UID", help="folder UID to put the dashboards in")
    up.add_argument("--folder-title", help="create the folder with this title when missing")
    up.add_argument("--dialect", choices=DIALECT_NAMES, default="opentelemetry",
                    help="which dialect's dashboards (default opentelemetry)")
    up.add_argument("--dir", type=Path, default=GENERATED,
                    help="generated folder (its <dialect>/ sub-folder is uploaded)")
    up.add_argument("--no-overwrite", action="store_true",
                    help="fail (412) instead of replacing a dashboard with the same uid")
    up.add_argument("--timeout", type=seconds_arg(0, 3600), default=10.0,
                    help="seconds per request")
    up.add_argument("--insecure-skip-verify", action="store_true",
                    help="do not verify Grafana's TLS certificate")

    prov = sub.add_parser("provisioning", help="write Grafana provisioning files")
    prov.add_argument("--out", type=Path, required=True,
                      help="Grafana's provisioning folder, e.g. /etc/grafana/provisioning")
    prov.add_argument("--dashboards-path", default="/var/lib/grafana/dashboards/sdobs",
                      help="where Grafana finds the JSON (copy one dialect's folder there)")
    prov.add_argument("--prometheus-url", default="http://prometheus:9090",
                      help="the Prometheus data source URL as Grafana reaches it")
    prov.add_argument("--folder", default="sdobs", help="Grafana folder title and UID")

    cm = sub.add_parser("configmap", help="ConfigMaps for kube-prometheus-stack's sidecar")
    cm.add_argument("--dialect", choices=DIALECT_NAMES, default="opentelemetry")
    cm.add_argument("--dir", type=Path, default=GENERATED, help="generated folder")
    cm.add_argument("--namespace", default="monitoring", help="Grafana's namespace")
    cm.add_argument("--folder", default="sdobs", help="Grafana folder (grafana_folder annotation)")
    cm.add_argument("--out", type=Path, help="YAML file to write (default: standard output)")


def run(args: argparse.Namespace) -> int:
    from sdobs.dashboards.generate import DefinitionError

    try:
        return _ACTIONS[args.action](args)
    except DefinitionError as exc:
        raise UserError(str(exc)) from exc


def _generate(args: argparse.Namespace) -> int:
    from sdobs.dashboards.generate import DIALECT_NAMES, generate

    results = generate(args.out, tuple(args.dialect or DIALECT_NAMES), args.definitions)
    for r in results:
        print(f"{r.dialect:20} {r.key:10} {r.path}")
    if args.deploy:
        from sdobs.dashboards.provisioning import write_deploy

        for path in write_deploy(args.out, args.deploy):
            print(path)
    return 0


def _check(args: argparse.Namespace) -> int:
    from sdobs.dashboards.generate import load_generated
    from sdobs.dashboards.lint import lint
    from sdobs.dashboards.roundtrip import roundtrip_problems

    try:
        import grafana_foundation_sdk  # noqa: F401
        import jsonschema  # noqa: F401

        from sdobs.dashboards.validate import SchemaMissing, default_schema_dir, validate
    except ImportError as exc:  # pragma: no cover - both are dev dependencies
        raise UserError(f"checking dashboards needs {exc.name}: pip install 'sdobs[dev]'") from exc
    # The JSON schemas are an extra check: asked for by --schema-dir, or found at the default.
    schema_dir = args.schema_dir
    if schema_dir is None and default_schema_dir().is_dir():
        schema_dir = default_schema_dir()
    problems = []
    dashboards = load_generated(args.dir)
    for dash in dashboards:
        problems += roundtrip_problems(dash) + lint(dash)
        if schema_dir is not None:
            try:
                problems += validate(dash, schema_dir)
            except SchemaMissing as exc:
                raise UserError(str(exc)) from exc
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{len(dashboards)} dashboards, {len(problems)} problems")
    return 1 if problems else 0


def _upload(args: argparse.Namespace) -> int:
    from sdobs.dashboards.generate import load_generated
    from sdobs.dashboards.upload import GrafanaClient, UploadError, upload

    basic = None
    if args.basic_auth:
        user, sep, password = args.basic_auth.partition(":")
        if not sep or not user:
            raise UserError("--basic-auth must be USER:PASSWORD")
        basic = (user, password)
    dashboards = load_generated(args.dir / args.dialect)
    try:
        with GrafanaClient(args.grafana_url, token=args.token, basic_auth=basic,
                           timeout=args.timeout,
                           verify_tls=not args.insecure_skip_verify) as client:
            done = upload(dashboards, client, folder_uid=args.folder,
                          folder_title=args.folder_title, overwrite=not args.no_overwrite)
    except UploadError as exc:
        raise UserError(str(exc)) from exc
    for d in done:
        print(f"{d.title}: {client.shown_url}{d.url} (version {d.version}, read back)")
    return 0


def _provisioning(args: argparse.Namespace) -> int:
    from sdobs.dashboards.provisioning import write_provisioning

    for path in write_provisioning(args.out, dashboards_path=args.dashboards_path,
                                   prometheus_url=args.prometheus_url, folder=args.folder):
        print(path)
    return 0


def _configmap(args: argparse.Namespace) -> int:
    from sdobs.dashboards.generate import load_generated
    from sdobs.dashboards.provisioning import configmap, to_yaml, write_configmaps

    dashboards = load_generated(args.dir / args.dialect)
    if args.out:
        print(write_configmaps(dashboards, args.out, namespace=args.namespace,
                               folder=args.folder))
    else:
        sys.stdout.write(to_yaml([configmap(d, namespace=args.namespace, folder=args.folder)
                                  for d in sorted(dashboards, key=lambda d: d["uid"])]))
    return 0


_ACTIONS = {"generate": _generate, "check": _check, "upload": _upload,
            "provisioning": _provisioning, "configmap": _configmap}
