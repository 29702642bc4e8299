"""Catalog pieces the Grafana dashboards need: variable queries, multi-value variables, scale
events, services at zero and idle GPU-seconds, checked in a real Prometheus in every dialect."""

from __future__ import annotations

import knative_traffic as kt
import pytest

from sdobs.catalog import Catalog, Selection, Var
from sdobs.catalog.catalog import LabelValuesQuery
from sdobs.knative.dialects import DIALECTS
from sdobs.prom.client import PrometheusClient

DIALECT_NAMES = [d.name for d in DIALECTS]


def test_multi_value_variable_matches_by_regex() -> None:
    cat = Catalog("opencensus")
    single = cat.request_rate(Selection(namespace=Var("namespace"))).expr
    multi = cat.request_rate(Selection(namespace=Var("namespace", multi=True))).expr
    assert 'namespace_name="$namespace"' in single
    assert 'namespace_name=~"$namespace"' in multi
    with pytest.raises(ValueError):
        Var("name-with-dash")


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_label_values_query_text(dialect: str) -> None:
    cat = Catalog(dialect)
    keys = cat.dialect.labels
    q = cat.label_values_query("service", Selection(namespace=Var("namespace")))
    assert isinstance(q, LabelValuesQuery)
    assert str(q) == (f"label_values({cat.dialect.autoscaler['pods_desired'].name}"
                      f'{{{keys.namespace}="$namespace"}}, {keys.service})')
    gpu = cat.label_values_query("revision", Selection(service=Var("service")), source="gpu")
    assert str(gpu) == 'label_values(sdobs_gpu_memory_total_bytes{service="$service"}, revision)'
    with pytest.raises(ValueError):
        cat.label_values_query("pod")
    with pytest.raises(ValueError):
        cat.label_values_query("le", source="gpu")


def test_idle_gpu_seconds_is_allocated_minus_busy() -> None:
    cat = Catalog("opentelemetry")
    sel = Selection(service="sd")
    idle = cat.gpu_seconds(sel, "idle", "1h", "30s")
    alloc, busy = cat.gpu_seconds(sel, "allocated", "1h"), cat.gpu_seconds(sel, "busy", "1h")
    assert idle.expr == f"{alloc.expr} - {busy.expr}"
    assert idle.unit == "s" and idle.signal == "gpu_seconds_idle"
    with pytest.raises(ValueError):
        cat.gpu_seconds(sel, "wasted")




def _values(client: PrometheusClient, q: LabelValuesQuery, **subst: str) -> list[str]:
    series = q.series
    for name, value in subst.items():
        series = series.replace(f"${name}", value)
    return client.label_values(q.label, match=[series])


@pytest.mark.prometheus
def test_variable_queries_list_the_known_values(knative) -> None:
    client, cat = knative.client, knative.catalog
    ns = Var("namespace")
    assert _values(client, cat.label_values_query("namespace")) == ["default", "team-b"]
    services = cat.label_values_query("service", Selection(namespace=ns))
    assert _values(client, services, namespace=kt.NS) == [kt.SVC, "svc"]
    revisions = cat.label_values_query(
        "revision", Selection(namespace=ns, service=Var("service")))
    assert _values(client, revisions, namespace=kt.NS, service=kt.SVC) == [kt.REV_A, kt.REV_B]


@pytest.mark.prometheus
def test_scale_events_and_services_at_zero(knative) -> None:
    client, cat, te = knative.client, knative.catalog, knative.end
    sel = Selection(namespace=kt.NS, service=kt.SVC, window="10m")
    frame = client.query(cat.scale_events(sel, by=["revision"]).expr, time=te)
    assert dict(zip(frame["revision"], frame["value"], strict=True)) == {kt.REV_A: 0,
                                                                          kt.REV_B: 0}
    at_zero = client.query(cat.services_at_zero(Selection()).expr, time=te, require_data=True)
    assert at_zero["value"].tolist() == [0]
    with pytest.raises(ValueError):
        cat.scale_events(sel, by=["pod"])
