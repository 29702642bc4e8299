"""The app's graphs take their titles and descriptions from the shared panel table.

The titles were recorded from the pages before they read the table (each page kept its own);
the pages must show the same ones, and each graph's hover text is its panel's description in
``sdobs.catalog.panels``, the text Grafana shows for the same panel.
"""

from __future__ import annotations

import pytest
from dash import html

from sdobs.app.pages import gpu, scaling, service
from sdobs.app.pages.common import Graph, panel_box
from sdobs.catalog.panels import PANELS

TITLES = {'service': [('service-volume', 'Request Volume'),
             ('service-success', 'Success Rate'),
             ('service-4xx', '4xx'),
             ('service-5xx', '5xx'),
             ('service-by-revision', 'Request Volume by Revision'),
             ('service-by-code', 'Request Volume by Response Code Class'),
             ('service-latency', 'Response Time P50 / P90 / P95 / P99'),
             ('service-pods', 'Pod Scaling Trend')],
 'gpu': [('gpu-allocated', 'GPUs allocated vs busy'),
         ('gpu-util-pod', 'Utilisation by pod'),
         ('gpu-util-revision', 'Utilisation by revision'),
         ('gpu-memory-pod', 'Memory by pod: used and installed'),
         ('gpu-memory-revision', 'Memory used by revision'),
         ('gpu-power-pod', 'Power by pod'),
         ('gpu-power-revision', 'Power by revision'),
         ('gpu-xid', 'XID errors by pod'),
         ('gpu-ecc', 'ECC errors by pod'),
         ('gpu-repairs', 'Memory repaired by pod'),
         ('gpu-throttle', 'GPUs throttled, by reason'),
         ('res-cpu', 'CPU by revision'),
         ('res-memory', 'Memory by revision: working set vs limit'),
         ('res-memory-ratio', 'Memory used of limit, by pod'),
         ('res-restarts', 'Restarts and OOM kills by revision')],
 'scaling': [('scaling-pods', 'Pods and scale events'),
             ('scaling-concurrency', 'Concurrency: stable / panic / target'),
             ('scaling-panic', 'Panic mode'),
             ('scaling-ebc', 'Excess burst capacity'),
             ('scaling-activator', 'Activator concurrency')]}


def _heading(graph: Graph) -> html.H3:
    head = panel_box(graph).children[0]
    return head.children[0]


def test_every_page_shows_the_titles_it_showed() -> None:
    for page in (service, gpu, scaling):
        name = page.__name__.rsplit(".", 1)[-1]
        shown = [(g.id, _heading(g).children) for g in page.GRAPHS]
        assert shown == TITLES[name], name


def test_hover_text_is_the_panel_description_grafana_shows() -> None:
    for page in (service, gpu, scaling):
        for g in page.GRAPHS:
            assert _heading(g).title == PANELS[g.panel].description, g.id


def test_a_graph_names_a_panel_of_the_table() -> None:
    with pytest.raises(ValueError, match="no_such_panel"):
        Graph("x", "no_such_panel", (), lambda page, state: {})
