"""Small Knative Service manifests for the twin's tests."""

from __future__ import annotations

from sdobs.sim.manifest import ServiceSpec, load_text
from sdobs.sim.servicetime import Txt2Img
from sdobs.sim.traffic import RequestMix

SD20 = RequestMix(((1.0, Txt2Img(steps=20)),))


def service_yaml(annotations: dict[str, str] | None = None, *, name: str = "sd",
                 namespace: str = "default", cc: int = 1, timeout: int | None = None,
                 spec: str = "ecs.gn6i-c4g1.xlarge", extra: str = "") -> str:
    ann = {"k8s.aliyun.com/eci-use-specs": spec, **(annotations or {})}
    lines = "\n".join(f"        {k}: {v!r}" for k, v in ann.items())
    timeout_line = f"\n      timeoutSeconds: {timeout}" if timeout is not None else ""
    return f"""apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
spec:
  template:
    metadata:
      annotations:
{lines}
    spec:
      containerConcurrency: {cc}{timeout_line}
      containers:
      - image: sd-webui
{extra}"""


def service(annotations: dict[str, str] | None = None, **kwargs: object) -> ServiceSpec:
    services, _ = load_text(service_yaml(annotations, **kwargs))  # type: ignore[arg-type]
    return services[0]


def kpa(**annotations: str) -> dict[str, str]:
    """``autoscaling.knative.dev/`` annotations from keyword arguments (underscores → dashes)."""
    return {f"autoscaling.knative.dev/{k.replace('_', '-')}": v for k, v in annotations.items()}
