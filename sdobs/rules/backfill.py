"""Recorded history for backfilled raw history: ``promtool tsdb create-blocks-from rules``.

A TSDB filled with past raw samples (``sdobs simulate``, a migration) has no recorded series for
that past, so SLO windows and the alerts that read them would start empty. promtool evaluates
recording rules over a past range against a running Prometheus and writes blocks; it cannot
chain rules (a rule reading another rule's output sees nothing), so each group is its own pass,
in order, and Prometheus is restarted on the new blocks between passes.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml

from sdobs.prom.errors import HarnessError
from sdobs.prom.harness import LocalPrometheus, find_binary
from sdobs.rules.generate import rule_file
from sdobs.rules.model import Group, Record


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backfill_records(prom: LocalPrometheus, groups: Sequence[Group], start: float, end: float,
                     *, eval_interval: str = "60s", timeout: float = 600) -> int:
    """Write the recording rules of ``groups`` over [start, end] into ``prom``'s TSDB.

    ``prom`` must be running; it is restarted after each group. Returns the groups written.
    """
    promtool = find_binary("promtool")
    done = 0
    for group in groups:
        records = [r for r in group.rules if isinstance(r, Record)]
        if not records:
            continue
        with tempfile.TemporaryDirectory(prefix="sdobs-rules-backfill-") as tmp:
            rules = Path(tmp) / "rules.yaml"
            rules.write_text(yaml.safe_dump(rule_file([Group(group.name, records)]),
                                            sort_keys=False, width=1 << 16))
            out = Path(tmp) / "blocks"
            proc = subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "rules", f"--start={_iso(start)}",
                 f"--end={_iso(end)}", f"--url={prom.url}", f"--eval-interval={eval_interval}",
                 f"--output-dir={out}", str(rules)],
                capture_output=True, text=True, check=False, timeout=timeout)
            if proc.returncode != 0:
                detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise HarnessError(f"promtool could not backfill rule group {group.name}: "
                                   f"{' / '.join(detail)}")
            blocks = [p for p in out.iterdir() if (p / "meta.json").exists()] \
                if out.exists() else []
            if not blocks:
                continue
            prom._terminate()
            for block in blocks:
                shutil.move(str(block), str(prom.tsdb / block.name))
            prom.start()
            done += 1
    return done
