"""Shared test setup: the local Prometheus fixtures come from the product's own plugin."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # helpers such as knative_traffic

pytest_plugins = ["sdobs.prom.pytest_plugin"]
