"""The GPU collector: a prometheus-client custom collector that reads the backend at scrape time.

Each scrape takes the NVML lock (scrapes are serialised; NVML access is not re-entrant in our
use), (re)initialises the backend when needed, reads one snapshot, attributes each GPU to its
Knative workload and builds fresh metric families, then adds the exporter's own health series.
Device errors never escape: they become ``sdobs_gpu_exporter_up 0``, error counters and a log
line when the state changes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from . import naming as n
from .attribution import UNATTRIBUTED, Attribution, Identity, StaticAttribution
from .exposition import Labels, render
from .readings import Backend, BackendError, GpuReading, Snapshot, SystemInfo

log = logging.getLogger(__name__)

__version__ = "0.1.0"


class _Family(Metric):
    """A metric family built without re-validating its name (names are fixed in naming.py)."""

    def __init__(self, name: str, documentation: str, typ: str) -> None:
        self.name = name
        self.documentation = documentation
        self.unit = ""
        self.type = typ
        self.samples: list[Sample] = []


def _family_spec(name: str, typ: str) -> tuple[str, str, str]:
    """(family name, sample name, client type) for a name as exposed; counters lose _total."""
    if typ == "counter":
        return name[: -len("_total")], name, "counter"
    if typ == "info":
        return name[: -len("_info")], name, "info"
    return name, name, typ


@dataclass(slots=True)
class _SignalSpec:
    attr: str
    family: str
    sample: str
    typ: str
    help: str
    div: float
    mul: float
    floor: bool


@dataclass(slots=True)
class _GpuLabels:
    """Label dicts of one GPU, built once and shared by every sample of that GPU."""

    key: tuple[object, ...]  # what the label sets are built from; keys derived caches too
    base: Labels
    short: Labels  # gpu + uuid only, for the info series
    reasons: list[tuple[Labels, int]] = field(default_factory=list)


def _scale(scale: float) -> tuple[float, float]:
    """Split a unit factor into an exact divisor or multiplier (0.57, not 0.5700000000000001)."""
    if scale < 1:
        return float(round(1 / scale)), 1.0
    return 1.0, scale


class GpuCollector:
    """Reads a GPU backend on every ``collect()`` and returns fresh metric families."""

    def __init__(
        self,
        backend: Backend,
        *,
        naming: str = n.DEFAULT,
        identity: Identity | None = None,
        attribution: Attribution | None = None,
        hostname: str = "",
        process_metrics: bool = True,
        lock_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if naming not in n.NAMINGS:
            raise ValueError(f"unknown naming {naming!r}; choose one of {', '.join(n.NAMINGS)}")
        if attribution is not None and identity is not None:
            raise ValueError("give either identity (sidecar) or attribution (node), not both")
        if not (isinstance(lock_timeout, int | float) and 0 <= lock_timeout < float("inf")):
            # Lock.acquire(timeout=-1) waits forever: a hung NVML call would hang every scrape.
            raise ValueError(f"lock_timeout must be a finite number of seconds >= 0, "
                             f"not {lock_timeout!r}")
        self.backend = backend
        self.naming = naming
        self.attribution: Attribution = attribution or StaticAttribution(identity or UNATTRIBUTED)
        self.hostname = hostname
        self.process_metrics = process_metrics
        self.lock_timeout = lock_timeout
        self.clock = clock
        dcgm = naming == n.DCGM
        self._uuid_key = "UUID" if dcgm else "uuid"
        self._identity_keys = n.DCGM_IDENTITY_KEYS if dcgm else n.IDENTITY_KEYS
        self._signals = self._signal_specs(dcgm)
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._open = False
        self._info = SystemInfo()
        self._inits = {"success": 0, "failure": 0}
        self._init_error: BackendError | None = None
        self._last_problem: str | None = None
        self._last_success: float | None = None
        self._busy = 0
        self._extra_errors: dict[str, int] = {}
        self._gpus_visible = 0
        self._label_cache: dict[tuple[object, ...], _GpuLabels] = {}
        self._lcache: dict[tuple[object, ...], Labels] = {}
        static = isinstance(self.attribution, StaticAttribution)
        ident = self.attribution.identity if static else None
        self._exporter_labels = Labels(self._identity_labels(ident or UNATTRIBUTED))

    # -- public surface -----------------------------------------------------------------------
    def describe(self) -> list[Metric]:
        """Nothing: registering the collector must not touch NVML."""
        return []

    def collect(self) -> list[Metric]:
        """What prometheus-client calls on every scrape."""
        return self.families()

    def families(self, timestamp: float | None = None) -> list[Metric]:
        """Read the GPUs now and return every family; ``timestamp`` stamps samples (backfill)."""
        if not self._lock.acquire(timeout=self.lock_timeout):
            with self._stats_lock:
                self._busy += 1
            log.warning("another collection has held NVML for over %.1f s; answering this scrape "
                        "with health series only", self.lock_timeout)
            return self._health(None, up=False, duration=None, ts=timestamp)
        try:
            started = time.perf_counter()
            snapshot = self._snapshot()
            try:
                self.attribution.refresh()
            except Exception:
                log.exception("GPU attribution failed")
                self._count_extra("internal")
            fams = self._render(snapshot, timestamp) if snapshot is not None else []
            up = snapshot is not None and not snapshot.failures and not snapshot.needs_reinit
            if up:
                self._last_success = self.clock() if timestamp is None else timestamp
            duration = time.perf_counter() - started
            fams.extend(self._health(snapshot, up=up, duration=duration, ts=timestamp))
            return fams
        finally:
            self._lock.release()

    def render(self, fmt: str = "text", timestamp: float | None = None) -> bytes:
        """The exposition text of this collector alone ('text' 0.0.4 or 'openmetrics')."""
        if fmt not in ("text", "openmetrics"):
            raise ValueError(f"unknown exposition format {fmt!r}; use 'text' or 'openmetrics'")
        return render(self.families(timestamp), openmetrics=fmt == "openmetrics")

    def healthy(self) -> tuple[bool, str]:
        """For /healthz: False only while the device library cannot be initialised at all."""
        if self._lock.acquire(timeout=min(self.lock_timeout, 2.0)):
            try:
                if not self._open:
                    self._ensure_open()
            finally:
                self._lock.release()
        error = self._init_error
        if error is not None:
            return False, error.message
        return True, "ok"

    def close(self) -> None:
        """Shut the backend down (at exit)."""
        with self._lock:
            if self._open:
                self.backend.close()
                self._open = False

    # -- collection ---------------------------------------------------------------------------
    def _count_extra(self, kind: str) -> None:
        with self._stats_lock:
            self._extra_errors[kind] = self._extra_errors.get(kind, 0) + 1

    def _problem(self, message: str | None) -> None:
        """Log when the exporter's state changes, not on every scrape."""
        if message == self._last_problem:
            return
        if message is None:
            log.info("GPU collection works again")
        else:
            log.error("%s", message)
        self._last_problem = message

    def _ensure_open(self) -> bool:
        try:
            self._info = self.backend.open()
        except BackendError as exc:
            self._inits["failure"] += 1
            self._init_error = exc
            self._problem(f"{exc.message}; serving /metrics with sdobs_gpu_exporter_up 0 and "
                          "trying again on every scrape")
            return False
        except Exception as exc:
            self._inits["failure"] += 1
            self._count_extra("internal")
            self._init_error = BackendError("internal", f"GPU backend failed to open: {exc!r}")
            log.exception("GPU backend failed to open")
            return False
        self._inits["success"] += 1
        self._init_error = None
        self._open = True
        self._clear_label_caches()  # the driver version is part of some label sets
        return True

    def _snapshot(self) -> Snapshot | None:
        if not self._open and not self._ensure_open():
            return None
        try:
            snapshot = self.backend.read()
        except BackendError as exc:
            self._reinit_later(f"{exc.message}")
            return None
        except Exception:
            log.exception("GPU backend failed to read")
            self._count_extra("internal")
            self._reinit_later("the GPU backend failed with an internal error")
            return None
        self._gpus_visible = len(snapshot.gpus)
        if snapshot.needs_reinit:
            lost = ", ".join(f"GPU {f.index} ({f.uuid or 'unknown uuid'}): {f.kind}"
                             for f in snapshot.failures)
            self._reinit_later(f"lost {lost}")
        elif snapshot.failures:
            missing = ", ".join(f"GPU {f.index} ({f.uuid or 'unknown uuid'}): {f.kind}"
                                for f in snapshot.failures)
            self._problem(f"some GPUs cannot be read: {missing}")
        else:
            self._problem(None)
        return snapshot

    def _reinit_later(self, why: str) -> None:
        self._problem(f"{why}; NVML is shut down and will be initialised again on the next scrape")
        try:
            self.backend.close()
        except Exception:
            log.exception("GPU backend failed to close")
        self._open = False

    # -- rendering ----------------------------------------------------------------------------
    def _signal_specs(self, dcgm: bool) -> list[_SignalSpec]:
        specs = []
        for s in n.GPU_SIGNALS:
            if dcgm:
                if not s.dcgm:
                    continue
                name, typ, help_, scale, floor = (s.dcgm, s.dcgm_kind, s.dcgm_help, s.dcgm_scale,
                                                  s.dcgm_floor)
            else:
                if not s.name:
                    continue
                name, typ, help_, scale, floor = s.name, s.kind, s.help, s.scale, False
            family, sample, typ = _family_spec(name, typ)
            div, mul = _scale(scale)
            specs.append(_SignalSpec(s.attr, family, sample, typ, help_, div, mul, floor))
        return specs

    def _clear_label_caches(self) -> None:
        self._label_cache.clear()
        self._lcache.clear()

    def _cached(self, key: tuple[object, ...], build: Callable[[], dict[str, str]]) -> Labels:
        """A label set built once and reused by every later scrape (its text is cached too)."""
        got = self._lcache.get(key)
        if got is None:
            if len(self._lcache) > 8192:
                self._clear_label_caches()
            got = self._lcache[key] = Labels(build())
        return got

    def _identity_labels(self, ident: Identity) -> dict[str, str]:
        return {k: v for k, v in zip(self._identity_keys, ident.values(), strict=True) if v}

    def _labels(self, g: GpuReading, ident: Identity) -> _GpuLabels:
        key = (g.index, g.uuid, g.name, g.pci_bus_id, g.minor_number, ident)
        cached = self._label_cache.get(key)
        if cached is not None:
            return cached
        if len(self._label_cache) > 4096:
            self._clear_label_caches()
        short = Labels({"gpu": str(g.index), self._uuid_key: g.uuid})
        if self.naming == n.DCGM:
            base = Labels(short)
            base["pci_bus_id"] = g.pci_bus_id
            if g.minor_number is not None:
                base["device"] = f"nvidia{g.minor_number}"
            base["modelName"] = g.name
            if self.hostname:
                base["Hostname"] = self.hostname
            if self._info.driver_version:
                base["DCGM_FI_DRIVER_VERSION"] = self._info.driver_version
            base.update(self._identity_labels(ident))
            labels = _GpuLabels(key, base, short)
        else:
            base = Labels({**short, **self._identity_labels(ident)})
            labels = _GpuLabels(key, base, short)
            labels.reasons = [(Labels({**base, "reason": r}), bit)
                              for r, bit in n.THROTTLE_REASONS]
        self._label_cache[key] = labels
        return labels

    def _render(self, snap: Snapshot, ts: float | None) -> list[Metric]:
        dcgm = self.naming == n.DCGM
        sig_fams = [(s, _Family(s.family, s.help, s.typ)) for s in self._signals]
        by_attr = {s.attr: f for s, f in sig_fams}
        throttle = _fam(n.DCGM_THROTTLE if dcgm else n.THROTTLE)
        xid = _fam(n.XID_ERRORS)
        proc_mem, proc_sm = _fam(n.PROCESS_MEMORY), _fam(n.PROCESS_SM)
        mig_used, mig_free, mig_total, mig_util = (
            _fam(n.MIG_MEMORY_USED), _fam(n.MIG_MEMORY_FREE), _fam(n.MIG_MEMORY_TOTAL),
            _fam(n.MIG_UTILIZATION))
        gpu_info, pod_info = _fam(n.GPU_INFO), _fam(n.POD_INFO)
        attribution = self.attribution
        for g in snap.gpus:
            owners = attribution.owners(g.uuid, g.index, g.minor_number)
            ident = owners[0] if len(owners) == 1 else UNATTRIBUTED
            labels = self._labels(g, ident)
            base = labels.base
            for spec, fam in sig_fams:
                v = getattr(g, spec.attr)
                if v is None:
                    continue
                v = v / spec.div if spec.div != 1.0 else v * spec.mul
                if spec.floor:
                    v = math.floor(v)
                fam.samples.append(Sample(spec.sample, base, v, ts))
            reasons = g.clocks_event_reasons
            if reasons is not None:
                if dcgm:
                    throttle.samples.append(Sample(throttle.name, base, reasons, ts))
                else:
                    for rl, bit in labels.reasons:
                        throttle.samples.append(
                            Sample(throttle.name, rl, 1.0 if reasons & bit else 0.0, ts))
            if not dcgm and g.xid_errors:
                for code, count in sorted(g.xid_errors.items()):
                    xl = self._cached(("xid", labels.key, code),
                                      lambda b=base, c=code: {**b, "xid": str(c)})
                    xid.samples.append(Sample(n.XID_ERRORS[0], xl, count, ts))
            if not dcgm and self.process_metrics and g.processes:
                self._processes(g.processes, labels, proc_mem, proc_sm, ts)
            gpu_info.samples.append(Sample(n.GPU_INFO[0], self._cached(
                ("info", labels.key, g.mig_enabled),
                lambda g=g, ident=ident: self._info_labels(g, ident)), 1, ts))
            for owner in owners:
                pl = self._cached(("pod", labels.key, owner),
                                  lambda s=labels.short, o=owner: {**s,
                                                                   **self._identity_labels(o)})
                pod_info.samples.append(Sample(n.POD_INFO[0], pl, 1, ts))
            for m in g.mig_devices:
                m_owners = attribution.owners(m.uuid, -1, None) or owners
                m_ident = m_owners[0] if len(m_owners) == 1 else UNATTRIBUTED
                m_labels = self._labels(g, m_ident)
                m_base = m_labels.base
                if dcgm:
                    ml = {**m_base, "GPU_I_PROFILE": m.profile, "GPU_I_ID": str(m.gpu_instance_id)}
                    for attr, value, div in (("memory_used_bytes", m.memory_used_bytes, n.MIB),
                                             ("memory_free_bytes", m.memory_free_bytes, n.MIB),
                                             ("memory_total_bytes", m.memory_total_bytes, n.MIB),
                                             ("utilization_percent", m.utilization_percent, 1)):
                        fam = by_attr.get(attr)
                        if value is not None and fam is not None:
                            fam.samples.append(Sample(fam.name, ml, math.floor(value / div), ts))
                    continue
                ml = {**m_base, "gpu_instance_id": str(m.gpu_instance_id),
                      "compute_instance_id": str(m.compute_instance_id), "mig_uuid": m.uuid,
                      "profile": m.profile}
                for fam, value, div in ((mig_used, m.memory_used_bytes, 1),
                                        (mig_free, m.memory_free_bytes, 1),
                                        (mig_total, m.memory_total_bytes, 1),
                                        (mig_util, m.utilization_percent, 100)):
                    if value is not None:
                        fam.samples.append(Sample(fam.name, ml, value / div if div != 1 else value,
                                                  ts))
                if self.process_metrics and m.processes:
                    self._processes(m.processes, m_labels, proc_mem, proc_sm, ts)
            for owner in mig_only_owners(g, attribution, owners):
                pl = self._cached(("pod", labels.key, owner),
                                  lambda s=labels.short, o=owner: {**s,
                                                                   **self._identity_labels(o)})
                pod_info.samples.append(Sample(n.POD_INFO[0], pl, 1, ts))
        fams: list[Metric] = [f for _, f in sig_fams]
        fams.append(throttle)
        if not dcgm:
            fams += [xid, proc_mem, proc_sm, mig_used, mig_free, mig_total, mig_util]
        fams += [gpu_info, pod_info]
        return [f for f in fams if f.samples]

    def _info_labels(self, g: GpuReading, ident: Identity) -> dict[str, str]:
        info = self._info
        labels = {
            "gpu": str(g.index), self._uuid_key: g.uuid, "name": g.name,
            "pci_bus_id": g.pci_bus_id, "driver_version": info.driver_version,
            "cuda_driver_version": info.cuda_driver_version,
            "mig_mode": "enabled" if g.mig_enabled else "disabled",
        }
        if self.hostname:
            labels["hostname"] = self.hostname
        labels.update(self._identity_labels(ident))
        return labels

    def _processes(self, procs: Iterable, labels: _GpuLabels, mem: Metric, sm: Metric,
                   ts: float | None) -> None:
        base = labels.base
        for p in procs:
            pl = self._cached(("pid", labels.key, p.pid), lambda p=p: {**base, "pid": str(p.pid)})
            if p.memory_used_bytes is not None:
                mem.samples.append(Sample(mem.name, pl, p.memory_used_bytes, ts))
            if p.sm_utilization_percent is not None:
                sm.samples.append(Sample(sm.name, pl, p.sm_utilization_percent / 100, ts))

    def _health_labels(self, index: int, uuid: str) -> Labels:
        return self._cached(("health", index, uuid),
                            lambda: {**self._exporter_labels, "gpu": str(index),
                                     self._uuid_key: uuid})

    def _health(self, snap: Snapshot | None, *, up: bool, duration: float | None,
                ts: float | None) -> list[Metric]:
        el = self._exporter_labels
        fams: list[Metric] = []

        def gauge(spec: tuple[str, str, str], value: float, labels: dict[str, str] = el) -> None:
            f = _fam(spec)
            f.samples.append(Sample(spec[0], labels, value, ts))
            fams.append(f)

        gauge(n.UP, 1.0 if up else 0.0)
        gauge(n.GPUS, float(self._gpus_visible if snap is not None else 0))
        if self._last_success is not None:
            gauge(n.LAST_SUCCESS, self._last_success)
        if duration is not None:
            gauge(n.DURATION, duration)
        if snap is not None:
            gpu_up, unsupported = _fam(n.GPU_UP), _fam(n.UNSUPPORTED)
            for g in snap.gpus:
                short = self._health_labels(g.index, g.uuid)
                gpu_up.samples.append(Sample(n.GPU_UP[0], short, 1.0, ts))
                unsupported.samples.append(Sample(n.UNSUPPORTED[0], short, g.unsupported_calls, ts))
            for fail in snap.failures:
                short = self._health_labels(fail.index, fail.uuid)
                gpu_up.samples.append(Sample(n.GPU_UP[0], short, 0.0, ts))
            fams += [f for f in (gpu_up, unsupported) if f.samples]
        errors = _fam(n.NVML_ERRORS)
        with self._stats_lock:
            counts = dict.fromkeys(n.KNOWN_ERROR_KINDS, 0)
            for source in (self.backend.error_counts, self._extra_errors):
                for kind, count in list(source.items()):
                    counts[kind] = counts.get(kind, 0) + count
            busy = self._busy
        for kind in sorted(counts):
            kl = self._cached(("kind", kind), lambda k=kind: {**el, "kind": k})
            errors.samples.append(Sample(n.NVML_ERRORS[0], kl, counts[kind], ts))
        fams.append(errors)
        inits = _fam(n.INITS)
        for result in ("failure", "success"):
            rl = self._cached(("result", result), lambda r=result: {**el, "result": r})
            inits.samples.append(Sample(n.INITS[0], rl, self._inits[result], ts))
        fams.append(inits)
        busy_f = _fam(n.BUSY)
        busy_f.samples.append(Sample(n.BUSY[0], el, busy, ts))
        fams.append(busy_f)
        fams.extend(self._mapping_health(ts))
        info = _fam(n.EXPORTER_INFO)
        info.samples.append(Sample(n.EXPORTER_INFO[0], self._cached(("exporter",), lambda: {
            **el, "version": __version__, "naming": self.naming,
            "attribution": self.attribution.mode,
            "backend": self.backend.name, "driver_version": self._info.driver_version,
            "cuda_driver_version": self._info.cuda_driver_version,
            "nvml_version": self._info.nvml_version,
        }), 1, ts))
        fams.append(info)
        return fams

    def _mapping_health(self, ts: float | None) -> list[Metric]:
        a = self.attribution
        if a.mode != "node":
            return []
        up = _fam(n.MAPPING_UP)
        up.samples.append(Sample(n.MAPPING_UP[0], {}, 1.0 if getattr(a, "up", False) else 0.0, ts))
        fams: list[Metric] = [up]
        last = getattr(a, "last_success_timestamp", None)
        if last is not None:
            f = _fam(n.MAPPING_LAST_SUCCESS)
            f.samples.append(Sample(n.MAPPING_LAST_SUCCESS[0], {}, last, ts))
            fams.append(f)
        errors = _fam(n.MAPPING_ERRORS)
        for reason, count in sorted(dict(getattr(a, "errors", {})).items()):
            errors.samples.append(Sample(n.MAPPING_ERRORS[0], {"reason": reason}, count, ts))
        if errors.samples:
            fams.append(errors)
        return fams


def mig_only_owners(g: GpuReading, attribution: Attribution,
                    gpu_owners: tuple[Identity, ...]) -> list[Identity]:
    """Owners of a GPU's MIG devices that do not own the whole GPU (for sdobs_gpu_pod_info)."""
    extra: list[Identity] = []
    for m in g.mig_devices:
        for owner in attribution.owners(m.uuid, -1, None):
            if owner not in gpu_owners and owner not in extra:
                extra.append(owner)
    return extra


def _fam(spec: tuple[str, str, str]) -> _Family:
    family, _sample, typ = _family_spec(spec[0], spec[1])
    return _Family(family, spec[2], typ)
