"""Every injected failure is classified by kind, the run goes on, and the summary is complete."""

from __future__ import annotations

import socket

import pytest

from sdobs.loadtest import LoadTestConfig, Txt2ImgOptions, run_loadtest
from sdobs.loadtest.httpclient import CookieJar

EXPECTED = {
    "503": ("http_503", 503),
    "504": ("http_504", 504),
    "404": ("http_404", 404),
    "slow": ("timeout", 0),
    "badjson": ("bad_json", 200),
    "notjsonhttp": ("bad_json", 200),
    "badb64": ("bad_base64", 200),
    "noimages": ("bad_response", 200),
    "truncated": ("truncated", 200),
    "reset": ("connection_reset", 0),
}


@pytest.mark.parametrize("behaviour", sorted(EXPECTED))
def test_each_failure_is_classified(fake_a1111, behaviour: str) -> None:
    server = fake_a1111(slow_s=2.0)
    kind, status = EXPECTED[behaviour]
    s = run_loadtest(
        LoadTestConfig(url=f"{server.url}/x/{behaviour}", concurrency=2, requests=4, timeout_s=0.4)
    )
    assert s.requests == 4 and s.success == 0.0
    assert s.error_kinds == {kind: 4}
    assert s.status_codes == {str(status): 4}
    assert s.latencies is not None and s.latencies.count == 4
    assert s.stop_reason == "completed"
    assert "Errors" in s.table()


@pytest.mark.parametrize("behaviour", ["chunked", "eof", "idleclose"])
def test_other_framings_succeed(fake_a1111, behaviour: str) -> None:
    server = fake_a1111()
    s = run_loadtest(LoadTestConfig(url=f"{server.url}/x/{behaviour}", concurrency=2, requests=6))
    assert s.success == 1.0 and s.images == 6, s.errors
    if behaviour == "idleclose":  # closed after every answer: the stale connection is retried
        assert server.count == 6


def test_a_mixed_run_keeps_going_and_never_leaks_the_prompt(fake_a1111, tmp_path) -> None:
    server = fake_a1111(slow_s=1.5)
    prompts = ("ok", "503", "504", "badjson", "badb64", "truncated", "reset", "slow", "chunked")
    config = LoadTestConfig(
        url=server.url,
        concurrency=3,
        requests=27,
        timeout_s=0.4,
        payload=Txt2ImgOptions(prompts=prompts),
    )
    s = run_loadtest(config, records=tmp_path / "r.jsonl", summary=tmp_path / "s.json")
    assert s.requests == 27
    assert s.error_kinds == {
        "http_503": 3,
        "http_504": 3,
        "bad_json": 3,
        "bad_base64": 3,
        "truncated": 3,
        "connection_reset": 3,
        "timeout": 3,
    }
    assert s.successes == 6 and s.images == 6
    text = (tmp_path / "r.jsonl").read_text() + (tmp_path / "s.json").read_text() + s.table()
    for prompt in ("badjson", "badb64", "chunked"):
        assert prompt not in text.replace("bad_json", "").replace("bad_base64", "")


def test_connection_refused() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    s = run_loadtest(LoadTestConfig(url=f"http://127.0.0.1:{port}", concurrency=2, requests=5))
    assert s.error_kinds == {"connection_refused": 5} and s.status_codes == {"0": 5}
    assert s.success == 0.0 and s.requests == 5


def test_dns_failure() -> None:
    s = run_loadtest(
        LoadTestConfig(
            url="http://sdobs-no-such-host.invalid", concurrency=1, requests=2, connect_timeout_s=10
        )
    )
    assert s.requests == 2
    assert set(s.error_kinds) <= {"dns", "connect_timeout"} and sum(s.error_kinds.values()) == 2


def test_connect_timeout_is_its_own_kind() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:  # fill the accept backlog so further connects hang in SYN
        for _ in range(8):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(listener.getsockname())
            fillers.append(f)
        port = listener.getsockname()[1]
        s = run_loadtest(
            LoadTestConfig(
                url=f"http://127.0.0.1:{port}",
                concurrency=1,
                requests=1,
                connect_timeout_s=0.3,
                timeout_s=0.6,
            )
        )
    finally:
        for f in fillers:
            f.close()
        listener.close()
    assert s.requests == 1 and set(s.error_kinds) <= {"connect_timeout", "timeout"}


def test_cookie_jar_deletes_on_max_age_zero() -> None:
    jar = CookieJar()
    jar.absorb(["sd=abc; Path=/; Max-Age=1800", "other=1"])
    assert jar.header() == b"Cookie: sd=abc; other=1\r\n"
    jar.absorb(["sd=; Max-Age=0"])
    assert jar.header() == b"Cookie: other=1\r\n"


def test_error_bodies_never_bring_the_prompt_along(fake_a1111, tmp_path) -> None:
    server = fake_a1111()  # its 503 body echoes the prompt, as A1111's error "body" field can
    config = LoadTestConfig(
        url=f"{server.url}/x/503",
        concurrency=1,
        requests=2,
        payload=Txt2ImgOptions(prompts=("top secret prompt",)),
    )
    s = run_loadtest(config, records=tmp_path / "r.jsonl", summary=tmp_path / "s.json")
    assert s.errors == ["http_503: HTTPException"]
    for text in ((tmp_path / "r.jsonl").read_text(), (tmp_path / "s.json").read_text(), s.table()):
        assert "secret" not in text


def _self_signed(tmp_path):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def test_https_with_and_without_verification(fake_a1111, tmp_path) -> None:
    server = fake_a1111(tls=_self_signed(tmp_path))
    assert server.url.startswith("https://")
    s = run_loadtest(LoadTestConfig(url=server.url, concurrency=2, requests=4, insecure=True))
    assert s.success == 1.0 and s.images == 4
    s = run_loadtest(LoadTestConfig(url=server.url, concurrency=1, requests=2))
    assert s.error_kinds == {"tls": 2}  # a self-signed certificate fails verification
