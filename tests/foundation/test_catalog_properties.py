"""Property tests (Hypothesis) of the catalog's selections against a real Prometheus.

Whatever text a user gives as namespace, service, configuration or revisions, every catalog
query either builds (and then selects nothing that is not named exactly so) or is refused with
a ValueError sentence; quote() round-trips any UTF-8 text through Prometheus' own parser;
one_of() matches exactly its values; a window is accepted only when it is a whole duration.
"""

from __future__ import annotations

import re

import knative_traffic as kt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sdobs.catalog import Catalog, Selection, promql
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus
PROPS = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
utf8 = st.characters(codec="utf-8")
values = st.one_of(st.text(utf8, min_size=1, max_size=30),
                   st.sampled_from(['a"}or vector(1)#', "svc.*", ".*", "\\", "x|y", "\n", "$1",
                                    "default\n", "(?i)DEFAULT", "knative-sd-demo-0000[12]"]))
REAL = {kt.NS, kt.SVC, kt.REV_A, kt.REV_B, *(p.namespace for p in kt.PODS),
        *(p.service for p in kt.PODS), *(p.revision for p in kt.PODS)}


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory):
    from sdobs.prom.harness import LocalPrometheus

    t0 = kt.t0_for_tests()
    with LocalPrometheus(tmp_path_factory.mktemp("props")) as p:
        p.backfill_text(kt.opencensus(t0))
        client = PrometheusClient(p.url)
        yield client, t0 + kt.WINDOW_END
        client.close()


@PROPS
@given(field=st.sampled_from(["namespace", "service", "configuration", "revisions"]),
       value=values)
def test_any_selection_selects_only_what_it_names(prom, field: str, value: str) -> None:
    client, te = prom
    sel = Selection(**{field: (value,) if field == "revisions" else value}, window=kt.WINDOW)
    cat = Catalog("opencensus")
    for query in (cat.request_rate(sel), cat.success_ratio(sel), cat.latency(sel, 0.99),
                  cat.pods(sel), cat.request_rate_by_revision(sel)):
        frame = client.query(query.expr, time=te)
        if value not in REAL:
            assert frame.empty, query.expr


@PROPS
@given(st.text(utf8, max_size=40))
def test_quote_round_trips_any_text_through_prometheus(prom, value: str) -> None:
    client, te = prom
    replacement = value.replace("$", "$$")  # label_replace expands $1, $name: '$$' is one '$'
    frame = client.query(f'label_replace(vector(1), "v", {promql.quote(replacement)}, "", "")',
                         time=te)
    if value:
        assert frame["v"].tolist() == [value]
    else:  # an empty label value is no label at all
        assert "v" not in frame.columns


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(utf8, min_size=1, max_size=12), min_size=2, max_size=4, unique=True),
       st.text(utf8, max_size=12))
def test_one_of_matches_exactly_its_values(names: list[str], other: str) -> None:
    """RE2 and Python's re agree on an escaped literal alternation; anchored like Prometheus."""
    literal = promql.one_of("v", names).value
    pattern = re.compile(_unquote(literal), re.DOTALL)
    assert all(pattern.fullmatch(n) for n in names)
    assert bool(pattern.fullmatch(other)) == (other in names)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=12), st.from_regex(r"([0-9]{1,3}(ms|s|m|h|d|w|y)){1,3}",
                                                      fullmatch=True)))
@example("5m\n")
def test_windows_are_whole_durations_or_refused(text: str) -> None:
    whole = re.fullmatch(r"([0-9]+(ms|s|m|h|d|w|y))+", text) is not None
    grafana = text in ("$__rate_interval", "$__interval", "$__range")
    try:
        sel = Selection(service="x", window=text)
    except ValueError as exc:
        assert not whole and not grafana
        assert "is not a Prometheus duration" in str(exc)
    else:
        assert whole or grafana
        assert f"[{text}]" in Catalog("opencensus").request_rate(sel).expr


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=[]), max_size=20))
@example("\udcff")
def test_any_text_is_a_quoted_literal_or_a_sentence(value: str) -> None:
    """Lone surrogates (undecodable argv bytes) are refused up front, not at send time."""
    try:
        literal = promql.quote(value)
    except ValueError as exc:
        assert "not valid UTF-8" in str(exc)
        with pytest.raises(UnicodeEncodeError):
            value.encode("utf-8")
    else:
        assert _unquote(literal) == value


def _unquote(literal: str) -> str:
    """Decode a PromQL double-quoted literal the way Prometheus does (Go's escapes)."""
    assert literal[0] == literal[-1] == '"'
    body, out, i = literal[1:-1], [], 0
    simple = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "r": "\r"}
    while i < len(body):
        ch = body[i]
        assert ch != '"', "an unescaped quote would end the literal"
        if ch != "\\":
            out.append(ch)
            i += 1
        elif body[i + 1] == "x":
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        else:
            out.append(simple[body[i + 1]])
            i += 2
    return "".join(out)
