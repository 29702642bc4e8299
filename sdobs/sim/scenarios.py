"""Scenarios for the twin: which Services (real Knative manifests), what traffic, for how long.

A scenario is a YAML file::

    duration: 24h            # simulated history, ending at --end (default: now)
    warmup: 20m              # simulated first, not rendered: pods and windows settle
    scrape_interval: 30s
    dialects: [opencensus]   # or opentelemetry, opentelemetry-early, several
    seed: 7
    utc_offset_hours: 8      # the users' time zone, for daily profiles
    cluster: {activators: 1, platform_cold_start: {}}
    # autoscaler_restarts: [6h]  # (in cluster) the autoscaler restarts at these simulated times
    services:
    - manifest: knative-sd-demo.yaml     # relative to the scenario file
      traffic:
        rate: 0.2                        # requests/s at the daily peak (Poisson)
        diurnal: {peak_hour: 14, floor: 0.25, sharpness: 1}
        bursts: {per_day: 4, multiplier: 3, duration: 300}
        replay: rates.csv                # instead of rate: a recorded requests/s series
        closed: [{clients: 5, total: 20, at: 1h}]    # hey -c 5 -n 20, one hour in
        mix: [{weight: 8, steps: 20}, {weight: 2, steps: 30, width: 768, height: 768}]
        unknown_sampler: 0.003           # share answered 400
        bad_body: 0.001                  # share answered 422
      copies: 50                         # 50 Services from this manifest, <name>-001 ... -050

The default scenario (``scenarios/default.yaml``) is the reference service plus a fleet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from sdobs.duration import DurationError, parse_duration
from sdobs.errors import InputError
from sdobs.knative.dialects import Dialect, get_dialect
from sdobs.sim.engine import ServiceLog, SimOptions, simulate_service
from sdobs.sim.manifest import ClusterConfig, ServiceSpec, load_files
from sdobs.sim.servicetime import Txt2Img
from sdobs.sim.traffic import Bursts, ClosedLoop, Diurnal, Poisson, Replay, RequestMix, Traffic

SCENARIO_DIR = Path(__file__).parent / "scenarios"
#: The reference Knative Service (Alibaba's ASK + Knative SD best practice), verbatim.
REFERENCE_MANIFEST = SCENARIO_DIR / "knative-sd-demo.yaml"
DEFAULT_SCENARIO = SCENARIO_DIR / "default.yaml"


class ScenarioError(InputError):
    """A scenario file the twin cannot use; says which entry is wrong."""


@dataclass(frozen=True)
class ServiceRun:
    """One Service of a scenario and its traffic."""

    service: ServiceSpec
    traffic: Traffic
    initial_pods: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    runs: tuple[ServiceRun, ...]
    duration: float
    warmup: float = 1200.0
    scrape_interval: float = 30.0
    dialects: tuple[Dialect, ...] = ()
    seed: int = 1
    utc_offset_hours: float = 8.0
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def options(self, index: int, start_epoch: float) -> SimOptions:
        """Simulation options of the ``index``-th Service, its history starting at an epoch."""
        run = self.runs[index]
        return SimOptions(duration=self.duration, warmup=self.warmup, seed=self.seed * 1000 + index,
                          start_epoch=start_epoch, cluster=self.cluster,
                          initial_pods=dict(run.initial_pods))


def _seconds(value: Any, where: str) -> float:
    """A duration of the scenario file (sdobs' own format: days and weeks too)."""
    try:
        return parse_duration(value, where)
    except DurationError as exc:
        raise ScenarioError(str(exc)) from None


def _mix(spec: Mapping[str, Any], where: str) -> RequestMix:
    profiles = []
    for i, entry in enumerate(spec.get("mix") or [{"weight": 1, "steps": 20}]):
        entry = dict(entry)
        weight = float(entry.pop("weight", 1))
        known = {"steps", "width", "height", "batch_size", "n_iter", "sampler_name"}
        unknown = set(entry) - known
        if unknown:
            raise ScenarioError(f"{where}.mix[{i}]: unknown keys {sorted(unknown)}; "
                                f"use weight and {sorted(known)}")
        profiles.append((weight, Txt2Img(**entry)))
    return RequestMix(tuple(profiles), unknown_sampler=float(spec.get("unknown_sampler", 0)),
                      bad_body=float(spec.get("bad_body", 0)))


def _traffic(spec: Mapping[str, Any], base: Path, where: str, utc_offset: float) -> Traffic:
    sources: list[Poisson | Replay] = []
    if "rate" in spec:
        diurnal = spec.get("diurnal")
        bursts = spec.get("bursts")
        sources.append(Poisson(
            rate=float(spec["rate"]),
            diurnal=Diurnal(**{"utc_offset_hours": utc_offset, **diurnal}) if diurnal else None,
            bursts=Bursts(**{k: _seconds(v, f"{where}.bursts.duration") if k == "duration"
                             else v for k, v in bursts.items()}) if bursts else None,
        ))
    if "replay" in spec:
        path = (base / spec["replay"]).resolve()
        try:
            sources.append(Replay.from_csv(path))
        except (OSError, ValueError) as exc:
            raise ScenarioError(f"{where}.replay: cannot use {path}: {exc}") from None
    closed = [ClosedLoop(int(c["clients"]), int(c["total"]),
                         start=_seconds(c.get("at", 0), f"{where}.closed.at"),
                         think=_seconds(c.get("think", 0), f"{where}.closed.think"))
              for c in spec.get("closed") or []]
    return Traffic(sources=tuple(sources), closed=tuple(closed), mix=_mix(spec, where))


def copy_service(svc: ServiceSpec, name: str) -> ServiceSpec:
    """``svc`` renamed ``name``: its revisions and traffic targets follow (``sd-a-00001`` →
    ``<name>-00001``), so a fleet of copies has the series a fleet of distinct Services has."""
    def renamed(rev: str) -> str:
        return name + rev[len(svc.name):] if rev.startswith(svc.name) else f"{name}-{rev}"

    revisions = tuple(replace(r, name=renamed(r.name), service=name,
                              configuration=name if r.configuration == svc.name
                              else r.configuration) for r in svc.revisions)
    traffic = tuple(replace(t, revision=renamed(t.revision)) for t in svc.traffic)
    return replace(svc, name=name, revisions=revisions, traffic=traffic)


def _copies(services: list[ServiceSpec], copies: Any, where: str) -> list[ServiceSpec]:
    """A scenario entry's ``copies: N``: N Services per manifest Service, numbered from 001."""
    if copies is None:
        return services
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= 10_000:
        raise ScenarioError(f"{where}.copies must be a whole number from 1 to 10000, "
                            f"got {copies!r}")
    width = max(3, len(str(copies)))
    return [copy_service(svc, f"{svc.name}-{k:0{width}d}") for svc in services
            for k in range(1, copies + 1)]


def load_scenario(path: str | Path = DEFAULT_SCENARIO, *,
                  overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read a scenario file; ``overrides`` replace top-level keys (duration, dialects, ...)."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario {path} is not valid YAML: {exc}") from None
    doc = {**doc, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    base = path.parent
    utc = float(doc.get("utc_offset_hours", 8))
    cluster_doc = doc.get("cluster") or {}
    restarts = cluster_doc.get("autoscaler_restarts") or []
    if not isinstance(restarts, list):
        raise ScenarioError(f"{path.name}: cluster.autoscaler_restarts must be a list of times, "
                            "e.g. [2h, 14h30m]")
    cluster = replace(ClusterConfig(), activators=int(cluster_doc.get("activators", 1)),
                      autoscaler_restarts=tuple(sorted(
                          _seconds(v, f"cluster.autoscaler_restarts[{i}]")
                          for i, v in enumerate(restarts))))
    runs = []
    for i, entry in enumerate(doc.get("services") or []):
        where = f"{path.name}: services[{i}]"
        manifests = entry.get("manifest")
        if not manifests:
            raise ScenarioError(f"{where}: needs a manifest (a Knative Service YAML)")
        files = [base / m for m in ([manifests] if isinstance(manifests, str) else manifests)]
        services, _ = load_files(files, cluster=cluster.autoscaler)
        services = _copies(services, entry.get("copies"), where)
        for svc in services:
            runs.append(ServiceRun(svc, _traffic(entry.get("traffic") or {}, base, where, utc),
                                   initial_pods=dict(entry.get("initial_pods") or {})))
    if not runs:
        raise ScenarioError(f"scenario {path} has no services")
    dialects = doc.get("dialects") or ["opencensus"]
    if isinstance(dialects, str):
        dialects = [d.strip() for d in dialects.split(",") if d.strip()]
    try:
        resolved = tuple(get_dialect(d) for d in dialects)
    except ValueError as exc:
        raise ScenarioError(f"scenario {path}: {exc}") from None
    return Scenario(
        name=str(doc.get("name", path.stem)), runs=tuple(runs),
        duration=_seconds(doc.get("duration", "24h"), "duration"),
        warmup=_seconds(doc.get("warmup", "20m"), "warmup"),
        scrape_interval=_seconds(doc.get("scrape_interval", "30s"), "scrape_interval"),
        dialects=resolved, seed=int(doc.get("seed", 1)), utc_offset_hours=utc, cluster=cluster,
    )


def simulate(scenario: Scenario, start_epoch: float) -> list[ServiceLog]:
    """Run every Service of a scenario in this process (tests, notebooks, what-if replays)."""
    return [simulate_service(run.service, run.traffic, scenario.options(i, start_epoch),
                             pod_id_base=i * 1_000_000, ip_base=i * 65536)
            for i, run in enumerate(scenario.runs)]
