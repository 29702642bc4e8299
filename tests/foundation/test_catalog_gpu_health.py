"""GPU health signals on known history in a real Prometheus: XID, ECC, row remapping, throttling.

One sdobs sidecar GPU (pod a) and one dcgm-exporter GPU (pod b, joined to its revision through
kube_pod_labels); the XID counter is born at 1, as the exporter creates it at the first XID.
"""

from __future__ import annotations

import pytest

from sdobs.catalog import Catalog, Selection
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus

T0 = 1_900_000_000
STEP = 15
END = T0 + 1500
SIDE = 'gpu="0",uuid="GPU-a",namespace="ns",pod="sd-1-deployment-a-a",service="sd",' \
       'configuration="sd",revision="sd-1"'
DCGM = 'gpu="1",UUID="GPU-b",modelName="NVIDIA A10",namespace="ns",pod="sd-1-deployment-b-b"'
KSM = ('namespace="ns",pod="sd-1-deployment-b-b",uid="u",label_serving_knative_dev_service="sd",'
       'label_serving_knative_dev_configuration="sd",label_serving_knative_dev_revision="sd-1"')


def _series(name: str, labels: str, values) -> list[str]:
    """``values(t)`` -> value or None (no sample) at every step from T0 to END."""
    out = []
    for t in range(T0, END + 1, STEP):
        v = values(t)
        if v is not None:
            out.append(f"{name}{{{labels}}} {v} {t}")
    return out


def _history() -> str:
    fams = {
        ("sdobs_gpu_xid_errors", "counter"): _series(
            "sdobs_gpu_xid_errors_total", SIDE + ',xid="79"',
            lambda t: None if t < T0 + 600 else (1 if t < T0 + 900 else
                                                  (2 if t < T0 + 1100 else 3))),
        ("sdobs_gpu_ecc_uncorrected_errors", "counter"): _series(
            "sdobs_gpu_ecc_uncorrected_errors_total", SIDE,
            lambda t: 0 if t < T0 + 700 else 2),
        ("sdobs_gpu_throttle_reason_active", "gauge"): _series(
            "sdobs_gpu_throttle_reason_active", SIDE + ',reason="sw_power_cap"', lambda t: 1),
        ("sdobs_gpu_row_remap_failure", "gauge"): _series(
            "sdobs_gpu_row_remap_failure", SIDE, lambda t: 0),
        ("DCGM_FI_DEV_XID_ERRORS", "gauge"): _series(
            "DCGM_FI_DEV_XID_ERRORS", DCGM,
            lambda t: None if t < T0 + 600 else (79 if t < T0 + 900 else 48)),
        ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "gauge"): _series(
            "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", DCGM, lambda t: None if t < T0 + 700 else 1),
        ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "gauge"): _series(
            "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", DCGM, lambda t: 4 | 8),
        ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge"): _series(
            "DCGM_FI_DEV_ROW_REMAP_FAILURE", DCGM, lambda t: 1),
        ("kube_pod_labels", "gauge"): _series("kube_pod_labels", KSM, lambda t: 1),
    }
    lines = []
    for (name, typ), samples in fams.items():
        lines += [f"# TYPE {name} {typ}", *samples]
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from sdobs.prom.harness import LocalPrometheus

    prom = LocalPrometheus(tmp_path_factory.mktemp("health"))
    prom.backfill_text(_history())
    prom.start()
    c = PrometheusClient(prom.url)
    yield c
    c.close()
    prom.stop()


def _by_pod(client, q, t) -> dict[str, float]:
    frame = client.query(q.expr, time=t)
    return dict(zip(frame["pod"], frame["value"], strict=True)) if not frame.empty else {}


A, B = "sd-1-deployment-a-a", "sd-1-deployment-b-b"


def test_xid_events_count_from_the_first_one(client) -> None:
    cat = Catalog("opentelemetry")
    sel = Selection(namespace="ns", service="sd")
    # The first XID (counter born at 1) within the last 5 minutes: plain increase() misses it.
    t = T0 + 700
    assert client.query("increase(sdobs_gpu_xid_errors_total[5m])", time=t)["value"].sum() == 0
    assert _by_pod(client, cat.gpu_xid_events(sel, "5m", by=("pod",)), t) == {A: 1, B: 1}
    # Two for a on the sdobs counter (born inside the window), two XID codes for b.
    assert _by_pod(client, cat.gpu_xid_events(sel, "10m", by=("pod",)), T0 + 1000) == {A: 2, B: 2}
    # A counter that existed at the window's start counts its increase only.
    later = _by_pod(client, cat.gpu_xid_events(sel, "5m", by=("pod",)), T0 + 1300)
    assert later[A] == pytest.approx(1, abs=0.3) and later[B] == 0
    assert client.query(cat.gpu_xid_events(Selection(service="other"), "1h").expr,
                        time=END).empty


def test_ecc_remap_and_throttle(client) -> None:
    cat = Catalog("opencensus")
    sel = Selection(namespace="ns", revisions=("sd-1",))
    t = T0 + 900
    assert _by_pod(client, cat.gpu_ecc_errors(sel, "uncorrected", "10m", by=("pod",)), t) == \
        pytest.approx({A: 2, B: 1}, abs=0.3)
    assert _by_pod(client, cat.gpu_remapped_rows(sel, "failure", by=("pod",)), t) == {A: 0, B: 1}
    assert _by_pod(client, cat.gpu_throttled(sel, "sw_power_cap", by=("pod",)), t) == {A: 1, B: 1}
    assert _by_pod(client, cat.gpu_throttled(sel, "hw_slowdown", by=("pod",)), t) == {B: 1}
    assert _by_pod(client, cat.gpu_throttled(sel, "sw_thermal_slowdown", by=("pod",)), t) == \
        {B: 0}
    with pytest.raises(ValueError, match="throttle reason"):
        cat.gpu_throttled(sel, "bogus")
    with pytest.raises(ValueError, match="ECC"):
        cat.gpu_ecc_errors(sel, "some")
    with pytest.raises(ValueError, match="cannot group"):
        cat.gpu_xid_events(sel, by=("le",))
