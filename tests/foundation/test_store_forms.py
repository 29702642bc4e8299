"""The multi-tenant and path forms of scale-out stores, through every public entry point.

Each store is a local stand-in on a free port that does what the real one does with the form:
Mimir answers 401 without the right ``X-Scope-OrgID`` and serves under ``/prometheus``; a
VictoriaMetrics cluster's vmselect serves ``/select/<accountID>/prometheus`` and 404s elsewhere;
a proxy in front of Thanos Query serves ``/thanos`` and wants its own key header. Past the
check, the stand-in forwards to a real Prometheus holding the known Knative traffic, so the
answers are the known ones (129 requests in the 10-minute window).
"""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import knative_traffic as kt
import pytest
import requests

from sdobs.app import data
from sdobs.app.source import Source
from sdobs.app.state import parse_search
from sdobs.app.wsgi import app_from_env
from sdobs.catalog import Catalog, Selection
from sdobs.cli import main
from sdobs.prom.client import PrometheusClient
from sdobs.prom.errors import PrometheusHTTPError
from sdobs.prom.harness import LocalPrometheus

pytestmark = pytest.mark.prometheus
DIALECT = "opentelemetry"
TENANT = "team-a"
PROXY_KEY = "s3cret-proxy-key"
VOLUME = 129 / 600  # requests/s of the reference service in the known window


@dataclass
class StandIn:
    """One store's front: a path prefix and an optional required header, then a real Prometheus."""

    upstream: str
    prefix: str
    header: tuple[str, str] | None = None
    refused: int = 404
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path) forwarded
    refusals: list[int] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"


def _handler(stand_in: StandIn) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.startswith(stand_in.prefix + "/"):
                return self._refuse(404, b"404 page not found\n")
            if stand_in.header is not None:
                name, want = stand_in.header
                if self.headers.get(name) != want:  # Mimir: 401 "no org id"
                    return self._refuse(401, b"no org id\n")
            stand_in.seen.append((self.command, self.path))
            upstream = requests.request(
                self.command, stand_in.upstream + self.path[len(stand_in.prefix):], data=body,
                headers={"Content-Type": self.headers.get("Content-Type", "")}, timeout=30)
            self.send_response(upstream.status_code)
            self.send_header("Content-Type", upstream.headers.get("Content-Type", "text/plain"))
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            self.wfile.write(upstream.content)

        def _refuse(self, status: int, text: bytes) -> None:
            stand_in.refusals.append(status)
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        do_GET = do_POST = _serve

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@dataclass
class Stores:
    prom: LocalPrometheus
    mimir: StandIn
    vmselect: StandIn
    thanos: StandIn
    te: int  # the end of the known 10-minute window


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    t0 = kt.t0_for_tests()
    prom = LocalPrometheus(tmp_path_factory.mktemp("stores"))
    prom.backfill_text(kt.exposition(DIALECT, t0))
    prom.start()
    fronts = (StandIn(prom.url, "/prometheus", ("X-Scope-OrgID", TENANT), 401),
              StandIn(prom.url, "/select/42/prometheus"),
              StandIn(prom.url, "/thanos", ("X-Proxy-Key", PROXY_KEY), 401))
    servers = []
    try:
        for front in fronts:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(front))
            front.port = server.server_address[1]
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
        yield Stores(prom, *fronts, te=t0 + kt.WINDOW_END)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        prom.stop()


def _clients(stores: Stores) -> dict[str, PrometheusClient]:
    return {
        "mimir": PrometheusClient(stores.mimir.url, tenant=TENANT),
        "vmselect": PrometheusClient(stores.vmselect.url),
        "thanos": PrometheusClient(stores.thanos.url, headers={"X-Proxy-Key": PROXY_KEY}),
    }


def _volume_expr() -> str:
    sel = Selection(namespace=kt.NS, service=kt.SVC, window=kt.WINDOW)
    return Catalog(DIALECT).request_rate(sel).expr


@pytest.mark.parametrize("store", ["mimir", "vmselect", "thanos"])
def test_the_client_reads_the_known_traffic_through_each_form(stores: Stores, store: str) -> None:
    front: StandIn = getattr(stores, store)
    front.seen.clear()
    with _clients(stores)[store] as client:
        instant = client.query(_volume_expr(), time=stores.te)
        ranged = client.query_range(_volume_expr(), stores.te - 60, stores.te, 30)
        names = client.metric_names()
    assert instant["value"].sum() == pytest.approx(VOLUME)
    assert ranged["value"].iloc[-1] == pytest.approx(VOLUME)
    assert "kn_revision_request_count_total" not in names and names  # the OTel dialect's names
    assert any(n.startswith("http_server_request_duration") for n in names)
    # Every request went through the stand-in, under its prefix: the path was kept.
    paths = {p.split("?")[0] for _, p in front.seen}
    assert paths >= {f"{front.prefix}/api/v1/query", f"{front.prefix}/api/v1/query_range",
                     f"{front.prefix}/api/v1/label/__name__/values"}


