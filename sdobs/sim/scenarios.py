"""Scenarios for the twin: the reference service and the demo fleet shipped under ``scenarios/``."""

from __future__ import annotations

from pathlib import Path

SCENARIO_DIR = Path(__file__).parent / "scenarios"
#: The reference Knative Service (Alibaba's ASK + Knative SD best practice), verbatim.
REFERENCE_MANIFEST = SCENARIO_DIR / "knative-sd-demo.yaml"
