"""Upload against a local HTTP server that records requests and answers like Grafana's API.

No Grafana server can be installed from our package sources, so this checks the request shape,
headers and error handling against Grafana's documented API rather than a real Grafana.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml

from sdobs.cli import main
from sdobs.dashboards.generate import GENERATED, load_generated
from sdobs.dashboards.provisioning import configmap, dashboards_provider, datasource
from sdobs.dashboards.upload import GrafanaClient, UploadError, upload, upload_payload


class FakeGrafana:
    """Records every request; ``answers[(method, path)]`` = (status, body) overrides success."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: dict[tuple[str, str], tuple[int, dict]] = {}
        self.folders: set[str] = set()
        # Read-backs of uploads are kept apart, so the request lists above stay the writes.
        self.reads: list[dict] = []
        self.stored: dict[str, dict] = {}  # uid -> {"dashboard": ..., "meta": ...}
        self.redirects: dict[tuple[str, str], tuple[int, str]] = {}  # -> (status, Location)
        self.raw: dict[tuple[str, str], tuple[int, bytes]] = {}  # -> (status, body bytes)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = {"method": self.command, "path": self.path,
                        "headers": dict(self.headers), "body": json.loads(raw) if raw else None}
                key = (self.command, self.path)
                if key in fake.redirects:
                    fake.requests.append(seen)
                    status, where = fake.redirects[key]
                    self.send_response(status)
                    self.send_header("Location", where)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if key in fake.raw:
                    fake.requests.append(seen)
                    status, data = fake.raw[key]
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                reading = self.command == "GET" and self.path.startswith("/api/dashboards/uid/")
                (fake.reads if reading else fake.requests).append(seen)
                status, body = fake.route(self.command, self.path, seen["body"])
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        if (method, path) in self.answers:
            return self.answers[(method, path)]
        if method == "GET" and path.startswith("/api/folders/"):
            uid = path.rsplit("/", 1)[1]
            if uid in self.folders:
                return 200, {"uid": uid}
            return 404, {"message": "Folder not found"}
        if method == "POST" and path == "/api/folders":
            self.folders.add(body["uid"])
            return 200, {"uid": body["uid"], "title": body["title"]}
        if method == "POST" and path == "/api/dashboards/db":
            uid = body["dashboard"]["uid"]
            self.stored[uid] = {"dashboard": {**body["dashboard"], "version": 1},
                                "meta": {"folderUid": body.get("folderUid", "")}}
            return 200, {"id": 1, "uid": uid, "url": f"/d/{uid}/x", "status": "success",
                         "version": 1}
        if method == "GET" and path.startswith("/api/dashboards/uid/"):
            uid = path.rsplit("/", 1)[1]
            if uid in self.stored:
                return 200, self.stored[uid]
            return 404, {"message": "Dashboard not found"}
        return 404, {"message": "Not found"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def grafana():
    fake = FakeGrafana()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture(scope="module")
def dashboards():
    return load_generated(GENERATED / "opentelemetry")


def test_payload_shape_and_headers(grafana: FakeGrafana, dashboards) -> None:
    with GrafanaClient(grafana.url, token="glsa_secret") as client:
        done = upload(dashboards, client, folder_uid="sdobs", folder_title="sdobs dashboards")
    assert [d.uid for d in done] == [d["uid"] for d in dashboards]
    assert done[0].url == f"/d/{done[0].uid}/x" and done[0].version == 1
    get_folder, make_folder, *posts = grafana.requests
    assert (get_folder["method"], get_folder["path"]) == ("GET", "/api/folders/sdobs")
    assert make_folder["body"] == {"uid": "sdobs", "title": "sdobs dashboards"}
    assert len(posts) == 5  # fleet, fleet-recorded, gpu, scaling, service
    for req, dash in zip(posts, dashboards, strict=True):
        assert (req["method"], req["path"]) == ("POST", "/api/dashboards/db")
        assert req["headers"]["Authorization"] == "Bearer glsa_secret"
        assert req["headers"]["Content-Type"] == "application/json"
        assert req["headers"]["Accept"] == "application/json"
        body = req["body"]
        assert set(body) == {"dashboard", "overwrite", "folderUid", "message"}
        assert body["overwrite"] is True and body["folderUid"] == "sdobs"
        assert body["dashboard"] == dash and "id" not in body["dashboard"]


def test_existing_folder_is_not_recreated_and_basic_auth(grafana: FakeGrafana,
                                                         dashboards) -> None:
    grafana.folders.add("sdobs")
    with GrafanaClient(grafana.url, basic_auth=("admin", "pw")) as client:
        upload(dashboards[:1], client, folder_uid="sdobs", folder_title="sdobs",
               overwrite=False)
    assert [r["method"] for r in grafana.requests] == ["GET", "POST"]
    want = "Basic " + base64.b64encode(b"admin:pw").decode()
    assert grafana.requests[1]["headers"]["Authorization"] == want
    assert grafana.requests[1]["body"]["overwrite"] is False


@pytest.mark.parametrize("status, body, words", [
    (401, {"message": "Unauthorized"}, ["401", "token", "Unauthorized"]),
    (403, {"message": "Access denied"}, ["403", "Editor"]),
    (404, {"message": "Not found"}, ["404", "--grafana-url", "folder UID"]),
    (412, {"message": "A dashboard with the same name in the folder already exists",
           "status": "name-exists"}, ["412", "name-exists", "overwrite"]),
    (500, {"message": "database is locked"}, ["500", "database is locked"]),
])
def test_errors_are_one_clear_sentence(grafana: FakeGrafana, dashboards, status, body,
                                       words) -> None:
    grafana.answers[("POST", "/api/dashboards/db")] = (status, body)
    with GrafanaClient(grafana.url, token="t") as client, pytest.raises(UploadError) as err:
        upload(dashboards[:1], client)
    assert err.value.status == status
    for word in words:
        assert word in str(err.value)


def test_unreachable_and_bad_input() -> None:
    with GrafanaClient("http://127.0.0.1:9", timeout=2) as client, \
            pytest.raises(UploadError, match="cannot reach Grafana"):
        upload([{"uid": "a", "title": "a"}], client)
    with pytest.raises(UploadError, match="http://"):
        GrafanaClient("grafana:3000")
    with pytest.raises(UploadError, match="uid"):
        upload_payload({"title": "no uid"})
    with pytest.raises(UploadError, match="not both"):
        GrafanaClient("http://x", token="t", basic_auth=("a", "b"))


def test_cli_upload(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["dashboards", "upload", "--grafana-url", grafana.url, "--token", "tok",
                 "--folder", "sdobs", "--dialect", "opencensus"])
    assert code == 0
    assert len(grafana.requests) == 5
    assert all(r["body"]["dashboard"]["uid"].endswith("-oc") for r in grafana.requests)
    grafana.answers[("POST", "/api/dashboards/db")] = (401, {"message": "invalid API key"})
    assert main(["dashboards", "upload", "--grafana-url", grafana.url, "--token", "bad"]) == 2
    assert "401" in capsys.readouterr().err


def test_provisioning_and_configmaps(tmp_path: Path, dashboards,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    provider = dashboards_provider()["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/var/lib")
    ds = datasource("http://prom:9090")["datasources"][0]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prom:9090"
    cm = configmap(dashboards[0])
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    key = f"{dashboards[0]['uid']}.json"
    assert json.loads(cm["data"][key]) == dashboards[0]
    assert main(["dashboards", "configmap", "--dialect", "opentelemetry", "--namespace",
                 "obs"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert len(docs) == 5 and {d["metadata"]["namespace"] for d in docs} == {"obs"}
    for doc in docs:
        (name, text), = doc["data"].items()
        assert json.loads(text)["uid"] == name.removesuffix(".json")
    assert main(["dashboards", "provisioning", "--out", str(tmp_path)]) == 0
    loaded = yaml.safe_load((tmp_path / "dashboards" / "sdobs.yaml").read_text())
    assert loaded["apiVersion"] == 1 and loaded["providers"][0]["folder"] == "sdobs"
    assert (tmp_path / "datasources" / "sdobs.yaml").is_file()


def test_cli_generate_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboards", "generate", "--out", str(tmp_path), "--dialect",
                 "opencensus"]) == 0
    assert sorted(p.name for p in (tmp_path / "opencensus").iterdir()) == [
        "fleet-recorded.json", "fleet.json", "gpu.json", "scaling.json", "service.json"]
    assert main(["dashboards", "check", "--dir", str(tmp_path)]) == 0
    assert "5 dashboards, 0 problems" in capsys.readouterr().out
    assert main(["dashboards", "check", "--dir", str(tmp_path),
                 "--schema-dir", str(tmp_path / "none")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["dashboards", "generate", "--definitions", str(tmp_path)]) == 2


# -- issue 16: no false success, no credentials shown, no other API path --------------------
def test_a_redirect_is_an_error_not_an_upload(grafana: FakeGrafana, dashboards) -> None:
    """A 302 to any JSON 200 used to be reported 'uploaded'."""
    one = dashboards[0]
    grafana.redirects[("POST", "/api/dashboards/db")] = (302, "/login")
    grafana.answers[("GET", "/login")] = (200, {"uid": one["uid"], "status": "success",
                                                "version": 1, "url": "/d/x"})
    with GrafanaClient(grafana.url, token="t") as client, pytest.raises(UploadError) as err:
        upload([one], client)
    assert err.value.status == 302
    assert "redirect to /login" in str(err.value) and "--grafana-url" in str(err.value)
    assert [r["path"] for r in grafana.requests] == ["/api/dashboards/db"]  # /login not asked


def test_a_redirect_to_another_host_sends_nothing_there(grafana: FakeGrafana, dashboards) -> None:
    """A 307 to another host used to re-send the dashboard there without credentials."""
    other = FakeGrafana()
    try:
        where = f"{other.url}/api/dashboards/db"
        grafana.redirects[("POST", "/api/dashboards/db")] = (307, where)
        with GrafanaClient(grafana.url, token="glsa_secret") as client, \
                pytest.raises(UploadError) as err:
            upload(dashboards[:1], client)
        assert f"307, a redirect to {where}" in str(err.value)
        assert other.requests == [] and other.reads == []
    finally:
        other.close()


def test_every_upload_is_read_back(grafana: FakeGrafana, dashboards) -> None:
    with GrafanaClient(grafana.url, token="t") as client:
        done = upload(dashboards, client, folder_uid="sdobs")
    assert [r["path"] for r in grafana.reads] == [f"/api/dashboards/uid/{d.uid}" for d in done]
    assert all(r["headers"]["Authorization"] == "Bearer t" for r in grafana.reads)


@pytest.mark.parametrize("stored, words", [
    (None, ["404", "reading dashboard"]),  # the upload answered success but nothing is there
    ({"dashboard": {"uid": "UID", "version": 7}, "meta": {}}, ["version 7", "not confirmed"]),
    ({"dashboard": {"uid": "UID", "version": 1}, "meta": {"folderUid": "general"}},
     ["folder 'general'", "not 'sdobs'"]),
])
def test_a_read_back_that_disagrees_is_an_error(grafana: FakeGrafana, dashboards, stored,
                                                words) -> None:
    one = dashboards[0]
    path = f"/api/dashboards/uid/{one['uid']}"
    if stored is None:
        grafana.answers[("GET", path)] = (404, {"message": "Dashboard not found"})
    else:
        stored["dashboard"]["uid"] = one["uid"]
        grafana.answers[("GET", path)] = (200, stored)
    with GrafanaClient(grafana.url, token="t") as client, pytest.raises(UploadError) as err:
        upload([one], client, folder_uid="sdobs")
    for word in words:
        assert word in str(err.value)


def test_an_upload_answer_without_uid_and_version_is_not_success(grafana: FakeGrafana,
                                                                 dashboards) -> None:
    grafana.answers[("POST", "/api/dashboards/db")] = (200, {"status": "success"})
    with GrafanaClient(grafana.url, token="t") as client, \
            pytest.raises(UploadError, match="not confirmed"):
        upload(dashboards[:1], client)


@pytest.mark.parametrize("folder", [
    "../../admin/users?x=", "a/b", "sd obs", "x" * 41, "%2e%2e", "ü", "a#b", "", "sdobs\n",
])
def test_folder_uid_is_checked_before_any_request(grafana: FakeGrafana, dashboards,
                                                  folder: str) -> None:
    with GrafanaClient(grafana.url, token="t") as client:
        if folder == "":  # no folder: the dashboards go to Grafana's General folder
            upload(dashboards[:1], client, folder_uid=folder)
            return
        with pytest.raises(UploadError, match="is not a Grafana UID"):
            upload(dashboards[:1], client, folder_uid=folder, folder_title="t")
        with pytest.raises(UploadError, match="is not a Grafana UID"):
            client.ensure_folder(folder, "t")
    assert grafana.requests == []


def test_uid_path_segments_are_encoded(grafana: FakeGrafana) -> None:
    """Even a caller that skips the check cannot leave the segment: '/', '?', '%' are encoded."""
    from sdobs.dashboards import upload as up

    assert up._segment("../../admin/users?x=") == "..%2F..%2Fadmin%2Fusers%3Fx%3D"
    assert up.check_uid("sdobs-Fleet_1") == "sdobs-Fleet_1"


def test_credentials_in_the_url_are_never_shown(grafana: FakeGrafana, dashboards,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """userinfo becomes basic auth; messages and the CLI's output show neither it nor a token."""
    host = grafana.url.removeprefix("http://")
    with GrafanaClient(f"http://admin:hunter2@{host}") as client:
        upload(dashboards[:1], client)
    want = "Basic " + base64.b64encode(b"admin:hunter2").decode()
    assert grafana.requests[0]["headers"]["Authorization"] == want
    grafana.answers[("POST", "/api/dashboards/db")] = (500, {"message": "boom"})
    for url in (f"http://admin:hunter2@{host}", f"http://{host}/?token=hunter2",
                "http://admin:hunter2@127.0.0.1:9", "ftp://admin:hunter2@x"):
        code = main(["dashboards", "upload", "--grafana-url", url, "--timeout", "2"])
        out = capsys.readouterr()
        assert code == 2
        assert "hunter2" not in out.err + out.out, out.err
    grafana.answers.clear()
    assert main(["dashboards", "upload", "--grafana-url", f"http://admin:hunter2@{host}",
                 "--dialect", "opencensus"]) == 0
    out = capsys.readouterr()
    assert "hunter2" not in out.out + out.err and f"http://{host}/d/" in out.out


def test_grafana_error_body_is_short_and_without_escapes(grafana: FakeGrafana,
                                                          dashboards) -> None:
    noisy = "\x1b[31mdatabase\x1b[0m is locked\x1b]0;pwned\x07 " + "x" * 5000
    grafana.answers[("POST", "/api/dashboards/db")] = (500, {"message": noisy})
    with GrafanaClient(grafana.url, token="t") as client, pytest.raises(UploadError) as err:
        upload(dashboards[:1], client)
    text = str(err.value)
    assert "database is locked" in text and "\x1b" not in text and "pwned" not in text
    assert len(text) < 400
    grafana.raw[("POST", "/api/dashboards/db")] = (502, b"<html>\x1b[2J" + b"y" * 9000)
    with GrafanaClient(grafana.url, token="t") as client, pytest.raises(UploadError) as err:
        upload(dashboards[:1], client)
    assert "502" in str(err.value) and "\x1b" not in str(err.value)
    assert len(str(err.value)) < 400
