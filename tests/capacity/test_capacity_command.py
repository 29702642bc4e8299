"""``sdobs capacity`` and the executed notebook, against a real Prometheus holding twin history."""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from capacity_reference import SERVICE

from sdobs.cli import main

pytestmark = pytest.mark.prometheus
NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "capacity-analysis.ipynb"
#: The executed notebook, rendered (written by the notebook test, committed).
RENDERED = Path(__file__).parents[2] / "docs" / "capacity-analysis.html"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def test_capacity_command_prints_a_recommendation_and_writes_the_report(
        twin_history, tmp_path, capsys) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("spec,hourly_usd\necs.gn5-c4g1.xlarge,2.0\n")
    html = tmp_path / "report.html"
    rc = main(["capacity", "--prometheus-url", twin_history.url, "--service", SERVICE,
               "--range", "6h", "--end", _iso(twin_history.end), "--slo-p99", "60",
               "--prices", str(prices), "--html", str(html)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "scale to zero saved" in out and "reference platform reports 60 %" in out
    for column in ("P50 s", "P99 s", "cold", "cost $", "saved vs always-on"):
        assert column in out
    for row in ("observed", "as deployed", "queueing model", "warm pod", "always on"):
        assert row in out
    assert "Knative annotations for the recommendation" in out
    assert "autoscaling.knative.dev/" in out
    text = html.read_text()
    assert "<table" in text and "plotly" in text and "Recommendation" in text
    # Billed at the user's price: the observed cost is its pod-hours x $2.
    hours, cost = re.search(r"Observed: ([\d.]+) pod-hours billed, \$([\d.]+)", out).groups()
    assert float(cost) == pytest.approx(2 * float(hours), abs=0.1)
    assert_header_agrees_with_table(out, slo=60)
    assert_latency_axis_spans_the_data(text, slo=60)


def _table(out: str) -> dict[str, dict[str, str]]:
    """The printed what-if table: row name -> {column heading: cell}, read by column edges
    (pandas right-aligns every cell under the end of its heading)."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if "P99 s" in line and "setting" in line)
    heading = lines[head]
    rows = {}
    for line in lines[head + 1:]:
        if not line.strip():
            break
        cells = {}
        for column in ("setting", "P99 s", "SLO", "cold", "cost $", "pod-h",
                       "saved vs always-on"):
            end = heading.index(column) + len(column)
            cells[column] = line[:end].split()[-1] if column != "setting" else None
        name_end = heading.index("setting") + len("setting")
        name = line[:name_end].lstrip("* ").strip()
        cells["recommended"] = line.startswith("*")
        rows[name] = cells
    return rows


def assert_header_agrees_with_table(out: str, slo: float) -> None:
    """Every verdict above the table is the table's own row, number for number."""
    table = _table(out)
    verdict = re.compile(r"P99 ([\d.,]+) s, (meets|misses) P99 ≤ ([\d.]+) s; cold ([\d.]+%); "
                         r"\$(\d[\d,]*(?:\.\d+)?)")
    said = {}
    for name, rest in re.findall(r"Replayed with the KPA and cold starts, '([^']+)'[^:]*: (.*)",
                                 out):
        said[name] = verdict.match(rest).groups()
    rec = re.search(r"Recommendation: (.+?) — .*?\((P99 .*)\)\.$", out, re.M)
    said[rec.group(1)] = verdict.match(rec.group(2)).groups()
    assert {"queueing model", "as deployed"} <= set(said), out
    for name, (p99, meets, target, cold, cost) in said.items():
        row = table[name]
        assert (p99, cold, cost) == (row["P99 s"], row["cold"], row["cost $"]), (name, row)
        assert (meets == "meets") == (row["SLO"] == "yes") and float(target) == slo
    assert table[rec.group(1)]["recommended"]
    observed = re.search(r"Observed: ([\d.,]+) pod-hours billed, \$([\d.,]+);.* saved "
                         r"([\d.]+%)", out)
    row = table["observed"]
    assert observed.groups() == (row["pod-h"], row["cost $"], row["saved vs always-on"]), row
    # The model's own estimate is said to be one, and claims no P99 or cold share of its own.
    model = next(line for line in out.splitlines() if line.startswith("Queueing model"))
    assert "no cold starts" in model and "cold" not in model.replace("no cold starts", "")


def _plotly_figures(html: str) -> list[tuple[list, dict]]:
    """(data, layout) of every figure the HTML report draws."""
    decoder, figs = json.JSONDecoder(), []
    for match in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*", html):
        data, end = decoder.raw_decode(html, match.end())
        layout, _ = decoder.raw_decode(html, html.index("{", end))
        figs.append((data, layout))
    return figs


def _values(array) -> list[float]:
    """A trace's numbers, whether plotly wrote a list or a typed array ({dtype, bdata})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return [float(x) for x in array]


def assert_latency_axis_spans_the_data(html: str, slo: float) -> None:
    """The response-time figure's log axis runs from about the fastest to about the slowest
    replayed response (and the SLO), not to 10^90 s."""
    figs = _plotly_figures(html)
    data, layout = next((d, lay) for d, lay in figs
                        if "Response time" in str(lay.get("title", "")))
    axis = layout["xaxis"]
    assert axis["type"] == "log"
    lo, hi = (10**v for v in axis["range"])
    xs = [x for trace in data for x in _values(trace["x"])]
    assert xs and lo <= min(xs) and max(xs) <= hi
    assert min(xs) / lo < 2 and hi / max(xs) < 2  # no squeeze: at most a factor 2 of margin
    assert slo in xs and len(data) >= 3
    assert not layout.get("shapes")  # a shape's x on a log axis is log10: none is drawn


def test_capacity_command_refusals_are_one_sentence(twin_history, capsys) -> None:
    rc = main(["capacity", "--prometheus-url", twin_history.url, "--service", "nope",
               "--range", "6h", "--end", _iso(twin_history.end)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "nope" in err
    rc = main(["capacity", "--prometheus-url", twin_history.url, "--service", SERVICE,
               "--range", "six hours"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "is not a duration" in err


def test_notebook_runs_top_to_bottom_against_the_history(twin_history, tmp_path,
                                                        monkeypatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    env = {"SDOBS_PROMETHEUS_URL": twin_history.url, "SDOBS_CAPACITY_RANGE": "6h",
           "SDOBS_CAPACITY_END": _iso(twin_history.end), "SDOBS_CAPACITY_SLO_P99": "60"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "commit the notebook without outputs"
    client = NotebookClient(nb, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError when any cell fails
    nbformat.write(nb, tmp_path / "executed.ipynb")
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error"
            if output.get("output_type") == "stream":
                texts.append(output["text"])
            for mime, data in output.get("data", {}).items():
                if mime in ("text/plain", "text/html", "text/markdown"):
                    texts.append(data if isinstance(data, str) else "".join(data))
    text = "\n".join(texts)
    assert "opentelemetry dialect" in text  # detected (both dialects are in the history)
    for column in ("P50 s", "P99 s", "cold", "cost $", "saved vs always-on"):
        assert column in text
    assert "as deployed" in text and "observed" in text
    assert "Knative annotations for the recommendation" in text
    assert "autoscaling.knative.dev/" in text
    plots = [o for c in nb.cells for o in c.get("outputs", [])
             if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) >= 6
    assert os.environ["SDOBS_CAPACITY_RANGE"] == "6h"


def _execute(monkeypatch, tmp_path, env: dict[str, str]):
    import nbformat
    from nbclient import NotebookClient

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError when any cell fails
    return nb


def _streams(nb) -> str:
    return "".join(o["text"] for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")


def test_notebook_on_the_demo_day_is_rendered_under_docs(demo_day, tmp_path,
                                                         monkeypatch) -> None:
    """The notebook with its own defaults (24 h, P99 ≤ 90 s) on the demo's day of the
    reference service, kept as docs/capacity-analysis.html; its summary agrees with its table."""
    prom, end = demo_day
    for key in [k for k in os.environ if k.startswith("SDOBS_CAPACITY_")]:
        monkeypatch.delenv(key)
    nb = _execute(monkeypatch, tmp_path, {"SDOBS_PROMETHEUS_URL": prom.url,
                                          "SDOBS_CAPACITY_END": _iso(end)})
    text = _streams(nb)
    assert "opencensus dialect" in text and "over 24.0 h" in text
    assert_header_agrees_with_table(text, slo=90)
    plots = [o for c in nb.cells for o in c.get("outputs", [])
             if "application/vnd.plotly.v1+json" in o.get("data", {})]
    latency = next(o["data"]["application/vnd.plotly.v1+json"] for o in plots
                   if "Response time" in str(o["data"]["application/vnd.plotly.v1+json"]
                                              ["layout"].get("title")))
    html_like = f'Plotly.newPlot("x", {json.dumps(latency["data"])}, ' \
                f'{json.dumps(latency["layout"])})'
    assert_latency_axis_spans_the_data(html_like, slo=90)
    render(nb, RENDERED, plots=len(plots))


def render(nb, path: Path, *, plots: int) -> None:
    """Keep the executed notebook readable without running it: HTML with its outputs and
    figures (plotly.js inline, from the notebook's first figure), committed under docs/."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    assert body.count('class="plotly-graph-div"') == plots
    assert "Knative annotations for the recommendation" in body and "Traceback" not in body
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if _unchanging(old) != _unchanging(body):  # the same run renders the same page
        path.write_text(body, encoding="utf-8")


def _unchanging(html: str) -> str:
    """The rendered page without what differs from run to run: plotly's random element ids
    and the test Prometheus' free port."""
    html = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "id", html)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:port", html)
