"""The service page reads quantiles honestly: "> 10 s" above Knative's last bucket, with why."""

from __future__ import annotations

import json

import pytest
from plotly.io.json import to_json_plotly

from sdobs.app import create_app
from sdobs.app.pages.common import by_id

pytestmark = pytest.mark.prometheus


def text_of(component) -> str:
    return json.dumps(json.loads(to_json_plotly(component)), ensure_ascii=False)


def test_p99_card_says_above_the_last_bound(known) -> None:
    app = create_app(known.url, cache_seconds=0)
    try:
        cb = app.sdobs.callbacks["service"]
        answer = by_id(cb, cb(known.search(), 0, {}))
    finally:
        app.sdobs.source.close()
    cards = {c["props"]["id"]: c for c in json.loads(json.dumps(
        answer["service-cards.children"], default=lambda o: o.to_plotly_json()))}
    p99 = cards["card-p99"]["props"]
    value = p99["children"][0]["props"]["children"]
    if known.dialect == "opentelemetry":
        # 12.5 s and 45 s requests: the OpenTelemetry histogram stops at 10 s.
        assert value == "> 10 s"
        assert "last finite bucket bound is 10 s" in p99["title"]
    else:
        # OpenCensus buckets 10 -> 20 -> 50 s: the P99 is an interval, not a number.
        assert value in ("10–20 s", "20–50 s"), value
        assert "buckets jump" in p99["title"]
    p50 = cards["card-p50"]["props"]
    assert p50["children"][0]["props"]["children"].endswith(" s")
    compare = text_of(answer["compare-body.children"])
    assert ("> 10 s" if known.dialect == "opentelemetry" else "–") in compare
