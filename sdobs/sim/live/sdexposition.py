"""The SD request exporter of the live twin's pods: its own code, fed as requests finish.

Each pod of a revision annotated ``sdobs.dev/sd-exporter`` (see :mod:`sdobs.sim.sdexporter`)
holds one :class:`~sdobs_exporters.sd.SdMetrics`: a txt2img request is observed when the
gateway answers it (its time in the model container, the lock wait, generation and return from
the twin's request), the checkpoint counts as loaded from the pod's ``loaded`` time, and the
in-flight/waiting gauges are read from the pod when Prometheus scrapes.
"""

from __future__ import annotations

from sdobs_exporters.sd import SdMetrics

from sdobs.sim.live.service import LiveRequest, LiveService
from sdobs.sim.pods import Pod
from sdobs.sim.sdexporter import CHECKPOINT, has_sd_exporter, observe, pod_metrics
from sdobs.sim.servicetime import Txt2Img


class LiveSd:
    """Per-pod SD exporters of a live twin, created on a pod's first scrape or request."""

    def __init__(self, epoch0: float) -> None:
        self.epoch0 = epoch0
        self.pods: dict[tuple[tuple[str, str], int], SdMetrics] = {}

    def enabled(self, svc: LiveService, pod: Pod) -> bool:
        return has_sd_exporter(svc.revs[pod.rev].spec)

    def _metrics(self, key: tuple[str, str], svc: LiveService, pod: Pod) -> SdMetrics:
        m = self.pods.get((key, pod.id))
        if m is None:
            m = self.pods[(key, pod.id)] = pod_metrics(svc.revs[pod.rev].spec, pod.name,
                                                       self.epoch0 + pod.started,
                                                       lambda: self.epoch0 + pod.loaded)
        return m

    def observe(self, key: tuple[str, str], svc: LiveService, done: LiveRequest, path: str,
                profile: Txt2Img | None) -> None:
        """A request the gateway answered: counted by its pod's exporter if it reached the
        model container of a pod running the exporter."""
        pod = done.pod
        if pod is None or done.t_app < 0 or path != "/sdapi/v1/txt2img" or \
                not self.enabled(svc, pod):
            return
        t_done = done.t_app_done if done.t_app_done >= 0 else done.t_end
        observe(self._metrics(key, svc, pod), done.code_app if done.code_app > 0 else done.code,
                done.t_app, t_done, done.gpu_start, done.gpu_end, profile)

    def render(self, key: tuple[str, str], svc: LiveService, pod: Pod, now: float,
               accept: str = "") -> bytes:
        m = self._metrics(key, svc, pod)
        if now >= pod.loaded and not m.ready:
            m.model_loaded(*CHECKPOINT, seconds=max(pod.loaded - pod.started, 0.0))
        busy = 1 if svc.gpu_busy(pod, now) else 0
        m.set_requests(pod.active, max(pod.active - busy, 0))
        return m.render(accept)[0]

    def forget(self, alive: set[tuple[tuple[str, str], int]]) -> None:
        """Drop the exporters of pods that are gone (pods come and go all day)."""
        for gone in [k for k in self.pods if k not in alive]:
            del self.pods[gone]