@pytest.mark.parametrize(("store", "kwargs", "status"), [
    ("mimir", {}, 401),                               # no tenant
    ("mimir", {"tenant": "team-b"}, 401),             # another tenant
    ("thanos", {"headers": {"X-Proxy-Key": "nope"}}, 401),
])
def test_a_wrong_or_missing_tenant_is_one_sentence_without_the_secret(
        stores: Stores, store: str, kwargs: dict, status: int,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    front: StandIn = getattr(stores, store)
    with PrometheusClient(front.url, **kwargs) as client, \
            pytest.raises(PrometheusHTTPError) as err:
        client.query(_volume_expr(), time=stores.te)
    message = str(err.value)
    assert err.value.status == status and front.refusals[-1] == status
    assert "\n" not in message and "tenant" in message
    for secret in ("team-b", "nope", TENANT):
        assert secret not in message and secret not in caplog.text and secret not in repr(client)


def test_a_vmselect_path_without_the_tenant_is_refused_before_any_request() -> None:
    for url, part in [("http://vmselect:8481/select/0", "ends in /select/<accountID>/prometheus"),
                      ("http://vmselect:8481/select/team/prometheus", "32-bit unsigned"),
                      ("http://vmselect:8481/select/4294967296/prometheus", "32-bit unsigned"),
                      ("http://vminsert:8480/insert/0/prometheus", "vminsert's write path"),
                      ("http://mimir:8080/prometheus/api/v1/query", "without /api/v1")]:
        with pytest.raises(ValueError, match=part.replace("(", r"\(")) as err:
            PrometheusClient(url)
        assert str(err.value).count(".") >= 1 and "\n" not in str(err.value)
    assert PrometheusClient("http://vmselect:8481/select/0:7/prometheus").url.endswith(
        "/select/0:7/prometheus")


def test_a_wrong_vmselect_tenant_path_is_a_404_that_masks_the_tenant(stores: Stores) -> None:
    url = stores.vmselect.url.replace("/select/42/", "/select/43/")
    with PrometheusClient(url) as client, pytest.raises(PrometheusHTTPError) as err:
        client.query("up", time=stores.te)
    assert err.value.status == 404 and "path prefix" in str(err.value)
    assert "/select/***/prometheus" in str(err.value) and "/select/43" not in str(err.value)
    assert "/select/42" not in repr(PrometheusClient(stores.vmselect.url))


@pytest.mark.parametrize(("tenant", "headers"), [
    ("", {}), ("a b", {}), ("..", {}), ("x" * 151, {}), ("t1||t2", {}),
    (TENANT, {"X-Scope-OrgID": "other"}), (None, {"X-Proxy-Key": "a\r\nInjected: 1"}),
    (None, {"Bad Name": "v"}),
])
def test_bad_tenants_and_headers_are_refused_in_one_sentence(tenant, headers) -> None:
    with pytest.raises(ValueError) as err:
        PrometheusClient("http://mimir:8080/prometheus", tenant=tenant, headers=headers)
    message = str(err.value)
    assert "\n" not in message and "Injected" not in message
    assert tenant in (None, "", "..") or tenant not in message  # ".." is in the rule itself


def test_a_federated_tenant_list_is_sent_as_one_header() -> None:
    client = PrometheusClient("http://mimir:8080/prometheus", tenant="team-a|team-b")
    assert client._headers == {"X-Scope-OrgID": "team-a|team-b"}
    assert "team" not in repr(client)


@pytest.mark.parametrize("store", ["mimir", "vmselect", "thanos"])
def test_sdobs_query_reads_through_each_form(stores: Stores, store: str,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    front: StandIn = getattr(stores, store)
    extra = {"mimir": ["--prometheus-tenant", TENANT], "vmselect": [], "thanos": []}[store]
    monkeypatch.delenv("SDOBS_PROMETHEUS_TENANT", raising=False)
    # The proxy's key comes from the environment, off the command line.
    monkeypatch.setenv("SDOBS_PROMETHEUS_HEADERS", f"X-Proxy-Key={PROXY_KEY}")
    code = main(["query", "request_rate", "--namespace", kt.NS, "--service", kt.SVC,
                 "--window", kt.WINDOW, "--time", str(stores.te), "--dialect", DIALECT,
                 "--prometheus-url", front.url, *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert float(out.out.split()[-1]) == pytest.approx(VOLUME)  # the one row: 0.215 requests/s


def test_sdobs_query_with_the_wrong_tenant_says_so_in_one_line(
        stores: Stores, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDOBS_PROMETHEUS_TENANT", "team-b")
    code = main(["query", "request_rate", "--service", kt.SVC, "--time", str(stores.te),
                 "--dialect", DIALECT, "--prometheus-url", stores.mimir.url])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "HTTP 401" in err and "team-b" not in err
    code = main(["query", "request_rate", "--prometheus-url", stores.mimir.url,
                 "--prometheus-header", "X-Scope-OrgID"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("sdobs query: X-Scope-OrgID is not a header: write ")


def test_the_apps_data_source_loads_the_service_page_through_each_form(stores: Stores) -> None:
    start, end = stores.te - 600, stores.te
    state = parse_search(f"?ns={kt.NS}&service={kt.SVC}&from={start}&to={end}").state
    for store, client in _clients(stores).items():
        source = Source(client)
        try:
            assert source.catalog().dialect.name == DIALECT, store  # detected through the front
            page = data.load_service(source, state)
            assert page.errors() == [], store
            assert data.headline(page)["requests"] == 129, store
            assert TENANT not in source.url and "/42/" not in source.url
        finally:
            source.close()


def test_the_production_app_takes_the_tenant_and_headers_from_its_environment(
        stores: Stores) -> None:
    app = app_from_env({"SDOBS_PROMETHEUS_URL": stores.mimir.url,
                        "SDOBS_PROMETHEUS_TENANT": TENANT,
                        "SDOBS_PROMETHEUS_HEADERS": "X-Extra=1\nX-Other: two"})
    client = app.sdobs.source.client
    try:
        assert client._headers == {"X-Extra": "1", "X-Other": "two", "X-Scope-OrgID": TENANT}
        assert client.query(_volume_expr(), time=stores.te)["value"].sum() == pytest.approx(VOLUME)
        page = app.server.test_client().get("/service")
        assert page.status_code == 200 and TENANT.encode() not in page.data
    finally:
        client.close()
