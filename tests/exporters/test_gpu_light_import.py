"""The exporter installs light: it runs on the standard library, prometheus-client and pynvml."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import prometheus_client
import pynvml

EXPORTERS = Path(__file__).resolve().parents[2] / "exporters"
HEAVY = ("pandas", "numpy", "grpc", "google.protobuf", "dash", "plotly", "requests", "yaml",
         "scipy", "sdobs")


def run_isolated(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with -S (no site-packages) and a path holding only the two dependencies."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "prometheus_client").symlink_to(Path(prometheus_client.__file__).parent)
    (site / "pynvml.py").symlink_to(Path(pynvml.__file__))
    prelude = textwrap.dedent(f"""
        import sys
        sys.path[:] = [p for p in sys.path if "site-packages" not in p]
        sys.path[:0] = [{str(site)!r}, {str(EXPORTERS)!r}]

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {HEAVY!r} or name in {HEAVY!r}:
                    raise ImportError(f"{{name}} must not be imported by the exporter")
                return None

        sys.meta_path.insert(0, Block())
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([sys.executable, "-S", "-c", prelude + textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def test_collector_renders_with_only_the_two_dependencies(tmp_path: Path) -> None:
    proc = run_isolated("""
        from sdobs_exporters.gpu import GpuCollector, Identity, NvmlBackend, SimulatedBackend
        from sdobs_exporters.gpu import SimulatedGpu, PodResourcesAttribution
        sim = GpuCollector(SimulatedBackend([SimulatedGpu.create("t4")]),
                           identity=Identity(revision="r-00001"))
        assert b"sdobs_gpu_utilization_ratio" in sim.render()
        real = GpuCollector(NvmlBackend())   # the driver library is absent on CI machines
        assert b"sdobs_gpu_exporter_up" in real.render()
        import os, tempfile
        sock = os.path.join(tempfile.mkdtemp(), "kubelet.sock")
        open(sock, "w").close()
        node = GpuCollector(SimulatedBackend([SimulatedGpu.create("t4")]),
                            attribution=PodResourcesAttribution(sock))
        text = node.render().decode()
        assert 'sdobs_gpu_exporter_pod_mapping_errors_total{reason="grpc_missing"} 1.0' in text
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"grpc", "google", "pandas"})
        assert not loaded, loaded
        print("light")
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "light"


def test_module_entry_point_runs_with_only_the_two_dependencies(tmp_path: Path) -> None:
    proc = run_isolated("""
        import runpy
        sys.argv = ["sdobs-gpu-exporter", "--help"]
        runpy.run_module("sdobs_exporters.gpu", run_name="__main__")
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--naming {default,dcgm}" in proc.stdout
