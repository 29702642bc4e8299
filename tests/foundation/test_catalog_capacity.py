"""Capacity signals (service-time distribution, mean, GPU models) against the known traffic."""

from __future__ import annotations

import math

import knative_traffic as kt
import pytest

from sdobs.catalog import Catalog, Selection

SEL = Selection(namespace=kt.NS, service=kt.SVC, window=kt.WINDOW)
OURS = [p for p in kt.PODS if p.namespace == kt.NS and p.service == kt.SVC]


def _latencies(pods: list[kt.Pod], code: int, app: bool = True) -> list[float]:
    """Latencies of ``code`` responses inside the window (the app ones lack the proxy overhead)."""
    return [kt.latency(code, k) + (0 if app else kt.APP_OVERHEAD)
            for p in pods if code in p.counts
            for k in range(p.before, p.before + p.counts[code])]




@pytest.mark.prometheus
@pytest.mark.parametrize("app", [True, False], ids=["app", "outer"])
def test_latency_histogram_counts_each_bucket_of_one_class(knative, app: bool) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    frame = client.query(cat.latency_histogram(SEL, by=["revision"], app=app,
                                               code_class="2xx").expr, time=te)
    scale = cat.latency_bucket_scale(app=app)
    assert scale == (0.001 if cat.dialect.name == "opencensus" else 1.0)
    for rev in (kt.REV_A, kt.REV_B):
        want = kt.bucket_counts(_latencies([p for p in OURS if p.revision == rev], 200, app),
                                cat.dialect.name)
        got = frame[frame["revision"] == rev]
        seen = sorted((float(le) * scale, v * 600)
                      for le, v in zip(got["le"], got["value"], strict=True))
        assert len(seen) == len(want)
        for (bound, count), (want_bound, want_count) in zip(seen, want, strict=True):
            assert bound == pytest.approx(want_bound, rel=1e-12)
            assert count == pytest.approx(want_count, abs=1e-9), (rev, bound)


@pytest.mark.prometheus
def test_latency_mean_of_one_class_in_seconds(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    values = _latencies(OURS, 200)
    if cat.dialect.name == "opencensus":  # the OpenCensus sum holds whole milliseconds
        values = [math.floor(v * 1000) / 1000 for v in values]
    frame = client.query(cat.latency_mean(SEL, app=True, code_class="2xx").expr, time=te)
    assert float(frame["value"].iloc[0]) == pytest.approx(sum(values) / len(values), rel=1e-9)
    everything = _latencies(OURS, 200) + _latencies(OURS, 404) + _latencies(OURS, 500)
    if cat.dialect.name == "opencensus":
        everything = [math.floor(v * 1000) / 1000 for v in everything]
    frame = client.query(cat.latency_mean(SEL, app=True).expr, time=te)
    assert float(frame["value"].iloc[0]) == pytest.approx(sum(everything) / len(everything),
                                                          rel=1e-9)


@pytest.mark.prometheus
def test_request_counter_holds_each_pods_count_per_class(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    frame = client.query(cat.request_counter(SEL).expr, time=te)
    got = {(r.revision, r.pod, r.code_class): r.value for r in frame.itertuples()}
    want: dict[tuple[str, str, str], float] = {}
    for pod in OURS:
        for code, n in pod.counts.items():
            key = (pod.revision, pod.name, f"{code // 100}xx")
            want[key] = want.get(key, 0) + n + pod.before
    assert got == want


def test_gpu_models_query_is_per_revision_and_validated() -> None:
    cat = Catalog("opencensus")
    q = cat.gpu_models(Selection(namespace="ns", service='a"b', window="6h"))
    assert q.expr == ('count by (revision, name) (last_over_time(sdobs_gpu_info{namespace="ns", '
                      'service="a\\"b"}[6h]))')
    assert q.by == ("revision", "name")
    with pytest.raises(ValueError, match="cannot group GPU models by 'pod'"):
        cat.gpu_models(Selection(), by=["pod"])
    with pytest.raises(ValueError, match="cannot group by 'le'"):
        cat.latency_histogram(Selection(), by=["le"])
