"""Revision resources on known cAdvisor and kube-state-metrics history in a real Prometheus."""

from __future__ import annotations

import knative_traffic as kt
import pytest

from sdobs.catalog import Catalog, Selection
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus
GIB = kt.GIB


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    from sdobs.prom.harness import LocalPrometheus

    t0 = kt.t0_for_tests()
    prom = LocalPrometheus(tmp_path_factory.mktemp("resources"))
    prom.backfill_text(kt.cluster(t0))
    prom.start()
    client = PrometheusClient(prom.url)
    yield client, t0 + kt.SPAN
    client.close()
    prom.stop()


def by(client, q, t, label="revision"):
    frame = client.query(q.expr, time=t)
    return dict(zip(frame[label], frame["value"], strict=True)) if not frame.empty else {}


@pytest.mark.parametrize("dialect", ["opencensus", "opentelemetry"])
def test_revision_resources(known, dialect) -> None:
    client, t = known
    cat = Catalog(dialect)  # resource series are the same for every Knative dialect
    sel = Selection(namespace=kt.NS, service=kt.SVC, window="5m")
    rev = ("revision",)
    a, b = kt.REV_A, kt.REV_B
    assert by(client, cat.container_cpu(sel, "user", rev), t) == pytest.approx({a: 1.0, b: 0.5})
    assert by(client, cat.container_cpu(sel, "queue-proxy", rev), t) == pytest.approx(
        {a: 0.02, b: 0.01})
    # (the test writer prints 6 significant digits)
    assert by(client, cat.container_memory(sel, "user", rev), t) == pytest.approx(
        {a: 5 * GIB, b: 4 * GIB}, rel=1e-5)
    assert by(client, cat.container_memory_limit(sel, "user", rev), t) == pytest.approx(
        {a: 16 * GIB, b: 8 * GIB}, rel=1e-5)
    assert by(client, cat.container_memory_limit(sel, "queue-proxy", rev), t) == {}
    pods = [p.name for p in kt.PODS[:3]]
    assert by(client, cat.container_memory_limit_ratio(sel, "user"), t, "pod") == pytest.approx(
        {pods[0]: 0.25, pods[1]: 0.375, pods[2]: 0.5}, rel=1e-5)
    assert by(client, cat.container_restarts(sel, "user", "1h", rev), t) == {a: 1, b: 0}
    assert by(client, cat.container_oom_kills(sel, "user", "1h", rev), t) == {a: 1, b: 0}
    assert by(client, cat.container_restarts(sel, "queue-proxy", "1h", rev), t) == {a: 0, b: 0}
    # Before the OOM kill, and for the decoy service whose name a regex would match.
    assert by(client, cat.container_oom_kills(sel, "user", "5m", rev), t0 := t - 700) == {
        a: 0, b: 0}, t0
    decoy = Selection(namespace=kt.NS, service="svc")
    assert set(by(client, cat.container_memory(decoy, "user", ("pod",)), t, "pod")) == {
        kt.PODS[3].name}


def test_resource_signals_reject_bad_input() -> None:
    cat = Catalog("opentelemetry")
    with pytest.raises(ValueError, match="container"):
        cat.container_cpu(Selection(), "sidecar")
    with pytest.raises(ValueError, match="cannot group resource signals by 'le'"):
        cat.container_memory(Selection(), by=("le",))
    with pytest.raises(ValueError, match="duration"):
        cat.container_restarts(Selection(), "user", "an hour")
    q = cat.container_memory(Selection(service='a"}or vector(1)#'))
    assert 'label_serving_knative_dev_service="a\\"}or vector(1)#"' in q.expr
