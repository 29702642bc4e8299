"""The SD request exporter inside the twin's pods: its own code, fed with simulated requests.

Each pod of a revision whose SD server runs the exporter (:func:`has_sd_exporter`) gets one
:class:`~sdobs_exporters.sd.SdMetrics`, fed what the middleware and the WebUI's hooks would have
measured: a request enters the model container at ``t_app`` (in flight, waiting for the lock),
gets the GPU at ``gpu_start`` (generating), leaves the lock at ``gpu_end`` and its last byte goes
at ``t_app_done``; the checkpoint is loaded at the pod's ``loaded`` time (ready; cold start from
the container's start). The history renderer (:func:`render_sd`) writes what each scrape would
have read; the live twin (:class:`LiveSd`) renders it when Prometheus scrapes.
"""

from __future__ import annotations

import numpy as np
from sdobs_exporters.sd import Identity, SdMetrics

from sdobs.sim.engine import RevisionLog, ServiceLog
from sdobs.sim.manifest import RevisionSpec
from sdobs.sim.servicetime import GPUS, Txt2Img

SD_JOB = "sdobs-sd-exporter"
SD_PORT = 7860  # the WebUI's port: the exporter answers /metrics on it
#: Template annotation saying the revision's SD server runs the exporter (the extension):
#: ``sdobs.dev/sd-exporter: extension`` (as the example manifest's pod label).
ANNOTATION = "sdobs.dev/sd-exporter"
CHECKPOINT = ("v1-5-pruned-emaonly",
              "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa")
_START, _GEN, _END = 0, 1, 2


def has_sd_exporter(spec: RevisionSpec) -> bool:
    """Whether the revision's template says its SD server runs the exporter."""
    return spec.annotations.get(ANNOTATION, "") not in ("", "disabled", "false")


def pod_metrics(spec: RevisionSpec, pod_name: str, process_start: float,
                clock) -> SdMetrics:
    """The exporter object one pod's SD server would hold."""
    ident = Identity(namespace=spec.namespace, pod=pod_name, service=spec.service,
                     configuration=spec.configuration, revision=spec.name)
    gpu = GPUS[spec.gpu].name if spec.gpu in GPUS else "unknown"
    return SdMetrics(identity=ident, gpu_model=gpu, process_start=process_start, clock=clock)


def observe(metrics: SdMetrics, code: int, t_app: float, t_done: float, gpu_start: float,
            gpu_end: float, body: Txt2Img | None, endpoint: str = "txt2img") -> None:
    """Count one request that left the model container (times in seconds, -1: never)."""
    started = 0 <= gpu_start <= t_done
    ended = started and 0 <= gpu_end <= t_done
    b = body or Txt2Img()
    metrics.observe(endpoint, int(code), max(t_done - t_app, 0.0),
                    queue_wait=gpu_start - t_app if started else None,
                    generation=gpu_end - gpu_start if ended else None,
                    response=t_done - gpu_end if ended else None,
                    steps=b.steps, width=b.width, height=b.height, images=b.images,
                    sampler=b.sampler_name)


