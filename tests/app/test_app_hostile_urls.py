"""Hostile URLs (issue 16): every callback that reads the URL answers, with a clear message.

``?p=²``, ``?p=`` + 5,000 digits and more than 200 query parameters made every callback answer
500; the app runs here against a Prometheus port where nothing listens (the pages then show
their outage banner, which is the app's normal answer), over Dash's real HTTP endpoints.
"""

from __future__ import annotations

import json

import pytest
from test_app_callbacks import dependencies, outputs_of

from sdobs.app import create_app
from sdobs.prom.harness import free_port

HOSTILE = {
    "superscript page": "?p=%C2%B2",
    "5,000 digit page": "?p=" + "9" * 5000,
    "201 parameters": "?" + "&".join(f"x{i}=1" for i in range(201)),
    "10,000 parameters": "?" + "&".join(["ns=default"] * 10_000),
    "name with newline": "?ns=default%0A&service=svc%0A",
    "arabic digits page": "?p=%D9%A3",
}


@pytest.fixture(scope="module")
def client():
    app = create_app(f"http://127.0.0.1:{free_port()}", cache_seconds=0, timeout=2)
    yield app.server.test_client()
    app.sdobs.source.close()


@pytest.mark.parametrize("search", HOSTILE.values(), ids=HOSTILE.keys())
def test_every_url_callback_answers(client, search: str) -> None:
    reads_url = [d for d in dependencies(client)
                 if any(i["id"] == "url" for i in d["inputs"] + d["state"])]
    assert len(reads_url) >= 5
    for dep in reads_url:
        def value(i: dict) -> object:
            if (i["id"], i["property"]) == ("url", "search"):
                return search
            if (i["id"], i["property"]) == ("url", "pathname"):
                return "/service"
            return None

        outs = outputs_of(dep["output"])
        body = {"output": dep["output"],
                "outputs": outs if dep["output"].startswith("..") else outs[0],
                "inputs": [{**i, "value": value(i)} for i in dep["inputs"]],
                "state": [{**s, "value": value(s)} for s in dep["state"]],
                "changedPropIds": ["url.search"]}
        resp = client.post("/_dash-update-component", json=body)
        assert resp.status_code in (200, 204), (dep["output"], resp.data[:300])


@pytest.mark.parametrize("search, words", [
    (HOSTILE["superscript page"], "ignored p='²'"),
    (HOSTILE["5,000 digit page"], "ignored p='9999"),
    (HOSTILE["201 parameters"], "ignored 1 URL parameters after the first 200"),
    (HOSTILE["name with newline"], "ignored ns='default\\\\n'"),
])
def test_the_page_says_what_was_ignored(client, search: str, words: str) -> None:
    dep = next(d for d in dependencies(client) if "url-problems.children" in d["output"])
    body = {"output": dep["output"], "outputs": outputs_of(dep["output"]),
            "inputs": [{**i, "value": search if i["id"] == "url" else None}
                       for i in dep["inputs"]],
            "state": [{**s, "value": None} for s in dep["state"]],
            "changedPropIds": ["url.search"]}
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200
    problems = json.dumps(resp.get_json()["response"]["url-problems"], ensure_ascii=False)
    assert words in problems, problems
