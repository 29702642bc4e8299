"""The service page in real Chromium on the SD exporter proof scenario (30 s generations on
OpenTelemetry-era Knative): it shows the exporter's P99 and Knative's "> 10 s" side by side,
names the source, and the phase cards; a service without the exporter falls back, labelled."""

from __future__ import annotations

import numpy as np
import pytest
import sd_proof
from browser import chromium

pytestmark = pytest.mark.prometheus



@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    from sdobs.app import serve

    prom, start, te, log = sd_proof.build(tmp_path_factory.mktemp("sd-browser"))
    prom.start()
    handle = serve(prom.url, cache_seconds=0)
    try:
        yield handle, start, te, log
    finally:
        handle.stop()
        prom.stop()


def test_service_page_shows_exporter_and_knative_latency(served) -> None:
    handle, start, te, log = served
    search = f"?ns={sd_proof.NS}&service={sd_proof.SVC}&from={start}&to={te}"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(f"{handle.url}/service{search}")
        page.locator("#service-status").filter(has_text="queries").wait_for()
        card = lambda id_: page.locator(f"#{id_} .card-value").inner_text()  # noqa: E731
        assert card("card-latency-source") == "SD exporter"
        assert card("card-p99-knative") == "> 10 s"
        assert "last finite bucket bound is 10 s" in \
            page.locator("#card-p99-knative").get_attribute("title")
        r = log.requests
        done = (r["t_app"] >= 0) & (r["t_app_done"] >= 0)
        truth = sd_proof.true_quantile(0.99, (r["t_app_done"] - r["t_app"])[done])
        p99 = float(card("card-p99").removesuffix(" s"))
        assert p99 == pytest.approx(truth, rel=0.05)
        gen = float(card("card-sd-generation").removesuffix(" s"))
        assert gen == pytest.approx(np.mean((r["gpu_end"] - r["gpu_start"])[done]), rel=0.05)
        names = page.evaluate(
            "() => document.querySelector('#service-latency .js-plotly-plot')"
            ".data.map(t => t.name)")
        assert "P99 (SD exporter)" in names and "P99 (Knative queue-proxy)" in names
        # Another namespace holds no exporter series: Knative's numbers, labelled as such.
        page.goto(f"{handle.url}/service?ns=elsewhere&service=none&from={start}&to={te}")
        page.locator("#service-status").filter(has_text="queries").wait_for()
        assert card("card-latency-source") == "Knative queue-proxy"
