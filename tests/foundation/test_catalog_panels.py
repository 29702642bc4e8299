"""The shared panel list builds in every dialect, for Grafana variables and for plain values."""

from __future__ import annotations

import pytest

from sdobs.catalog import Catalog, Selection, Var
from sdobs.catalog.panels import PANELS, Signal, sig
from sdobs.knative.dialects import DIALECTS

GRAFANA = Selection(namespace=Var("namespace"), service=Var("service"),
                    revisions=Var("revision", multi=True), window="$__rate_interval")
PLAIN = Selection(namespace="default", service="knative-sd-demo", window="5m")


@pytest.mark.parametrize("dialect", [d.name for d in DIALECTS])
def test_every_panel_builds(dialect: str) -> None:
    cat = Catalog(dialect)
    for key, panel in PANELS.items():
        assert panel.key == key and panel.title and panel.description.endswith((".", "?"))
        for sel in (GRAFANA, PLAIN):
            queries = panel.queries(cat, sel)
            assert len(queries) == len(panel.signals) >= 1
            if panel.columns:
                assert len(panel.columns) == len(queries), key
            else:
                assert len({q.unit for q in queries}) == 1, key


def test_signals_are_the_catalog_calls() -> None:
    cat = Catalog("opencensus")
    assert PANELS["latency_p95"].queries(cat, PLAIN)[0] == cat.latency(PLAIN, 0.95, by=["revision"])
    s = sig("pods", "desired", legend="desired")
    assert s == Signal("pods", ("desired",), (), "desired")
    q = s.query(cat, PLAIN)
    assert q == cat.pods(PLAIN, "desired") and s.legend_for(q) == "desired"
    by_rev = sig("pods", "actual", by=("revision",), legend="ready")
    assert by_rev.legend_for(by_rev.query(cat, PLAIN)) == "ready {{revision}}"
    with pytest.raises(TypeError):
        sig("latencies").query(cat, PLAIN)  # a list of queries: one Signal each instead
