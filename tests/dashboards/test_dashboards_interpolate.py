"""Grafana's variable replacement, as the data tests use it."""

from __future__ import annotations

import pytest

from sdobs.dashboards.interpolate import Windows, interpolate

VARS = [
    {"name": "namespace", "type": "query"},
    {"name": "revision", "type": "query", "multi": True, "includeAll": True, "allValue": ".*"},
    {"name": "datasource", "type": "datasource"},
]


def test_single_multi_all_and_builtins() -> None:
    expr = ('rate(x{ns="$namespace", rev=~"$revision"}[$__rate_interval]) '
            '+ sum_over_time(y[${__range}:30s]) * $__range_s')
    got = interpolate(expr, VARS, {"namespace": 'a"b', "revision": ["r-1", "r.2"]},
                      Windows(rate_interval="2m", range="1h", range_seconds=3600))
    assert got == ('rate(x{ns="a\\"b", rev=~"(r-1|r\\\\.2)"}[2m]) '
                   '+ sum_over_time(y[1h:30s]) * 3600')
    assert interpolate('x{rev=~"$revision"}', VARS, {}) == 'x{rev=~".*"}'
    assert interpolate('x{rev=~"$revision"}', VARS, {"revision": ["only"]}) == 'x{rev=~"only"}'


def test_regex_backreferences_stay_and_unknown_names_fail() -> None:
    expr = 'label_replace(x, "c", "${1}xx", "code", "([1-5])..") + label_replace(y, "a", "$1")'
    assert interpolate(expr, VARS, {}) == expr
    with pytest.raises(KeyError, match="service"):
        interpolate('x{s="$service"}', VARS, {})
    with pytest.raises(ValueError, match="one value"):
        interpolate('x{n="$namespace"}', VARS, {"namespace": ["a", "b"]})
