"""Callbacks called directly and through the Flask test client, against real Prometheus data."""

from __future__ import annotations

import base64
import json

import app_traffic as at
import knative_traffic as kt
import pytest

from sdobs.app import create_app
from sdobs.app.app import CUSTOM, apply_control, control_values
from sdobs.app.pages.common import by_id
from sdobs.app.state import ViewState, format_time

pytestmark = pytest.mark.prometheus


@pytest.fixture
def app(known):
    app = create_app(known.url, cache_seconds=0)
    yield app
    app.sdobs.source.close()


def graphs(answer: dict) -> dict[str, dict]:
    return {k: v for k, v in answer.items() if k.endswith(".figure")}


def text_of(component) -> str:
    """Every string inside a Dash component tree (or its JSON form)."""
    from plotly.io.json import to_json_plotly

    return json.dumps(json.loads(to_json_plotly(component)), ensure_ascii=False)


# -- called directly ------------------------------------------------------------------------
def test_service_page_callback(known, app) -> None:
    cb = app.sdobs.callbacks["service"]
    answer = by_id(cb, cb(known.search(), 0, {}))
    figs = graphs(answer)
    assert len(figs) == 8
    for key, fig in figs.items():
        assert fig["data"], key  # every graph has data for the reference service
    assert {t["name"] for t in figs["service-latency.figure"]["data"]} == {"P50", "P90", "P95",
                                                                          "P99"}
    assert {t["name"] for t in figs["service-by-revision.figure"]["data"]} == {kt.REV_A, kt.REV_B}
    cards = text_of(answer["service-cards.children"])
    assert "0.215 req/s" in cards and "97.67 %" in cards and "129" in cards
    assert answer["service-banner.children"] is None
    assert answer["service-meta.data"]["ok_at"]
    assert (answer["compare-a.value"], answer["compare-b.value"]) == (kt.REV_A, kt.REV_B)
    compare = text_of(answer["compare-body.children"])
    assert "84.50 %" in compare and "15.50 %" in compare  # traffic shares 109/129, 20/129
    assert f"{known.dialect} · 34 queries" in answer["service-status.children"]  # + exact count


def test_other_pages_callbacks(known, app) -> None:
    scaling = app.sdobs.callbacks["scaling"]
    answer = by_id(scaling, scaling(known.search(at.BURST_SVC, whole=True), 0, {}))
    pods = answer["scaling-pods.figure"]["data"]
    assert {t["name"] for t in pods} >= {"scale-up", "scale-down", "scale-to-zero"}
    assert "scale-to-zero" in text_of(answer["scaling-events.children"])
    ref = by_id(scaling, scaling(known.search(), 0, {}))
    for key, fig in graphs(ref).items():
        assert fig["data"], key
    fleet = app.sdobs.callbacks["fleet"]
    answer = by_id(fleet, fleet(known.search(None), 0, {}))
    table = text_of(answer["fleet-body.children"])
    assert kt.SVC in table and "svc" in table and at.BURST_SVC in table
    assert f"/service?ns={kt.NS}&service={kt.SVC}" in table


def test_gpu_page_callback(known, app) -> None:
    from sdobs.app import data

    if not data.has_gpu(app.sdobs.source.catalog()):
        pytest.skip("the catalog has no GPU signals yet")
    gpu = app.sdobs.callbacks["gpu"]
    answer = by_id(gpu, gpu(known.search(), 0, {}))
    for key, fig in graphs(answer).items():
        assert fig["data"], key
    assert "50.00 %" in text_of(answer["gpu-cards.children"])
    assert "sdobs (3)" in text_of(answer["gpu-cards.children"])  # which exporter: all sdobs


def test_empty_range_says_so(known, app) -> None:
    cb = app.sdobs.callbacks["service"]
    search = f"?ns={kt.NS}&service={kt.SVC}&from={known.t0 - 7200}&to={known.t0 - 3600}"
    answer = by_id(cb, cb(search, 0, {}))
    for key, fig in graphs(answer).items():
        assert fig["data"] == [], key
        assert fig["layout"]["annotations"][0]["text"].startswith("no "), key
        assert fig["layout"]["annotations"][0]["text"].endswith(" in this range"), key
    assert answer["service-banner.children"] is None
    assert "no requests in this range" in text_of(answer["compare-body.children"])


def test_controls_write_the_url() -> None:
    now = 1_800_000_000.0
    state = ViewState(namespace="default", service="svc", revisions=("svc-00001",), range="6h")
    problems: list[str] = []
    values = control_values(state)
    # A namespace change clears what belonged to the old one.
    new = apply_control(state, "ctl-ns", {**values, "ctl-ns": "team-b"}, now, problems)
    assert (new.namespace, new.service, new.revisions) == ("team-b", None, ())
    # "custom" starts from the preset's range; editing from/to keeps it custom.
    new = apply_control(state, "ctl-range", {**values, "ctl-range": CUSTOM}, now, problems)
    assert (new.range, new.start, new.end) == (CUSTOM, now - 6 * 3600, now)
    edited = {**control_values(new), "ctl-from": format_time(now - 600)}
    new = apply_control(new, "ctl-from", edited, now, problems)
    assert (new.start, new.end) == (now - 600, now)
    bad = apply_control(new, "ctl-to", {**edited, "ctl-to": "soon"}, now, problems)
    assert bad == new and problems and "is not a time" in problems[0]


# -- through the Flask test client ----------------------------------------------------------
def dependencies(client) -> list[dict]:
    resp = client.get("/_dash-dependencies")
    assert resp.status_code == 200
    return resp.get_json()


