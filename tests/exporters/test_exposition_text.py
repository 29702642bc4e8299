"""The shared text-format rules against prometheus-client's own writer and parser."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sdobs_exporters.exposition_text import escape_help, escape_value, go_float, label_pairs

NAMES = st.sampled_from(["a", "b", "gpu", "le", "pod", "zz"])
VALUES = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)


@given(st.dictionaries(NAMES, VALUES, min_size=1, max_size=5), VALUES)
def test_labels_and_help_as_prometheus_client_writes_and_reads_them(labels: dict[str, str],
                                                                     doc: str) -> None:
    registry = CollectorRegistry()
    keys = sorted(labels)
    Gauge("x", doc, keys, registry=registry).labels(**labels).set(1)
    expected = generate_latest(registry).decode()
    ours = f"# HELP x {escape_help(doc)}\n# TYPE x gauge\nx{{{label_pairs(labels)}}} 1.0\n"
    assert ours == expected
    (family,) = text_string_to_metric_families(ours)
    assert family.samples[0].labels == labels


def test_le_goes_last_when_asked_and_values_are_escaped() -> None:
    labels = {"le": "0.5", "a": 'x"y\\z\nw', "b": 3}
    assert label_pairs(labels) == 'a="x\\"y\\\\z\\nw",b="3",le="0.5"'
    assert label_pairs({"z": "1", "le": "+Inf", "a": "2"}, le_last=True) == \
        'a="2",z="1",le="+Inf"'
    assert escape_value("plain") == "plain"


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (7, "7"), (3.0, "3"), (-2.0, "-2"), (0.25, "0.25"), (1e-07, "1e-07"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"), (123456789.5, "123456789.5"),
])
def test_go_float_writes_what_client_golang_writes(value: float, text: str) -> None:
    assert go_float(value) == text


def test_go_float_writes_numpy_scalars_as_python_floats() -> None:
    np = pytest.importorskip("numpy")
    assert go_float(np.float64(0.3)) == "0.3"
    assert go_float(np.float64(4.0)) == "4"
