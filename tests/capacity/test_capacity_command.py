"""``sdobs capacity`` and the executed notebook, against a real Prometheus holding twin history."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from capacity_reference import SERVICE

from sdobs.cli import main

pytestmark = pytest.mark.prometheus
NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "capacity-analysis.ipynb"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def test_capacity_command_prints_a_recommendation_and_writes_the_report(
        twin_history, tmp_path, capsys) -> None:  # fmt: skip
    prices = tmp_path / "prices.csv"
    prices.write_text("spec,hourly_usd\necs.gn5-c4g1.xlarge,2.0\n")
    html = tmp_path / "report.html"
    rc = main(["capacity", "--prometheus-url", twin_history.url, "--service", SERVICE,
               "--range", "6h", "--end", _iso(twin_history.end), "--slo-p99", "60",
               "--prices", str(prices), "--html", str(html)])  # fmt: skip
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


def test_capacity_command_refusals_are_one_sentence(twin_history, capsys) -> None:
    rc = main(["capacity", "--prometheus-url", twin_history.url, "--service", "nope",
               "--range", "6h", "--end", _iso(twin_history.end)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "nope" in err
    rc = main(["capacity", "--prometheus-url", twin_history.url, "--service", SERVICE,
               "--range", "six hours"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "is not a duration" in err


def test_notebook_runs_top_to_bottom_against_the_history(twin_history, tmp_path,
                                                        monkeypatch) -> None:  # fmt: skip
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
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
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
             if "application/vnd.plotly.v1+json" in o.get("data", {})]  # fmt: skip
    assert len(plots) >= 6
    assert os.environ["SDOBS_CAPACITY_RANGE"] == "6h"
