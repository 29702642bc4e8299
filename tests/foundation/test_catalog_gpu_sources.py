"""GPU views from every GPU source: sdobs sidecar, sdobs node mode, dcgm-exporter alone.

The twin simulates one service (two pods busy at different times), renders its history once
per GPU source (``sdobs.sim.gpu_sources``) with kube-state-metrics beside it, and a real
Prometheus answers the catalog's GPU signals on each. The same simulated GPUs must give the
same numbers, per revision and per pod, whichever exporter reported them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "sim"))
from sdobs_exporters.gpu import GPU_MODELS
from sim_helpers import SD20, kpa, service

from sdobs.catalog import Catalog, Selection
from sdobs.catalog.panels import PANELS
from sdobs.prom.client import PrometheusClient
from sdobs.sim.engine import SimOptions, simulate_service
from sdobs.sim.render import RenderOptions, render_to_file
from sdobs.sim.traffic import ClosedLoop, Traffic

pytestmark = pytest.mark.prometheus

START = 1_900_000_000 - 3 * 3600
SOURCES = ("default", "sdobs-node", "dcgm-exporter")
GPU_PANELS = ("gpu_utilization_by_pod", "gpu_utilization_by_revision", "gpu_utilization",
              "gpu_memory_by_pod", "gpu_memory_by_revision", "gpu_power_by_pod",
              "gpu_power_by_revision", "gpu_temperature_by_pod", "gpus_allocated_vs_busy",
              "gpus_allocated_by_revision", "gpu_seconds_allocated", "gpu_seconds_busy",
              "gpu_seconds_idle", "gpus_allocated_by_service", "gpu_utilization_by_service",
              "gpu_xid_by_pod", "gpu_ecc_by_pod", "gpu_row_remap_by_pod", "gpu_throttle_reasons",
              "gpu_memory_free_by_pod", "gpu_sm_clock_by_pod", "gpu_sources")


@pytest.fixture(scope="module")
def proms(tmp_path_factory):
    svc = service(kpa(min_scale="2", max_scale="2"), namespace="team", name="art")
    traffic = Traffic(closed=[ClosedLoop(1, 40, start=60)], mix=SD20)
    log = simulate_service(svc, traffic, SimOptions(duration=1800, spread=False))
    from sdobs.prom.harness import LocalPrometheus

    out = {}
    for source in SOURCES:
        work = tmp_path_factory.mktemp(source)
        path = work / "history.om"
        render_to_file([log], path, RenderOptions(start_epoch=START, scrape_interval=15,
                                                  aligned=True, gpu_naming=source))
        prom = LocalPrometheus(work / "prom")
        prom.backfill(path)
        prom.start()
        out[source] = (prom, PrometheusClient(prom.url), path.read_text())
    # Both exporters on the same GPUs: the sidecar's series win, nothing is counted twice.
    both = LocalPrometheus(tmp_path_factory.mktemp("both") / "prom")
    for source in ("default", "dcgm-exporter"):
        text = out[source][2]
        both.backfill_text(text)
    both.start()
    out["both"] = (both, PrometheusClient(both.url), "")
    yield out
    for prom, client, _ in out.values():
        client.close()
        prom.stop()


def _frame(client, expr, t):
    return client.query(expr, time=t)


def test_dcgm_history_is_dcgm_exporters_own_exposition(proms) -> None:
    text = proms["dcgm-exporter"][2]
    assert "DCGM_FI_DEV_GPU_UTIL{" in text and "sdobs_gpu_" not in text
    assert "serving_knative_dev" not in text.split("kube_pod_labels")[0]
    assert "DCGM_FI_DEV_FB_TOTAL" not in text
    line = next(ln for ln in text.splitlines() if ln.startswith("DCGM_FI_DEV_FB_USED{"))
    for label in ('gpu="0"', "UUID=", "modelName=", "namespace=\"team\"", "pod=\"art-",
                  "container=", 'job="dcgm-exporter"'):
        assert label in line
    node = proms["sdobs-node"][2]
    util = next(ln for ln in node.splitlines() if ln.startswith("sdobs_gpu_utilization_ratio{"))
    assert 'revision="art-00001"' in util and "service=" not in util


@pytest.mark.parametrize("source", [*SOURCES[1:], "both"])
def test_every_source_gives_the_sidecars_numbers(proms, source) -> None:
    cat = Catalog("opentelemetry")
    sel = Selection(namespace="team", service="art", window="5m")
    t = START + 20 * 60
    _, base, _ = proms["default"]
    _, other, _ = proms[source]
    checks = [(cat.gpu_utilization(sel, by=("revision",)), 0.02),
              (cat.gpu_utilization(sel, by=("pod",)), 0.02),
              (cat.gpu_memory_used(sel, by=("revision",)), 1.1 * 2**20 * 2),
              (cat.gpu_memory_total(sel, by=("pod",)), None),
              (cat.gpu_power(sel, by=("revision",)), 0.01),
              (cat.gpu_temperature(sel, by=("pod",)), 0.01),
              (cat.gpu_memory_free(sel, by=("pod",)), 2**21),
              (cat.gpu_sm_clock(sel, by=("pod",)), 0),
              (cat.gpus_allocated(sel, by=("service",)), 0),
              (cat.gpus_busy(sel), 0.02)]
    for q, tol in checks:
        want = _frame(base, q.expr, t)
        got = _frame(other, q.expr, t)
        assert not want.empty and len(got) == len(want), (source, q.signal, got, want)
        key = list(q.by)
        w = dict(zip(map(tuple, want[key].values.tolist()), want["value"], strict=True)) \
            if key else {(): want["value"].iloc[0]}
        g = dict(zip(map(tuple, got[key].values.tolist()), got["value"], strict=True)) \
            if key else {(): got["value"].iloc[0]}
        assert set(g) == set(w), (q.signal, g, w)
        for k in w:
            if tol is None:  # dcgm: used + free + reserved, whole MiB
                assert g[k] == pytest.approx(w[k], rel=1e-3), (q.signal, k)
            elif q.signal == "gpu_memory_free" and source == "dcgm-exporter":
                # NVML v2 (dcgm-exporter, the real exporter): free excludes the reserved memory;
                # the simulated sidecar reports total - used.
                reserved = GPU_MODELS["t4"].memory_reserved_bytes
                assert g[k] == pytest.approx(w[k] - reserved, abs=tol), (q.signal, k)
            else:
                assert g[k] == pytest.approx(w[k], abs=tol), (q.signal, k, g[k], w[k])


@pytest.mark.parametrize("source", SOURCES)
def test_every_gpu_panel_has_data(proms, source) -> None:
    _, client, _ = proms[source]
    cat = Catalog("opentelemetry")
    sel = Selection(namespace="team", service="art", window="5m")
    t = START + 20 * 60
    for key in GPU_PANELS:
        for q in PANELS[key].queries(cat, sel):
            expr = q.expr.replace("$__range", "10m")
            assert not _frame(client, expr, t).empty, (source, key, expr)


def test_each_gpu_is_counted_once_under_its_source(proms) -> None:
    cat = Catalog("opentelemetry")
    q = cat.gpu_sources(Selection(namespace="team", service="art"))
    t = START + 20 * 60
    for source, want in (("default", "sdobs"), ("sdobs-node", "sdobs"),
                         ("dcgm-exporter", "dcgm-exporter"), ("both", "sdobs")):
        frame = _frame(proms[source][1], q.expr, t)
        assert dict(zip(frame["source"], frame["value"], strict=True)) == {want: 2}, source


def test_selection_filters_the_joined_sources(proms) -> None:
    _, client, _ = proms["dcgm-exporter"]
    cat = Catalog("opencensus")
    t = START + 20 * 60
    for sel in (Selection(namespace="team", service="other"), Selection(namespace="elsewhere"),
                Selection(revisions=("art-00002",)), Selection(service='art"} or vector(1)#')):
        assert _frame(client, cat.gpus_allocated(sel).expr, t).empty, sel
    assert _frame(client, cat.gpus_allocated(Selection(revisions=("art-00001",))).expr,
                  t)["value"].iloc[0] == 2


@pytest.mark.parametrize("source", [*SOURCES[1:], "both"])
def test_capacity_history_reads_the_same_gpus(proms, source) -> None:
    from sdobs.capacity.history import load_history

    def read(client):
        return load_history(client, "team", "art", START, START + 1800, step=15,
                            dialect="opencensus")

    want, got = read(proms["default"][1]), read(proms[source][1])
    assert got.gpu_models == want.gpu_models == {"art-00001": "Tesla T4"}
    assert got.gpu_busy_hours() == pytest.approx(want.gpu_busy_hours(), rel=0.02)
    assert (got.gpu["exporters"] == want.gpu["exporters"]).all()
