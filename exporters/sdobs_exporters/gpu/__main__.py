"""Command line of the GPU exporter: ``python -m sdobs_exporters.gpu`` / ``sdobs-gpu-exporter``.

Every option has an environment variable (shown in ``--help``) so manifests can configure it
without rewriting the container's command.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType

from . import naming
from .attribution import Identity, PodResourcesAttribution, StaticAttribution
from .collector import GpuCollector
from .podresources import DEFAULT_SOCKET
from .readings import Backend
from .server import DEFAULT_PORT, ExporterServer

log = logging.getLogger("sdobs_exporters.gpu")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sdobs-gpu-exporter",
        description="Prometheus exporter for NVIDIA GPUs, attributed to Knative revisions.",
    )
    p.add_argument("--listen", default=_env("SDOBS_GPU_LISTEN", f"127.0.0.1:{DEFAULT_PORT}"),
                   help="HOST:PORT to serve /metrics and /healthz on; use 0.0.0.0:PORT in a pod "
                        "(env SDOBS_GPU_LISTEN, default %(default)s)")
    p.add_argument("--naming", choices=naming.NAMINGS, default=_env("SDOBS_GPU_NAMING", "default"),
                   help="metric names: Prometheus-style sdobs_gpu_* or dcgm-exporter's DCGM_FI_* "
                        "(env SDOBS_GPU_NAMING, default %(default)s)")
    p.add_argument("--mode", choices=("sidecar", "node", "none"),
                   default=_env("SDOBS_GPU_MODE", "sidecar"),
                   help="attribution: sidecar reads K_SERVICE/K_REVISION/POD_NAME from the "
                        "environment, node asks the kubelet pod-resources API "
                        "(env SDOBS_GPU_MODE, default %(default)s)")
    p.add_argument("--backend", choices=("nvml", "simulated"),
                   default=_env("SDOBS_GPU_BACKEND", "nvml"),
                   help="device backend (env SDOBS_GPU_BACKEND, default %(default)s)")
    p.add_argument("--simulated-gpus", type=int, default=int(_env("SDOBS_GPU_SIMULATED", "1")),
                   help="with --backend simulated: how many GPUs (default %(default)s)")
    p.add_argument("--simulated-model", default=_env("SDOBS_GPU_SIMULATED_MODEL", "a10"),
                   help="with --backend simulated: GPU model key (default %(default)s)")
    p.add_argument("--pod-resources-socket",
                   default=_env("SDOBS_GPU_POD_RESOURCES_SOCKET", DEFAULT_SOCKET),
                   help="node mode: kubelet socket (env SDOBS_GPU_POD_RESOURCES_SOCKET, "
                        "default %(default)s)")
    p.add_argument("--mapping-refresh", type=float,
                   default=float(_env("SDOBS_GPU_MAPPING_REFRESH", "10")),
                   help="node mode: seconds between pod-resources List calls (default %(default)s)")
    p.add_argument("--mapping-ttl", type=float, default=float(_env("SDOBS_GPU_MAPPING_TTL", "300")),
                   help="node mode: seconds the last good mapping is kept while the kubelet does "
                        "not answer (default %(default)s)")
    p.add_argument("--hostname", default=_env("NODE_NAME", "") or socket.gethostname(),
                   help="node name for the Hostname/hostname labels (env NODE_NAME, default the "
                        "host name)")
    p.add_argument("--no-gpu-processes", action="store_true",
                   default=_flag("SDOBS_GPU_NO_PROCESSES"),
                   help="do not export per-process GPU memory and SM utilisation")
    p.add_argument("--no-xid-events", action="store_true", default=_flag("SDOBS_GPU_NO_XID"),
                   help="do not register for XID events")
    p.add_argument("--no-pcie-counters", action="store_true", default=_flag("SDOBS_GPU_NO_PCIE"),
                   help="do not read the PCIe byte counters")
    p.add_argument("--no-self-metrics", action="store_true", default=_flag("SDOBS_GPU_NO_SELF"),
                   help="do not export the exporter's own process_* and python_* metrics")
    p.add_argument("--lock-timeout", type=float, default=float(_env("SDOBS_GPU_LOCK_TIMEOUT", "5")),
                   help="seconds a scrape waits for a running collection before it answers with "
                        "health series only (default %(default)s)")
    p.add_argument("--log-level", default=_env("SDOBS_GPU_LOG_LEVEL", "info"),
                   choices=("debug", "info", "warning", "error"), help="log level")
    return p


def _listen(value: str, parser: argparse.ArgumentParser) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        parser.error(f"--listen must be HOST:PORT, for example 0.0.0.0:{DEFAULT_PORT}; "
                     f"got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def build_collector(args: argparse.Namespace) -> GpuCollector:
    """The collector the options describe (used by main and by tests)."""
    backend: Backend
    if args.backend == "simulated":
        from .simulated import SimulatedBackend, SimulatedGpu

        gpus = [SimulatedGpu.create(args.simulated_model, index=i, seed=args.hostname)
                for i in range(max(args.simulated_gpus, 0))]
        backend = SimulatedBackend(gpus)
    else:
        from .nvml import NvmlBackend

        backend = NvmlBackend(process_metrics=not args.no_gpu_processes,
                              xid_events=not args.no_xid_events,
                              pcie_counters=not args.no_pcie_counters)
    if args.mode == "node":
        attribution = PodResourcesAttribution(args.pod_resources_socket,
                                              refresh_interval=args.mapping_refresh,
                                              ttl=args.mapping_ttl)
    elif args.mode == "sidecar":
        attribution = StaticAttribution(Identity.from_env())
    else:
        attribution = StaticAttribution()
    return GpuCollector(backend, naming=args.naming, attribution=attribution,
                        hostname=args.hostname, process_metrics=not args.no_gpu_processes,
                        lock_timeout=args.lock_timeout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    host, port = _listen(args.listen, parser)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        collector = build_collector(args)
    except (ValueError, ImportError) as exc:
        print(f"sdobs-gpu-exporter: {exc}", file=sys.stderr)
        return 2
    try:
        server = ExporterServer(collector, host, port, process_metrics=not args.no_self_metrics)
    except OSError as exc:
        print(f"sdobs-gpu-exporter: cannot listen on {host}:{port}: {exc.strerror or exc}; "
              "choose another address with --listen", file=sys.stderr)
        return 1
    ok, _ = collector.healthy()  # initialise NVML now, so the first log says where we stand
    attribution = collector.attribution
    if isinstance(attribution, StaticAttribution) and args.mode == "sidecar":
        ident = attribution.identity
        if not ident.revision:
            log.warning("K_REVISION is not set: GPU series carry no Knative revision; run as a "
                        "container of a Knative Service or set K_SERVICE/K_CONFIGURATION/"
                        "K_REVISION and POD_NAME/POD_NAMESPACE")
    log.info("serving %s/metrics (naming %s, attribution %s, backend %s, device library %s)",
             server.url, args.naming, attribution.mode, collector.backend.name,
             "ready" if ok else "unavailable")

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.shutdown()
        collector.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
