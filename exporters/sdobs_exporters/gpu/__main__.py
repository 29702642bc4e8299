"""Command line of the GPU exporter: ``python -m sdobs_exporters.gpu`` / ``sdobs-gpu-exporter``.

Every option has an environment variable (shown in ``--help``) so manifests can configure it
without rewriting the container's command; both are validated by :mod:`.settings`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

from . import settings
from .attribution import Identity, PodResourcesAttribution, StaticAttribution
from .collector import GpuCollector
from .readings import Backend
from .server import ExporterServer

log = logging.getLogger("sdobs_exporters.gpu")


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The command line; its ``parse_args`` returns settings validated from flags and env."""
    return settings.build_parser(environ)


def build_collector(args: argparse.Namespace) -> GpuCollector:
    """The collector the options describe (used by main and by tests)."""
    backend: Backend
    if args.backend == "simulated":
        from .simulated import SimulatedBackend, SimulatedGpu

        gpus = [SimulatedGpu.create(args.simulated_model, index=i, seed=args.hostname)
                for i in range(args.simulated_gpus)]
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
    args = build_parser().parse_args(argv)
    host, port = args.listen_address
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
