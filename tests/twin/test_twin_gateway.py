"""The live twin's gateway in-process: the A1111 API, affinity, bad input, disconnects, bursts."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import time
import tracemalloc
from pathlib import Path

import pytest
from eventually import eventually

from sdobs.sim.live.twin import LiveTwin, TwinThread
from sdobs.sim.manifest import load_files

MANIFEST = """apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: knative-sd-demo
  annotations:
    serving.knative.dev.alibabacloud/affinity: "cookie"
    serving.knative.dev.alibabacloud/cookie-name: "sd"
    serving.knative.dev.alibabacloud/cookie-timeout: "1800"
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "3"
        autoscaling.knative.dev/max-scale: "3"
        twin.sdobs.dev/cold-start: "1s"
        k8s.aliyun.com/eci-use-specs: ecs.gn7i-c8g1.2xlarge
    spec:
      containerConcurrency: 1
      timeoutSeconds: 3
      containers: [{name: stable-diffusion, image: sd}]
"""


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("twin") / "svc.yaml"
    path.write_text(MANIFEST)
    services, _ = load_files([Path(path)])
    runner = TwinThread(LiveTwin(services))
    live = runner.start()
    time.sleep(0.2)
    yield runner, live
    runner.stop()


def request(live: LiveTwin, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None, host: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", live.gateway.port, timeout=30)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if host:
        hdrs["Host"] = host
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


TXT2IMG = "/services/default/knative-sd-demo/sdapi/v1/txt2img"
SMALL = {"prompt": "a lighthouse", "steps": 2, "width": 128, "height": 128, "seed": 7}


def test_txt2img_answers_in_the_webui_shape_by_host_and_by_path(twin) -> None:
    _, live = twin
    ways = ((TXT2IMG, None), ("/sdapi/v1/txt2img", "knative-sd-demo.default.example.com"))
    for path, host in ways:
        status, headers, data = request(live, "POST", path, json.dumps(SMALL).encode(), host=host)
        assert status == 200, data[:200]
        body = json.loads(data)
        png = base64.b64decode(body["images"][0])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert body["parameters"]["steps"] == 2 and body["parameters"]["sampler_index"] == "Euler"
        info = json.loads(body["info"])
        assert info["all_seeds"] == [7] and info["seed"] == 7
        assert float(headers["X-Process-Time"]) > 0
    again = json.loads(request(live, "POST", TXT2IMG, json.dumps(SMALL).encode())[2])
    assert again["images"] == body["images"]  # the same prompt and seed: the same picture
    other = json.loads(request(live, "POST", TXT2IMG, json.dumps({**SMALL, "seed": 8}).encode())[2])
    assert other["images"] != body["images"]
    batch = json.loads(request(live, "POST", TXT2IMG, json.dumps(
        {**SMALL, "batch_size": 2, "n_iter": 2}).encode())[2])
    assert len(batch["images"]) == 4


@pytest.mark.parametrize(("body", "status", "check"), [
    # FastAPI 0.94 + pydantic v1, as the WebUI pins them (issue 17; v2's json_invalid and
    # model_attributes_type were the wrong generation)
    (b"{not json", 422, lambda b: b["detail"][0]["type"] == "value_error.jsondecode"),
    (b'{"steps": "many"}', 422, lambda b: b["detail"][0]["loc"] == ["body", "steps"]),
    (b'[1, 2]', 422, lambda b: b["detail"][0]["type"] == "type_error.dict"),
    (b'{"sampler_name": "Nope"}', 400, lambda b: b["detail"] == "Sampler not found"),
    (b'{"width": 4096, "height": 4096, "steps": 1}', 500,
     lambda b: b["error"] == "OutOfMemoryError"),
])
def test_bad_requests_get_the_webui_error_shapes(twin, body: bytes, status: int, check) -> None:
    _, live = twin
    got, _, data = request(live, "POST", TXT2IMG, body)
    assert got == status and check(json.loads(data)), data[:200]


def test_other_endpoints_unknown_services_and_oversized_bodies(twin) -> None:
    _, live = twin
    base = "/services/default/knative-sd-demo"
    assert json.loads(request(live, "GET", f"{base}/internal/ping")[2]) == {}
    options = json.loads(request(live, "GET", f"{base}/sdapi/v1/options")[2])
    assert options["sd_model_checkpoint"]
    models = json.loads(request(live, "GET", f"{base}/sdapi/v1/sd-models")[2])
    assert models[0]["model_name"]
    progress = json.loads(request(live, "GET", f"{base}/sdapi/v1/progress")[2])
    assert {"progress", "eta_relative", "state", "current_image"} <= set(progress)
    assert request(live, "GET", f"{base}/sdapi/v1/nothing")[0] == 404
    assert request(live, "GET", TXT2IMG)[0] == 405
    status, _, data = request(live, "POST", "/sdapi/v1/txt2img", b"{}",
                              host="nope.default.example.com")
    assert status == 404 and b"no Knative Service" in data
    assert request(live, "POST", TXT2IMG, b"{" + b" " * 400_000 + b"}")[0] == 413


def test_cookie_affinity_keeps_a_client_on_one_pod(twin) -> None:
    runner, live = twin
    status, headers, _ = request(live, "POST", TXT2IMG, json.dumps(SMALL).encode())
    assert status == 200
    cookie = headers["Set-Cookie"].split(";")[0]
    assert cookie.startswith("sd=") and "Max-Age=1800" in headers["Set-Cookie"]
    svc = live.services[("default", "knative-sd-demo")]
    before = runner.call(lambda: {p: sum(h.n for h in s.outer.values())
                                  for p, s in svc.stats.items()})
    for _ in range(6):
        status, headers, _ = request(live, "POST", TXT2IMG, json.dumps(SMALL).encode(),
                                     headers={"Cookie": cookie})
        assert status == 200 and headers["Set-Cookie"].split(";")[0] == cookie
    after = runner.call(lambda: {p: sum(h.n for h in s.outer.values())
                                 for p, s in svc.stats.items()})
    grown = {p: after[p] - before.get(p, 0) for p in after if after[p] != before.get(p, 0)}
    assert list(grown.values()) == [6], grown  # all six on one pod, while three are up


def test_client_disconnect_frees_the_pod_slot(twin) -> None:
    runner, live = twin
    svc = live.services[("default", "knative-sd-demo")]
    sock = socket.create_connection(("127.0.0.1", live.gateway.port))
    body = json.dumps({**SMALL, "steps": 150}).encode()  # ~10 s on an A10
    sock.sendall(b"POST " + TXT2IMG.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body)

    def active() -> int:
        return runner.call(lambda: sum(p.active for r in svc.revs for p in r.pods))

    eventually(active, timeout=5, interval=0.05, what="a pod slot taken")
    sock.close()
    eventually(active, until=lambda n: n == 0, timeout=5, interval=0.05,
               what="the slot released")


def test_a_burst_of_500_gets_answers_with_bounded_memory(twin) -> None:
    _, live = twin
    body = json.dumps({**SMALL, "steps": 3}).encode()
    head = (f"POST {TXT2IMG} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.gateway.port)
        writer.write(head)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        return int(data.split(b" ")[1])

    async def burst() -> list[int]:
        return await asyncio.gather(*[one() for _ in range(500)])

    tracemalloc.start()
    codes = asyncio.run(burst())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Three pods, one request each at a time, 3 s timeout: the rest wait in the activator
    # and get Knative's 504 when their time is up; nobody is left without an answer.
    assert len(codes) == 500 and set(codes) <= {200, 504}
    assert codes.count(200) >= 3 and codes.count(504) >= 250
    assert peak < 64 * 2**20  # Python allocations of the whole process: clients and twin
    # The twin is alive and its slots are free (the GPUs still work off what A1111 accepted,
    # as the real WebUI does after its clients gave up).
    ping = "/services/default/knative-sd-demo/internal/ping"
    assert request(live, "GET", ping)[:1] == (200,)


def test_json_nested_too_deep_is_the_webuis_parse_error_and_is_counted(twin) -> None:
    """json.loads raises RecursionError, not JSONDecodeError, on 100,000 nested arrays; FastAPI's
    request handler (fastapi/routing.py get_request_handler) turns any other parse exception
    into HTTPException(400, "There was an error parsing the body"), which the WebUI's
    api_middleware handler wraps in its error body. It is a request through Knative all the
    same: queue-proxy counts it."""
    runner, live = twin
    svc = live.services[("default", "knative-sd-demo")]
    before = runner.call(lambda: len(svc.requests))
    status, _, data = request(live, "POST", TXT2IMG, b"[" * 100_000 + b"]" * 100_000)
    assert status == 400
    assert json.loads(data) == {"error": "HTTPException",
                                "detail": "There was an error parsing the body", "body": "",
                                "errors": "400: There was an error parsing the body"}
    codes = runner.call(lambda: [r.code for r in svc.requests[before:]])
    assert codes == [400]


def test_the_gateway_404_does_not_echo_host_or_path_as_markup(twin) -> None:
    _, live = twin
    status, headers, data = request(live, "GET", "/<script>alert(1)</script>%22", None,
                                    host="<b>evil</b>.example.com")
    assert status == 404
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    echoed = data.decode().split("; use Host")[0]
    assert "<" not in echoed and ">" not in echoed and '"' not in echoed
    assert "%3Cscript%3Ealert%281%29%3C/script%3E%2522" in echoed and "%3Cb%3Eevil" in echoed
