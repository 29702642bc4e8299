"""Figures keep their plot area whatever their legend: a per-pod legend never covers the axis."""

from __future__ import annotations

import numpy as np

from sdobs.app.data import Window
from sdobs.app.figures import legend_rows, timeseries

POD = "knative-sd-demo-00001-deployment-7d9c8b5f6-{}"


def _plot_px(fig: dict) -> int:
    lay = fig["layout"]
    return lay["height"] - lay["margin"]["t"] - lay["margin"]["b"]


def test_legend_rows_follow_the_names() -> None:
    assert legend_rows(["P50", "P90", "P95", "P99"]) == 1
    assert legend_rows([f"used {POD.format(i)}" for i in range(6)]) == 6
    assert legend_rows(["knative-sd-demo-00001", "knative-sd-demo-00002"]) == 1


def test_a_long_legend_scrolls_under_the_axis_and_leaves_the_plot_most_of_the_panel() -> None:
    window = Window.of(1_800_000_000, 1_800_003_600)
    y = np.ones(len(window.grid()))
    one = timeseries([("P50", y), ("P99", y)], window, "s")
    many = timeseries([(f"used {POD.format(i)}", y) for i in range(12)], window, "bytes")
    # The panel's height is fixed (the app's graph container); the plot keeps most of it.
    assert one["layout"]["height"] == many["layout"]["height"] == 260
    assert _plot_px(one) == 200 and _plot_px(many) == 160
    assert many["layout"]["legend"]["maxheight"] == 60  # three rows, the rest scrolls
    for fig in (one, many):
        legend = fig["layout"]["legend"]
        # In the container's bottom margin, under the axis labels, not in the plot's paper.
        assert legend["yref"] == "container" and legend["y"] == 0
        assert legend["yanchor"] == "bottom"
