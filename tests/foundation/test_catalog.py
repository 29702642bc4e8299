"""Every catalog signal returns the known answer from a real Prometheus, in every dialect."""

from __future__ import annotations

import math

import knative_traffic as kt
import pytest

from sdobs.catalog import QUANTILES, Catalog, Selection
from sdobs.knative.dialects import DIALECTS
from sdobs.prom.client import InstantQuery, PrometheusClient
from sdobs.prom.harness import LocalPrometheus

pytestmark = pytest.mark.prometheus

DIALECT_NAMES = [d.name for d in DIALECTS]
SEL = Selection(namespace=kt.NS, service=kt.SVC, window=kt.WINDOW)
OURS = [p for p in kt.PODS if p.namespace == kt.NS and p.service == kt.SVC]




def scalar(client: PrometheusClient, expr: str, te: int) -> float:
    frame = client.query(expr, time=te, require_data=True)
    assert len(frame) == 1, frame
    return float(frame["value"].iloc[0])


def by_label(client: PrometheusClient, expr: str, te: int, label: str) -> dict[str, float]:
    frame = client.query(expr, time=te)
    return dict(zip(frame[label], frame["value"], strict=True))


def test_request_volume(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    assert scalar(client, cat.request_rate(SEL).expr, te) == pytest.approx(129 / 600)
    assert scalar(client, cat.request_rate(SEL, app=True).expr, te) == pytest.approx(129 / 600)


def test_error_rates_and_success_ratio(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    assert scalar(client, cat.rate_4xx(SEL).expr, te) == pytest.approx(6 / 600)
    assert scalar(client, cat.rate_5xx(SEL).expr, te) == pytest.approx(3 / 600)
    assert scalar(client, cat.success_ratio(SEL).expr, te) == pytest.approx(126 / 129)
    per_rev = by_label(client, cat.success_ratio(SEL, by=["revision"]).expr, te, "revision")
    assert per_rev == pytest.approx({kt.REV_A: 106 / 109, kt.REV_B: 1.0})


def test_volume_by_revision_and_code_class(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    rev = by_label(client, cat.request_rate_by_revision(SEL).expr, te, "revision")
    assert rev == pytest.approx({kt.REV_A: 109 / 600, kt.REV_B: 20 / 600})
    cls = by_label(client, cat.request_rate_by_code_class(SEL).expr, te, "code_class")
    assert cls == pytest.approx({"2xx": 120 / 600, "4xx": 6 / 600, "5xx": 3 / 600})
    pods = by_label(client, cat.request_rate(SEL, by=["pod"]).expr, te, "pod")
    assert pods == pytest.approx({p.name: sum(p.counts.values()) / 600 for p in OURS})


def test_selection_narrows(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    other_ns = Selection(namespace="team-b", revisions=(kt.REV_A,), window=kt.WINDOW)
    assert scalar(client, cat.request_rate(other_ns).expr, te) == pytest.approx(50 / 600)
    two = Selection(namespace=kt.NS, revisions=(kt.REV_B, "svc-00001"), window=kt.WINDOW)
    assert scalar(client, cat.request_rate(two).expr, te) == pytest.approx(53 / 600)
    everything = Selection(window=kt.WINDOW)
    assert scalar(client, cat.request_rate(everything).expr, te) == pytest.approx(212 / 600)
    assert scalar(client, cat.rate_5xx(everything).expr, te) == pytest.approx(6 / 600)


@pytest.mark.parametrize("app", [False, True], ids=["outer", "app"])
def test_latency_quantiles_in_seconds(knative, app: bool) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    dialect = cat.dialect.name
    for q in QUANTILES:
        want = kt.histogram_quantile(q, kt.bucket_counts(kt.window_latencies(OURS, app), dialect))
        got = scalar(client, cat.latency(SEL, q, app=app).expr, te)
        assert got == pytest.approx(want, rel=1e-9), (q, dialect)
        per_rev = by_label(client, cat.latency(SEL, q, by=["revision"], app=app).expr, te,
                           "revision")
        for rev in (kt.REV_A, kt.REV_B):
            pods = [p for p in OURS if p.revision == rev]
            want = kt.histogram_quantile(q, kt.bucket_counts(kt.window_latencies(pods, app),
                                                             dialect))
            assert per_rev[rev] == pytest.approx(want, rel=1e-9), (q, rev)


def test_latency_equals_prometheus_histogram_quantile(knative) -> None:
    """The catalog's quantile is Prometheus' own histogram_quantile on the raw buckets, in s."""
    client, cat, te = knative.client, knative.catalog, knative.end
    raw = {
        "opencensus": 'histogram_quantile(0.95, sum by (le) (rate(revision_request_latencies_bucket'
                      '{namespace_name="default", service_name="knative-sd-demo"}[10m]))) / 1000',
        "opentelemetry": 'histogram_quantile(0.95, sum by (le) (rate('
                         'http_server_request_duration_seconds_bucket{k8s_namespace_name="default",'
                         ' kn_service_name="knative-sd-demo", k8s_pod_name!=""}[10m])))',
    }
    raw["opentelemetry-early"] = raw["opentelemetry"]
    assert scalar(client, cat.latency(SEL, 0.95).expr, te) == pytest.approx(
        scalar(client, raw[cat.dialect.name], te), rel=1e-12)


def test_pod_counts(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    want = {"desired": 4, "requested": 4, "actual": 3, "pending": 1, "not_ready": 1,
            "terminating": 1}
    for state, n in want.items():
        assert scalar(client, cat.pods(SEL, state).expr, te) == n, state
    per_rev = by_label(client, cat.pods(SEL, "desired", by=["revision"]).expr, te, "revision")
    assert per_rev == {kt.REV_A: 3, kt.REV_B: 1}
    assert [q.signal for q in cat.pod_trend(SEL)] == [
        "pods_desired", "pods_requested", "pods_actual", "pods_pending", "pods_terminating"]


def test_concurrency_panic_and_burst_capacity(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    rev_a = Selection(namespace=kt.NS, service=kt.SVC, revisions=(kt.REV_A,))
    assert scalar(client, cat.concurrency(rev_a, "stable").expr, te) == pytest.approx(1.6)
    assert scalar(client, cat.concurrency(rev_a, "panic").expr, te) == pytest.approx(2.4)
    assert scalar(client, cat.concurrency(rev_a, "target").expr, te) == pytest.approx(1)
    assert scalar(client, cat.panic_mode(rev_a).expr, te) == 1
    assert scalar(client, cat.excess_burst_capacity(rev_a).expr, te) == pytest.approx(-209.4)
    assert scalar(client, cat.activator_concurrency(rev_a).expr, te) == pytest.approx(0.4)
    panic = by_label(client, cat.panic_mode(SEL, by=["revision"]).expr, te, "revision")
    assert panic == {kt.REV_A: 1, kt.REV_B: 0}
    assert scalar(client, cat.queue_depth(SEL).expr, te) == 0


def test_dialects_agree(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same traffic gives the same numbers in every dialect where the buckets allow."""
    t0 = kt.t0_for_tests()
    te = t0 + kt.WINDOW_END
    answers = {}
    for name in DIALECT_NAMES:
        with LocalPrometheus(tmp_path_factory.mktemp(f"agree-{name}")) as prom:
            prom.backfill(_write(tmp_path_factory, name, t0))
            client, cat = PrometheusClient(prom.url), Catalog(name)
            queries = [cat.request_rate(SEL), cat.rate_4xx(SEL), cat.rate_5xx(SEL),
                       cat.success_ratio(SEL), *cat.pod_trend(SEL), cat.concurrency(SEL),
                       cat.panic_mode(SEL), cat.excess_burst_capacity(SEL),
                       cat.activator_concurrency(SEL)]
            frames = client.query_many([InstantQuery(q.expr, te) for q in queries])
            answers[name] = [float(f["value"].iloc[0]) if len(f) else math.nan for f in frames]
            client.close()
    first = answers[DIALECT_NAMES[0]]
    for name in DIALECT_NAMES[1:]:
        assert answers[name] == pytest.approx(first), name


def _write(factory: pytest.TempPathFactory, dialect: str, t0: int):
    path = factory.mktemp("om") / f"{dialect}.om.txt"
    path.write_text(kt.exposition(dialect, t0))
    return path


def test_requests_served_counts_every_request_of_series_in_the_range(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    want = sum(p.before * len(p.counts) + sum(p.counts.values()) for p in OURS)
    assert scalar(client, cat.requests_served(SEL, "20m").expr, te) == want
    by_class = by_label(client, cat.requests_served(SEL, "20m", by=["code_class"]).expr, te,
                        "code_class")
    assert by_class["4xx"] == sum(p.before + p.counts[404] for p in OURS if 404 in p.counts)
