"""SD exporter series for the known Knative traffic's pods, rendered by the exporter's own code.

Each pod of ``knative_traffic.PODS`` runs the exporter: its checkpoint loaded at T0 (45 s, the
container started a minute before), and each request the known traffic gives it observed when
it ends (a tenth waiting for the lock, 85 % generating, the rest returning). Families are
regrouped so each is contiguous, as promtool's backfill requires.
"""

from __future__ import annotations

from functools import cache

import knative_traffic as kt
from sdobs_exporters.sd import Identity, SdMetrics


def _configuration(revision: str) -> str:
    return revision.rsplit("-", 1)[0]


@cache
def openmetrics_families(t0: int) -> str:
    """SD exporter families for all pods over ``[T0, T0+SPAN]``, without the final ``# EOF``."""
    headers: dict[str, str] = {}
    samples: dict[str, list[str]] = {}
    for pod in kt.PODS:
        ident = Identity(namespace=pod.namespace, pod=pod.name, service=pod.service,
                         configuration=_configuration(pod.revision), revision=pod.revision)
        metrics = SdMetrics(identity=ident, gpu_model="NVIDIA A10", process_start=t0 - 60,
                            clock=lambda: t0)
        metrics.model_loaded("v1-5-pruned-emaonly", "6ce0161689", seconds=45.0)
        events = sorted((t, code, kt.latency(code, k)) for code in pod.counts
                        for k, t in enumerate(kt.request_times(pod, code)))
        i = 0
        for offset in range(0, kt.SPAN + 1, kt.STEP):
            while i < len(events) and events[i][0] <= offset:
                _, code, seconds = events[i]
                ok = code < 400
                metrics.observe("txt2img", code, seconds,
                                queue_wait=0.1 * seconds if ok else None,
                                generation=0.85 * seconds if ok else None,
                                response=0.05 * seconds if ok else None, steps=20, width=512,
                                height=512, images=1, sampler="Euler a")
                i += 1
            for fam in metrics.collect():
                headers.setdefault(fam.name, f"# HELP {fam.name} {fam.documentation}\n"
                                             f"# TYPE {fam.name} {fam.type}\n")
                rows = samples.setdefault(fam.name, [])
                for s in fam.samples:
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                    rows.append(f"{s.name}{{{labels}}} {s.value!r} {t0 + offset}\n")
    return "".join(headers[name] + "".join(rows) for name, rows in samples.items())


def with_sd(text: str, t0: int) -> str:
    """One OpenMetrics document: ``text`` (ending in ``# EOF``) and then the SD families."""
    return text.rstrip().removesuffix("# EOF") + openmetrics_families(t0) + "# EOF\n"