class _Feed:
    """One pod's requests as time-ordered exporter events, applied up to each scrape."""

    def __init__(self, log: ServiceLog, rev: RevisionLog, pod: int, offset: float) -> None:
        r, p = log.requests, log.pods
        self.offset = offset
        self.now = 0.0
        started, loaded = float(p["started"][pod]), float(p["loaded"][pod])
        self.metrics = pod_metrics(rev.spec, log.pod_names[pod], started + offset,
                                   lambda: self.now)
        mine = np.flatnonzero((r["pod"] == p["id"][pod]) & (r["t_app"] >= 0)
                              & (r["t_app_done"] >= 0))
        self.req = {k: r[k][mine] for k in ("t_app", "t_app_done", "gpu_start", "gpu_end",
                                             "code_app", "body")}
        self.bodies = log.bodies
        t_app, t_done, gs = self.req["t_app"], self.req["t_app_done"], self.req["gpu_start"]
        gen = (gs >= 0) & (gs <= t_done)
        idx = np.arange(len(mine))
        times = np.concatenate([t_app, gs[gen], t_done])
        kinds = np.concatenate([np.full(len(mine), _START), np.full(int(gen.sum()), _GEN),
                                np.full(len(mine), _END)])
        which = np.concatenate([idx, idx[gen], idx])
        order = np.lexsort((kinds, times))
        self.times = times[order] + offset
        self.kinds, self.which = kinds[order].tolist(), which[order].tolist()
        self.gen = gen
        self.loaded = loaded + offset if np.isfinite(loaded) else np.inf
        self.load_seconds = loaded - started
        self.i = 0

    def advance(self, t: float) -> bool:
        """Apply every event at or before epoch second ``t``; whether any was applied."""
        m = self.metrics
        changed = False
        if self.loaded <= t:
            changed = True
            self.now = self.loaded
            m.model_loaded(*CHECKPOINT, seconds=self.load_seconds)
            self.loaded = np.inf
        n = int(np.searchsorted(self.times, t, side="right"))
        req, gen = self.req, self.gen
        for k in range(self.i, n):
            kind, j = self.kinds[k], self.which[k]
            if kind == _START:
                m.in_flight(1)
                m.waiting(1)
            elif kind == _GEN:
                m.waiting(-1)
            else:
                m.in_flight(-1)
                if not gen[j]:
                    m.waiting(-1)
                body = int(req["body"][j])
                observe(m, int(req["code_app"][j]), float(req["t_app"][j]),
                        float(req["t_app_done"][j]), float(req["gpu_start"][j]),
                        float(req["gpu_end"][j]),
                        self.bodies[body] if 0 <= body < len(self.bodies) else None)
        changed = changed or n > self.i
        self.i = n
        self.now = t
        return changed


def render_sd(writer, log: ServiceLog, rev: RevisionLog, pod: int, clock, options) -> None:
    """One pod's SD exporter, scraped on its own grid from container start to the pod's end."""
    from sdobs.sim.render import _render_up, fmt, labels_text

    if not has_sd_exporter(rev.spec):
        return
    p = log.pods
    name, ip = log.pod_names[pod], log.pod_ips[pod]
    started, gone = p["started"][pod], p["gone"][pod]
    instance = f"{ip}:{SD_PORT}"
    grid = clock.grid(f"{SD_JOB}/{instance}", started, gone)
    if not len(grid):
        return
    feed = _Feed(log, rev, pod, clock.epoch(0.0))
    target = f'instance="{instance}",job="{SD_JOB}"'
    ident = feed.metrics.identity.labels()
    lines: dict[str, list[str]] = {}
    meta: dict[str, tuple[str, str]] = {}
    cache: dict[tuple, str] = {}
    rows: list[tuple[list[str], str]] = []
    for ts in grid.tolist():
        if feed.advance(float(ts)) or not rows:  # collect only when something happened
            rows = []
            for fam in feed.metrics.collect(identity=False):
                if fam.name not in meta:
                    meta[fam.name] = (fam.type, fam.documentation)
                    lines[fam.name] = []
                bucket = lines[fam.name]
                for s in fam.samples:
                    key = (s.name, *s.labels.items())
                    prefix = cache.get(key)
                    if prefix is None:
                        lt = labels_text({**ident, **s.labels})
                        prefix = cache[key] = f"{s.name}{{{target}{',' if lt else ''}{lt}}} "
                    rows.append((bucket, f"{prefix}{fmt(s.value)} "))
        stamp = f"{ts}\n"
        for bucket, text in rows:
            bucket.append(text + stamp)
    for fam_name, fam_lines in lines.items():
        typ, help_ = meta[fam_name]
        out = writer.family(fam_name, typ, help_)
        writer.lines(out, "".join(fam_lines), len(fam_lines))
    _render_up(writer, SD_JOB, instance, {"namespace": rev.spec.namespace, "pod": name}, clock,
               started, started, gone)