def outputs_of(spec: str) -> list[dict]:
    parts = spec.strip(".").split("...") if spec.startswith("..") else [spec]
    out = []
    for part in parts:
        cid, prop = part.rsplit(".", 1)
        out.append({"id": cid, "property": prop.split("@")[0]})
    return out


def update(client, output_contains: str, inputs: dict, state: dict | None = None,
           changed: list[str] | None = None, headers: dict | None = None) -> dict:
    """POST /_dash-update-component for the callback whose output names ``output_contains``."""
    dep = next(d for d in dependencies(client) if output_contains in d["output"])
    ins = [{"id": i["id"], "property": i["property"],
            "value": inputs.get(f"{i['id']}.{i['property']}")} for i in dep["inputs"]]
    sts = [{"id": s["id"], "property": s["property"],
            "value": (state or {}).get(f"{s['id']}.{s['property']}")} for s in dep["state"]]
    body = {"output": dep["output"], "outputs": outputs_of(dep["output"]), "inputs": ins,
            "state": sts, "changedPropIds": changed or list(inputs)}
    resp = client.post("/_dash-update-component", json=body, headers=headers or {})
    assert resp.status_code in (200, 204), resp.data[:500]
    return resp.get_json() if resp.status_code == 200 else {}


def test_layout_and_dependencies(app) -> None:
    client = app.server.test_client()
    index = client.get("/")
    assert index.status_code == 200 and b"sdobs" in index.data
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    layout = client.get("/_dash-layout").get_json()
    assert "ctl-ns" in json.dumps(layout)
    outputs = " ".join(d["output"] for d in dependencies(client))
    for needle in ("page.children", "service-volume.figure", "scaling-pods.figure",
                   "gpu-allocated.figure", "fleet-body.children", "ctl-ns.options"):
        assert needle in outputs


def test_service_page_over_http(known, app) -> None:
    client = app.server.test_client()
    body = update(client, "service-volume.figure",
                  {"url.search": known.search(), "tick.n_intervals": 0},
                  {"service-meta.data": {}})
    resp = body["response"]
    for gid in ("service-volume", "service-success", "service-4xx", "service-5xx",
                "service-by-revision", "service-by-code", "service-latency", "service-pods"):
        assert resp[gid]["figure"]["data"], gid
    assert "0.215 req/s" in json.dumps(resp["service-cards"])


def test_routing_and_url_sync_over_http(known, app) -> None:
    client = app.server.test_client()
    page = update(client, "page.children", {"url.pathname": "/scaling"},
                  {"url.search": known.search()})
    assert "scaling-pods" in json.dumps(page["response"]["page"])
    missing = update(client, "page.children", {"url.pathname": "/nope"}, {"url.search": ""})
    assert "No such page" in json.dumps(missing["response"]["page"])
    # A control change writes the URL; the URL sets the controls and the selector options.
    inputs = {"url.search": known.search(), "ctl-ns.value": "team-b", "ctl-service.value": kt.SVC,
              "ctl-rev.value": [], "ctl-range.value": CUSTOM, "ctl-from.value": "",
              "ctl-to.value": "", "ctl-refresh.value": "off"}
    body = update(client, "url.search", inputs, changed=["ctl-ns.value"])
    search = body["response"]["url"]["search"]
    assert "ns=team-b" in search and "service=" not in search and "from=" in search
    body = update(client, "url.search", {**inputs, "url.search": search + "&refresh=10s"},
                  changed=["url.search"])
    resp = body["response"]
    assert resp["tick"] == {"interval": 10_000, "disabled": False}
    assert resp["ctl-service"]["value"] is None
    assert "/service?ns=team-b" in resp["nav-service"]["href"]
    opts = update(client, "ctl-ns.options...", {"url.search": known.search()})["response"]
    assert [o["value"] for o in opts["ctl-ns"]["options"]] == [kt.NS, "team-b"]
    assert [o["value"] for o in opts["ctl-rev"]["options"]] == [kt.REV_A, kt.REV_B]


def test_hostile_url_is_rejected_not_injected(known, app) -> None:
    client = app.server.test_client()
    start, end = known.window()
    hostile = "%22%7D%20or%20vector(1)%20%23"  # '"} or vector(1) #'
    search = f"?ns={kt.NS}&service=x{hostile}&rev=r{hostile}&from={start}&to={end}"
    inputs = {"url.search": search, "ctl-ns.value": None, "ctl-service.value": None,
              "ctl-rev.value": [], "ctl-range.value": "1h", "ctl-from.value": "",
              "ctl-to.value": "", "ctl-refresh.value": "off"}
    resp = update(client, "url.search", inputs, changed=["url.search"])["response"]
    problems = json.dumps(resp["url-problems"])
    assert "ignored service=" in problems and "ignored rev=" in problems
    assert resp.get("ctl-service", {}).get("value") in (None, "")  # not updated: stays empty
    assert resp["ctl-ns"]["value"] == kt.NS
    body = update(client, "service-volume.figure", {"url.search": search, "tick.n_intervals": 0},
                  {"service-meta.data": {}})["response"]
    # The hostile values were dropped: the page shows the namespace, nothing was injected.
    assert f"{(129 + 33) / 600:.3g} req/s" in json.dumps(body["service-cards"])


def test_basic_auth(known) -> None:
    app = create_app(known.url, auth=("ops", "s3cret pass"))
    client = app.server.test_client()
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/service"):
        resp = client.get(path)
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Basic realm=")
    bad = base64.b64encode(b"ops:wrong").decode()
    assert client.get("/", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    good = base64.b64encode(b"ops:s3cret pass").decode()
    assert client.get("/", headers={"Authorization": f"Basic {good}"}).status_code == 200
    app.sdobs.source.close()
