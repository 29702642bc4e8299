"""Label values are data: hostile values select nothing and never change the query."""

from __future__ import annotations

import knative_traffic as kt
import pytest

from sdobs.catalog import Catalog, Selection, Var, promql
from sdobs.prom.client import PrometheusClient

HOSTILE = ['a"}or vector(1)#', "svc.*", ".*", 'default"} or vector(1) #', "a\\", "x|y",
           "knative-sd-demo-0000[12]", "\n", "a\\\"}) or on() vector(1) #"]


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory):
    from sdobs.prom.harness import LocalPrometheus

    t0 = kt.t0_for_tests()
    with LocalPrometheus(tmp_path_factory.mktemp("inject")) as p:
        p.backfill_text(kt.opencensus(t0))
        client = PrometheusClient(p.url)
        yield client, t0 + kt.WINDOW_END
        client.close()


@pytest.mark.prometheus
@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["namespace", "service", "revisions"])
def test_hostile_values_select_nothing(prom, field: str, value: str) -> None:
    client, te = prom
    sel = Selection(**{field: (value,) if field == "revisions" else value}, window=kt.WINDOW)
    cat = Catalog("opencensus")
    for query in (cat.request_rate(sel), cat.success_ratio(sel), cat.latency(sel, 0.99),
                  cat.pods(sel), cat.request_rate_by_revision(sel)):
        assert client.query(query.expr, time=te).empty, query.expr


@pytest.mark.prometheus
def test_several_revisions_with_a_hostile_one_select_only_the_real_one(prom) -> None:
    client, te = prom
    sel = Selection(namespace=kt.NS, revisions=(kt.REV_B, "svc.*"), window=kt.WINDOW)
    frame = client.query(Catalog("opencensus").request_rate(sel).expr, time=te)
    assert frame["value"].tolist() == pytest.approx([20 / 600])


@pytest.mark.prometheus
@pytest.mark.parametrize("value", [*HOSTILE, "plain", "ünïcødé ✓", "tab\there", "\x01ctl"])
def test_quote_round_trips_through_prometheus(prom, value: str) -> None:
    client, te = prom
    frame = client.query(f'label_replace(vector(1), "v", {promql.quote(value)}, "", "")', time=te)
    assert frame["v"].tolist() == [value]


@pytest.mark.prometheus
@pytest.mark.parametrize("value", [*HOSTILE, "plain", "a.b", "(x)", "^$", "{1,2}"])
def test_regex_literal_matches_exactly_that_value(prom, value: str) -> None:
    """Prometheus anchors regexes like matchers do in label_replace: only ``value`` matches."""
    client, te = prom
    pattern = promql.one_of("v", [value, "other-value"]).value  # already a quoted literal

    def matched(candidate: str) -> bool:
        src = f'label_replace(vector(1), "src", {promql.quote(candidate)}, "", "")'
        frame = client.query(f'label_replace({src}, "hit", "yes", "src", {pattern})', time=te)
        return "hit" in frame.columns and frame["hit"].tolist() == ["yes"]

    assert matched(value)
    assert matched("other-value")
    assert not matched(value + "x")
    assert not matched("x" + value)
    assert not matched("other-valu")


def test_selection_rejects_bad_types_and_windows() -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        Selection(window="5m] or vector(1) #")
    with pytest.raises(TypeError, match="must be a string"):
        Selection(namespace=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="identifier"):
        Var("bad name")
    with pytest.raises(ValueError, match="cannot group by"):
        Catalog("opencensus").request_rate(Selection(), by=["revision_name) or vector(1"])


def test_grafana_variables_render_verbatim() -> None:
    sel = Selection(namespace=Var("namespace"), service=Var("service"),
                    revisions=Var("revision"), window="$__rate_interval")
    expr = Catalog("opentelemetry").request_rate(sel).expr
    assert 'k8s_namespace_name="$namespace"' in expr
    assert 'kn_revision_name=~"$revision"' in expr
    assert "[$__rate_interval]" in expr
