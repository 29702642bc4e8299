"""The rendered scrape objects, run by a real Prometheus on the targets a cluster would give.

Every PodMonitor of ``sdobs deploy render`` is compiled into the scrape job the Prometheus
Operator would generate; its Kubernetes SD is replaced by file SD carrying the same
``__meta_kubernetes_pod_*`` labels (tests/deploy/k8s_sd.py), restricted to the namespaces the
job's SD watches. The pods include ones that must not be scraped (a Failed pod, a pod without
Knative's revision label, other container ports, a control-plane pod in another namespace).
The assertions are on the series Prometheus stores and on catalog queries over them.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from eventually import eventually
from k8s_sd import Pod, Port

from sdobs.catalog import Catalog, Selection
from sdobs.deploy.compile import scrape_job
from sdobs.deploy.manifests import InstallOptions, monitors
from sdobs.prom.client import PrometheusClient

pytestmark = pytest.mark.prometheus

NS, SVC, REV = "team-a", "sd", "sd-00001"
POD = f"{REV}-deployment-7d9f8c6b5-x2x4k"
KN_LABELS = {"serving.knative.dev/revision": REV, "serving.knative.dev/service": SVC,
             "serving.knative.dev/configuration": SVC, "app": REV}
QUEUE = ('otel_scope_name="knative.dev/serving/pkg/queue",otel_scope_schema_url="",'
         'otel_scope_version=""')
HTTP = ('http_request_method="POST",http_response_status_code="200",'
        'otel_scope_name="go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",'
        'otel_scope_schema_url="",otel_scope_version="0.64.0",url_scheme="http"')
OTEL_INFO = (f'k8s_namespace_name="{NS}",k8s_pod_name="{POD}",kn_revision_name="{REV}",'
             f'kn_service_name="{SVC}",service_name="{SVC}"')
# Upstream OpenTelemetry-era queue-proxy: no revision identity on the series themselves.
OTEL_QUEUE_PROXY = f"""\
# TYPE kn_serving_queue_depth gauge
kn_serving_queue_depth{{{QUEUE}}} 3
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{{{HTTP},le="10"}} 7
http_server_request_duration_seconds_bucket{{{HTTP},le="+Inf"}} 7
http_server_request_duration_seconds_sum{{{HTTP}}} 31.5
http_server_request_duration_seconds_count{{{HTTP}}} 7
# TYPE target_info gauge
target_info{{{OTEL_INFO}}} 1
"""
OTEL_IDENT = (f'k8s_namespace_name="{NS}",kn_configuration_name="{SVC}",'
              f'kn_revision_name="{REV}",kn_service_name="{SVC}"')
OTEL_AUTOSCALER = f"""\
# TYPE kn_revision_pods_desired gauge
kn_revision_pods_desired{{{OTEL_IDENT},otel_scope_name="knative.dev/serving/pkg/autoscaler"}} 2
"""
ACT_SCOPE = "knative.dev/serving/pkg/activator"
OTEL_ACTIVATOR = f"""\
# TYPE kn_revision_request_concurrency gauge
kn_revision_request_concurrency{{{OTEL_IDENT},otel_scope_name="{ACT_SCOPE}"}} 1.5
"""
OC_IDENT = (f'configuration_name="{SVC}",namespace_name="{NS}",revision_name="{REV}",'
            f'service_name="{SVC}"')
OC_QP = f'{OC_IDENT},container_name="queue-proxy",pod_name="{POD}"'
OC_200 = 'response_code="200",response_code_class="2xx",route_tag="DISABLED"'
OC_QUEUE_PROXY = f"""\
# TYPE revision_request_count counter
revision_request_count{{{OC_QP},{OC_200}}} 7
# TYPE revision_queue_depth gauge
revision_queue_depth{{{OC_QP},response_code="",response_code_class=""}} 3
"""
OC_AUTOSCALER = f"""\
# TYPE autoscaler_desired_pods gauge
autoscaler_desired_pods{{{OC_IDENT}}} 2
"""
OC_ACTIVATOR = f"""\
# TYPE activator_request_concurrency gauge
activator_request_concurrency{{{OC_IDENT},container_name="activator",pod_name="activator-1"}} 1.5
"""
NOT_SCRAPED = ("autometric_protobuf", "user_metric", "queueadm_metric", "failed_pod_metric",
               "stray_metric", "profiling_metric", "controller_metric", "foreign_autoscaler")


def _pods(otel: bool) -> list[Pod]:
    qp = OTEL_QUEUE_PROXY if otel else OC_QUEUE_PROXY
    return [
        Pod(NS, POD, KN_LABELS, [
            Port("queue-proxy", "http-usermetric", 9091, qp),
            Port("queue-proxy", "http-autometric", 9090, "autometric_protobuf 1\n"),
            Port("queue-proxy", "http-queueadm", 8022, "queueadm_metric 1\n"),
            Port("user-container", "user-port", 8080, "user_metric 1\n")]),
        Pod(NS, f"{REV}-deployment-7d9f8c6b5-old01", KN_LABELS,
            [Port("queue-proxy", "http-usermetric", 9091, "failed_pod_metric 1\n")],
            phase="Failed"),
        Pod(NS, "batch-job-abc", {"app": "batch"},
            [Port("worker", "http-usermetric", 9091, "stray_metric 1\n")]),
        Pod("knative-serving", "autoscaler-5c8d9-abcde", {"app": "autoscaler"}, [
            Port("autoscaler", "metrics", 9090, OTEL_AUTOSCALER if otel else OC_AUTOSCALER),
            Port("autoscaler", "profiling", 8008, "profiling_metric 1\n")]),
        Pod("knative-serving", "activator-6b7c8-fghij", {"app": "activator"},
            [Port("activator", "metrics", 9090, OTEL_ACTIVATOR if otel else OC_ACTIVATOR)]),
        Pod("knative-serving", "controller-1a2b3-klmno", {"app": "controller"},
            [Port("controller", "metrics", 9090, "controller_metric 1\n")]),
        Pod("elsewhere", "autoscaler-impostor", {"app": "autoscaler"},
            [Port("autoscaler", "metrics", 9090, "foreign_autoscaler 1\n")]),
    ]


@pytest.fixture
def scraped(local_prometheus, tmp_path, request):
    """Prometheus scraping the file-SD cluster with the rendered install's jobs."""
    dialect = request.param
    opts = InstallOptions(dialect=dialect, interval="1s")
    pods = _pods(dialect != "opencensus")
    jobs = []
    for i, mon in enumerate(monitors(opts)):
        job = scrape_job(mon)
        sd = job.pop("kubernetes_sd_configs")[0]
        watched = sd.get("namespaces", {}).get("names")
        groups = [g for p in pods if watched is None or p.namespace in watched
                  for g in p.targets()]
        path = tmp_path / f"job{i}.json"
        path.write_text(json.dumps(groups))
        jobs.append({**job, "file_sd_configs": [{"files": [str(path)]}]})
    prom = local_prometheus(scrape_configs=jobs, scrape_interval="1s")
    client = PrometheusClient(prom.url)
    eventually(lambda: len(client.query("count by (job) (up == 1)")) >= 3, timeout=30,
               interval=0.5, what="three scrape jobs up")
    time.sleep(2)
    yield client, opts
    for p in pods:
        p.close()


