"""Fleet overview on sdobs' recorded series: the fleet dashboard's layout, each panel's recorded
twin; the one to use where sdobs' recording rules run (the cluster install ships it)."""

from pathlib import Path

from sdobs.dashboards.builders import dialect_from_env, recorded_variant
from sdobs.dashboards.generate import load_spec

spec = recorded_variant(load_spec(Path(__file__).with_name("fleet.dashboard.py")))

dashboard = spec.build(dialect_from_env())
