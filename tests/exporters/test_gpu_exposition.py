"""Exact exposition of the GPU exporter over a fake NVML, in both naming modes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from gpu_fake_nvml import MIB, FakeGpu, FakeMig, FakeNvml, two_gpus
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families
from sdobs_exporters.gpu import GpuCollector, Identity, NvmlBackend, naming

GOLDEN = Path(__file__).parent / "golden"
IDENTITY = Identity(namespace="sd", pod="sd-00001-deployment-7d9f5c-x2x9q", container="webui",
                    service="sd", configuration="sd", revision="sd-00001")


def collector(fake: FakeNvml, mode: str = "default", **kwargs) -> GpuCollector:
    kwargs.setdefault("identity", IDENTITY)
    return GpuCollector(NvmlBackend(fake), naming=mode, hostname="node-a",
                        clock=lambda: 1700000000.0, **kwargs)


def stable(text: bytes) -> str:
    """The exposition with the one value that depends on the machine (the duration) masked."""
    return re.sub(r"(sdobs_gpu_exporter_collection_duration_seconds\{[^}]*\}) \S+",
                  r"\1 <duration>", text.decode())


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SDOBS_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"exposition differs from {path}"


@pytest.mark.parametrize("mode", naming.NAMINGS)
def test_exposition_matches_golden_file(mode: str) -> None:
    text = stable(collector(two_gpus(), mode).render())
    check_golden(f"gpu_{mode}.prom", text)


def test_default_names_units_and_labels() -> None:
    text = collector(two_gpus()).render().decode()
    gpu0 = ('configuration="sd",container="webui",gpu="0",namespace="sd",'
            'pod="sd-00001-deployment-7d9f5c-x2x9q",revision="sd-00001",service="sd",'
            'uuid="GPU-11111111-2222-3333-4444-555555555555"')
    for line in (
        f"sdobs_gpu_utilization_ratio{{{gpu0}}} 0.57",
        f"sdobs_gpu_memory_used_bytes{{{gpu0}}} 1.0356785152e+10",  # 9877 MiB
        f"sdobs_gpu_power_watts{{{gpu0}}} 92.38",
        f"sdobs_gpu_energy_joules_total{{{gpu0}}} 123456.789",
        f"sdobs_gpu_sm_clock_hertz{{{gpu0}}} 1.695e+09",
        f"sdobs_gpu_temperature_celsius{{{gpu0}}} 55.0",
        "# TYPE sdobs_gpu_energy_joules_total counter",
        "# TYPE sdobs_gpu_utilization_ratio gauge",
    ):
        assert line in text.splitlines(), line
    # the info series to join on
    assert ('sdobs_gpu_pod_info{configuration="sd",container="webui",gpu="0",namespace="sd",'
            'pod="sd-00001-deployment-7d9f5c-x2x9q",revision="sd-00001",service="sd",'
            'uuid="GPU-11111111-2222-3333-4444-555555555555"} 1.0') in text


def test_dcgm_names_units_and_labels() -> None:
    text = collector(two_gpus(), "dcgm").render().decode()
    gpu0 = ('DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="node-a",'
            'UUID="GPU-11111111-2222-3333-4444-555555555555",container="webui",device="nvidia0",'
            'gpu="0",modelName="NVIDIA A10",namespace="sd",pci_bus_id="00000000:00:1E.0",'
            'pod="sd-00001-deployment-7d9f5c-x2x9q",serving_knative_dev_configuration="sd",'
            'serving_knative_dev_revision="sd-00001",serving_knative_dev_service="sd"')
    lines = text.splitlines()
    for line in (
        f"DCGM_FI_DEV_GPU_UTIL{{{gpu0}}} 57.0",
        f"DCGM_FI_DEV_FB_USED{{{gpu0}}} 9877.0",
        f"DCGM_FI_DEV_FB_FREE{{{gpu0}}} 13151.0",
        f"DCGM_FI_DEV_POWER_USAGE{{{gpu0}}} 92.38",
        f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{gpu0}}} 1.23456789e+08",
        f"DCGM_FI_DEV_SM_CLOCK{{{gpu0}}} 1695.0",
        f"DCGM_FI_DEV_GPU_TEMP{{{gpu0}}} 55.0",
        f"DCGM_FI_DEV_XID_ERRORS{{{gpu0}}} 0.0",
        "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION untyped",
    ):
        assert line in lines, line
    assert "sdobs_gpu_utilization_ratio" not in text
    assert 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{' in text
    # GPU 1 has no ECC: no series for it rather than a made-up zero
    assert not any(line.startswith("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL") and 'gpu="1"' in line
                   for line in lines)


#: The exporter's own health families, the same in both naming modes.
_EXPORTER = ("up", "gpu_up", "gpus", "info", "busy_scrapes", "collection_duration_seconds",
             "last_success_timestamp_seconds", "nvml_errors", "nvml_initializations",
             "unsupported_calls")
_BOTH = {f"sdobs_gpu_exporter_{n}" for n in _EXPORTER} | {"sdobs_gpu_info", "sdobs_gpu_pod_info"}
#: Every family two fake GPUs expose, by naming mode (counters without ``_total``, as parsed).
FAMILIES = {
    "default": _BOTH | {f"sdobs_gpu_{n}" for n in (
        "utilization_ratio", "memory_copy_utilization_ratio", "memory_used_bytes",
        "memory_free_bytes", "memory_reserved_bytes", "memory_total_bytes", "power_watts",
        "power_limit_watts", "energy_joules", "temperature_celsius", "sm_clock_hertz",
        "memory_clock_hertz", "pcie_receive_bytes", "pcie_transmit_bytes", "pcie_replays",
        "ecc_corrected_errors", "ecc_uncorrected_errors", "retired_pages_single_bit",
        "retired_pages_double_bit", "remapped_rows_correctable", "remapped_rows_uncorrectable",
        "row_remap_failure", "row_remap_pending", "throttle_reason_active",
        "process_memory_used_bytes", "process_sm_utilization_ratio")},
    "dcgm": _BOTH | {f"DCGM_FI_DEV_{n}" for n in (
        "GPU_UTIL", "MEM_COPY_UTIL", "FB_USED", "FB_FREE", "FB_RESERVED", "FB_TOTAL",
        "POWER_USAGE", "ENFORCED_POWER_LIMIT", "TOTAL_ENERGY_CONSUMPTION", "GPU_TEMP",
        "SM_CLOCK", "MEM_CLOCK", "PCIE_REPLAY_COUNTER", "ECC_SBE_VOL_TOTAL", "ECC_DBE_VOL_TOTAL",
        "RETIRED_SBE", "RETIRED_DBE", "CORRECTABLE_REMAPPED_ROWS", "UNCORRECTABLE_REMAPPED_ROWS",
        "ROW_REMAP_FAILURE", "ROW_REMAP_PENDING", "CLOCK_THROTTLE_REASONS", "XID_ERRORS")},
}


@pytest.mark.parametrize("mode", naming.NAMINGS)
def test_both_formats_parse(mode: str) -> None:
    c = collector(two_gpus(), mode)
    families = list(text_string_to_metric_families(c.render().decode()))
    assert {f.name for f in families} == FAMILIES[mode]
    om = list(om_parse(c.render("openmetrics").decode()))
    assert {f.name for f in om} >= {"sdobs_gpu_exporter_up", "sdobs_gpu_exporter_nvml_errors"}


def test_every_family_name_is_valid() -> None:
    for name in naming.all_family_names():
        typ = "counter" if name.endswith("_total") else "gauge"
        Metric(name.removesuffix("_total"), "x", typ)  # validates the name


@pytest.mark.prometheus
def test_default_mode_passes_promtool_lint() -> None:
    text = collector(two_gpus()).render()
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          check=False, timeout=30)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_unattributed_gpus_carry_no_empty_labels() -> None:
    c = collector(two_gpus(), identity=Identity())
    text = c.render().decode()
    assert 'sdobs_gpu_utilization_ratio{gpu="0",uuid="GPU-11111111-2222-3333-4444-555555555555"}' \
        ' 0.57' in text
    assert "sdobs_gpu_pod_info" not in text
    assert 'pod=""' not in text


def test_mig_instances_in_both_modes() -> None:
    fake = FakeNvml([FakeGpu(
        0, "GPU-aaaaaaaa-0000-0000-0000-000000000000", name="NVIDIA A100-SXM4-40GB", mig_mode=1,
        unsupported={"nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetMemoryInfo"},
        migs=[FakeMig("MIG-bbbbbbbb-0000-0000-0000-000000000001", 7, processes=[(77, 900 * MIB)]),
              None,
              FakeMig("MIG-bbbbbbbb-0000-0000-0000-000000000002", 8, name="NVIDIA A100 MIG 2g.10gb",
                      memory=(9728 * MIB, 0, 9728 * MIB), utilization=(40, 10))],
    )])
    text = collector(fake).render().decode()
    common = ('compute_instance_id="0",configuration="sd",container="webui",gpu="0",'
              'gpu_instance_id="7",mig_uuid="MIG-bbbbbbbb-0000-0000-0000-000000000001",'
              'namespace="sd",pod="sd-00001-deployment-7d9f5c-x2x9q",profile="1g.5gb",'
              'revision="sd-00001",service="sd",uuid="GPU-aaaaaaaa-0000-0000-0000-000000000000"')
    assert f"sdobs_gpu_mig_memory_used_bytes{{{common}}} 1.073741824e+09" in text
    assert 'sdobs_gpu_mig_utilization_ratio{' in text and 'profile="2g.10gb"' in text
    assert 'profile="1g.5gb"' not in "".join(
        line for line in text.splitlines() if line.startswith("sdobs_gpu_mig_utilization_ratio"))
    assert "sdobs_gpu_utilization_ratio{" not in text  # NVML gives no utilisation on a MIG parent
    assert "sdobs_gpu_memory_used_bytes{" not in text  # nor memory without privileges
    assert 'sdobs_gpu_process_memory_used_bytes{' in text and 'pid="77"' in text
    assert 'sdobs_gpu_info{' in text and 'mig_mode="enabled"' in text
    dcgm = collector(fake, "dcgm").render().decode()
    assert any(line.startswith("DCGM_FI_DEV_FB_USED{") and 'GPU_I_ID="7"' in line
               and 'GPU_I_PROFILE="1g.5gb"' in line and line.endswith(" 1024.0")
               for line in dcgm.splitlines())
    assert any(line.startswith("DCGM_FI_DEV_GPU_UTIL{") and 'GPU_I_ID="8"' in line
               and line.endswith(" 40.0") for line in dcgm.splitlines())


def test_throttle_reasons_and_xid() -> None:
    fake = two_gpus()
    fake.gpus[0].reasons = 0x4 | 0x40
    c = collector(fake)
    c.render()
    fake.xid(fake.gpus[0].uuid, 79)
    fake.xid(fake.gpus[0].uuid, 79)
    fake.xid(fake.gpus[0].uuid, 13)
    text = c.render().decode()
    active = {m.group(1) for m in re.finditer(
        r'sdobs_gpu_throttle_reason_active\{[^}]*gpu="0"[^}]*reason="([a-z_]+)"[^}]*\} 1.0', text)}
    assert active == {"sw_power_cap", "hw_thermal_slowdown"}
    assert re.search(r'sdobs_gpu_xid_errors_total\{[^}]*gpu="0"[^}]*xid="79"\} 2.0', text)
    assert re.search(r'sdobs_gpu_xid_errors_total\{[^}]*gpu="0"[^}]*xid="13"\} 1.0', text)
    fake.xid(fake.gpus[0].uuid, 48)
    dcgm = collector(fake, "dcgm")
    dcgm.render()
    fake.xid(fake.gpus[0].uuid, 48)
    text = dcgm.render().decode()
    assert re.search(r'DCGM_FI_DEV_XID_ERRORS\{[^}]*gpu="0"[^}]*\} 48.0', text)
    assert re.search(r'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS\{[^}]*gpu="0"[^}]*\} 68.0', text)


def test_samples_can_be_timestamped_for_backfill() -> None:
    fams = collector(two_gpus()).families(timestamp=1700000123.5)
    assert all(s.timestamp == 1700000123.5 for f in fams for s in f.samples)
    up = next(f for f in fams if f.name == "sdobs_gpu_exporter_up")
    assert up.samples[0].value == 1.0