def _series(client, expr):
    frame = client.query(expr)
    return [{k: v for k, v in row.items() if k not in ("timestamp", "value") and v == v}
            | {"value": row["value"]} for row in frame.to_dict("records")]


@pytest.mark.parametrize("scraped", ["opentelemetry", "opencensus"], indirect=True)
def test_only_the_knative_endpoints_are_scraped(scraped) -> None:
    client, _ = scraped
    up = {r["job"]: r["value"] for r in _series(client, "count by (job) (up)")}
    assert up == {"monitoring/sdobs-knative-queue-proxy": 1, "activator": 1, "autoscaler": 1}
    for name in NOT_SCRAPED:
        assert client.query(f"{name}").empty, f"{name} must not be scraped"


@pytest.mark.parametrize("scraped", ["opentelemetry"], indirect=True)
def test_otel_queue_proxy_series_carry_the_pods_knative_identity(scraped) -> None:
    client, _ = scraped
    [depth] = _series(client, "kn_serving_queue_depth")
    assert depth["k8s_namespace_name"] == NS and depth["k8s_pod_name"] == POD
    assert (depth["kn_service_name"], depth["kn_configuration_name"],
            depth["kn_revision_name"]) == (SVC, SVC, REV)
    assert (depth["namespace"], depth["pod"], depth["container"], depth["endpoint"]) == (
        NS, POD, "queue-proxy", "http-usermetric")
    # target_info's own copies of the identity are kept apart as exported_* (honorLabels off).
    [info] = _series(client, "target_info")
    assert info["exported_kn_revision_name"] == REV and info["kn_revision_name"] == REV


@pytest.mark.parametrize("scraped", ["opentelemetry", "opencensus"], indirect=True)
def test_catalog_signals_answer_from_the_scraped_cluster(scraped) -> None:
    client, opts = scraped
    cat = Catalog(opts.dialect)
    sel = Selection(namespace=NS, service=SVC, window="1m")
    by = ("revision",)

    def one(q):
        rows = _series(client, q.expr)
        assert len(rows) == 1, (q.expr, rows)
        assert rows[0]["revision"] == REV
        return rows[0]["value"]

    assert one(cat.queue_depth(sel, by)) == 3
    assert one(cat.requests_served(sel, "5m", by)) == 7
    assert one(cat.pods(sel, "desired", by)) == 2
    assert one(cat.activator_concurrency(sel, by)) == 1.5


@pytest.mark.parametrize("scraped", ["opencensus"], indirect=True)
def test_opencensus_install_adds_no_otel_labels(scraped) -> None:
    client, _ = scraped
    [count] = _series(client, "revision_request_count")
    assert "kn_revision_name" not in count and count["revision_name"] == REV
    assert count["pod"] == POD and count["namespace"] == NS


def test_control_plane_extra_scrapes_the_controller(local_prometheus, tmp_path) -> None:
    opts = replace(InstallOptions(interval="1s"), control_plane_extra=True)
    mon = monitors(opts)[1]
    job = scrape_job(mon, service_discovery={"file_sd_configs": [
        {"files": [str(tmp_path / "cp.json")]}]})
    pods = [p for p in _pods(True) if p.namespace == "knative-serving"]
    (tmp_path / "cp.json").write_text(json.dumps([g for p in pods for g in p.targets()]))
    prom = local_prometheus(scrape_configs=[job], scrape_interval="1s")
    client = PrometheusClient(prom.url)
    eventually(lambda: not client.query("controller_metric").empty, timeout=30, interval=0.5,
               what="the controller's series scraped")
    [row] = _series(client, "controller_metric")
    assert row["job"] == "controller"
    for p in pods:
        p.close()
