"""Which Knative service, revision and pod a GPU belongs to.

Sidecar mode (:class:`StaticAttribution`): the exporter runs in the model pod, so the identity is
fixed for the life of the process — Knative injects ``K_SERVICE``, ``K_CONFIGURATION`` and
``K_REVISION`` into every container of a revision, the downward API gives ``POD_NAME`` and
``POD_NAMESPACE`` (with fallbacks, see :meth:`Identity.from_env`), and ``SDOBS_GPU_CONTAINER``
names the container that holds the GPU.

Node mode (:class:`PodResourcesAttribution`): one exporter per node asks the kubelet's
pod-resources API which container holds which GPU. The last good mapping is kept for ``ttl``
seconds when the kubelet does not answer, so labels do not flap; a gauge says whether the
mapping currently works. The revision is read from the pod name Knative gives its pods
(``<revision>-deployment-<hash>-<suffix>``); service and configuration are not known there and
stay empty (join ``kube_pod_labels`` for them).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .podresources import DEFAULT_SOCKET, ContainerDevices, PodResourcesError, list_devices

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True, slots=True)
class Identity:
    """Knative and Kubernetes identity of the workload using a GPU; empty strings when unknown."""

    namespace: str = ""
    pod: str = ""
    container: str = ""
    service: str = ""
    configuration: str = ""
    revision: str = ""

    def values(self) -> tuple[str, str, str, str, str, str]:
        """Label values in naming.IDENTITY_KEYS order."""
        return (self.namespace, self.pod, self.container, self.service, self.configuration,
                self.revision)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 namespace_file: str = SERVICE_ACCOUNT_NAMESPACE) -> Identity:
        """The identity Knative and the downward API put into this container's environment.

        Knative rejects downward-API ``fieldRef`` env vars unless ``kubernetes.podspec-fieldref``
        is enabled, so the pod name falls back to ``HOSTNAME`` (the kubelet sets it to the pod
        name) and the namespace to the service-account namespace file.
        """
        env = os.environ if env is None else env
        namespace = env.get("POD_NAMESPACE", "")
        if not namespace:
            try:
                with open(namespace_file, encoding="utf-8") as f:
                    namespace = f.read().strip()
            except OSError:
                namespace = ""
        return cls(
            namespace=namespace,
            pod=env.get("POD_NAME", "") or env.get("HOSTNAME", ""),
            container=env.get("SDOBS_GPU_CONTAINER", ""),
            service=env.get("K_SERVICE", ""),
            configuration=env.get("K_CONFIGURATION", ""),
            revision=env.get("K_REVISION", ""),
        )


UNATTRIBUTED = Identity()


class Attribution(Protocol):
    """Maps GPUs (and MIG devices) to the workloads holding them."""

    mode: str

    def refresh(self) -> None:
        """Bring the mapping up to date; called once per collection, never raises."""
        ...

    def owners(self, uuid: str, index: int, minor: int | None) -> tuple[Identity, ...]:
        """Workloads holding this device; empty when it is unassigned or unknown."""
        ...


class StaticAttribution:
    """Every GPU belongs to one identity: the pod the exporter runs in (sidecar mode).

    Without an identity the mode reads ``none`` and GPUs are exported unattributed.
    """

    def __init__(self, identity: Identity = UNATTRIBUTED) -> None:
        self.identity = identity
        self._owners = (identity,) if identity != UNATTRIBUTED else ()
        self.mode = "sidecar" if self._owners else "none"

    def refresh(self) -> None:
        return None

    def owners(self, uuid: str, index: int, minor: int | None) -> tuple[Identity, ...]:
        return self._owners


_REVISION_FROM_POD = re.compile(r"^(?P<revision>.+)-deployment-[a-z0-9]+-[a-z0-9]+$")


def revision_from_pod_name(pod: str) -> str:
    """Knative revision of a pod named ``<revision>-deployment-<hash>-<suffix>``, else ''."""
    match = _REVISION_FROM_POD.match(pod)
    return match.group("revision") if match else ""


class PodResourcesAttribution:
    """Node mode: the kubelet pod-resources ``List`` call, cached, with its own health."""

    mode = "node"

    def __init__(
        self,
        socket_path: str = DEFAULT_SOCKET,
        *,
        refresh_interval: float = 10.0,
        ttl: float = 300.0,
        timeout: float = 5.0,
        resource_names: Sequence[str] = ("nvidia.com/gpu",),
        resource_prefixes: Sequence[str] = ("nvidia.com/mig-",),
        lister: Callable[[], list[ContainerDevices]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.socket_path = socket_path
        self.refresh_interval = refresh_interval
        self.ttl = ttl
        self.timeout = timeout
        self.resource_names = frozenset(resource_names)
        self.resource_prefixes = tuple(resource_prefixes)
        self._lister = lister or (lambda: list_devices(self.socket_path, timeout=self.timeout))
        self._clock = clock
        self._wall_clock = wall_clock
        self._mapping: dict[str, tuple[Identity, ...]] = {}
        self._attempted_at: float | None = None
        self._good_at: float | None = None
        self.up = False
        self.last_success_timestamp: float | None = None
        self.errors: dict[str, int] = {}
        self._last_reason: str | None = None

    def refresh(self) -> None:
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < self.refresh_interval:
            return
        self._attempted_at = now
        try:
            assignments = self._lister()
        except PodResourcesError as exc:
            self._failed(exc.reason, exc.message, now)
            return
        except Exception as exc:
            self._failed("internal", f"pod-resources client failed: {exc!r}", now)
            return
        self._mapping = self._build(assignments)
        self._good_at = now
        self.last_success_timestamp = self._wall_clock()
        if not self.up and self._last_reason is not None:
            log.info("kubelet pod-resources answers again; GPU attribution restored")
        self.up = True
        self._last_reason = None

    def _failed(self, reason: str, message: str, now: float) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1
        if reason != self._last_reason:
            keep = (f"keeping the last mapping for up to {self.ttl:.0f} s" if self._mapping
                    else "GPUs stay unattributed")
            log.warning("%s; %s", message, keep)
        self._last_reason = reason
        self.up = False
        if self._good_at is not None and now - self._good_at > self.ttl and self._mapping:
            log.warning("the last good pod-resources mapping is older than %.0f s; dropping it",
                        self.ttl)
            self._mapping = {}

    def _build(self, assignments: list[ContainerDevices]) -> dict[str, tuple[Identity, ...]]:
        mapping: dict[str, list[Identity]] = {}
        for a in assignments:
            if a.resource_name not in self.resource_names and not a.resource_name.startswith(
                    self.resource_prefixes):
                continue
            ident = Identity(namespace=a.namespace, pod=a.pod, container=a.container,
                             revision=revision_from_pod_name(a.pod))
            for device_id in a.device_ids:
                key = device_id.split("::", 1)[0]  # time-slicing replicas: GPU-uuid::N
                owners = mapping.setdefault(key, [])
                if ident not in owners:
                    owners.append(ident)
        return {k: tuple(sorted(v, key=Identity.values)) for k, v in mapping.items()}

    def owners(self, uuid: str, index: int, minor: int | None) -> tuple[Identity, ...]:
        m = self._mapping
        found = m.get(uuid)
        if found is None:
            found = m.get(str(index))
        if found is None and minor is not None:
            found = m.get(f"nvidia{minor}")
        return found or ()
