"""``sdobs dialect``: which Knative metric dialects a Prometheus holds."""

from __future__ import annotations

import argparse

from sdobs.prom.cli import add_connection_arguments, client_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from sdobs.knative.detect import detect_dialects

    with client_from_args(args) as client:
        found = detect_dialects(client)
    if not found:
        print(f"no Knative metrics in {client.url}")
        return 1
    for dialect in found:
        print(f"{dialect.name}\t{dialect.versions}")
    return 0
