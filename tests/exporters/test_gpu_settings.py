"""The GPU exporter's settings (issue 16 item 11): flags and SDOBS_GPU_* validated by one layer.

Bad values used to crash with a traceback even for ``--help`` (``SIMULATED=abc``,
``LOCK_TIMEOUT=5s``), pass silently (``MODE=bogus``, ``BACKEND=bogus``, ``--simulated-gpus -3``
serving 0 GPUs with ``up 1``) or hang scrapes (a negative lock timeout). Now every value is
checked wherever it came from and a bad one is one line naming the flag or variable.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from gpu_fake_nvml import two_gpus
from sdobs_exporters.gpu.__main__ import build_parser
from sdobs_exporters.gpu.collector import GpuCollector
from sdobs_exporters.gpu.nvml import NvmlBackend

BAD_ENV = [
    ("SDOBS_GPU_SIMULATED", "abc"), ("SDOBS_GPU_SIMULATED", "-3"), ("SDOBS_GPU_SIMULATED", "0"),
    ("SDOBS_GPU_LOCK_TIMEOUT", "5x"), ("SDOBS_GPU_LOCK_TIMEOUT", "nan"),
    ("SDOBS_GPU_LOCK_TIMEOUT", "-1"), ("SDOBS_GPU_LOCK_TIMEOUT", "inf"),
    ("SDOBS_GPU_MAPPING_TTL", "5 minutes"), ("SDOBS_GPU_MAPPING_REFRESH", "0"),
    ("SDOBS_GPU_LOG_LEVEL", "verbose"), ("SDOBS_GPU_MODE", "bogus"),
    ("SDOBS_GPU_BACKEND", "bogus"), ("SDOBS_GPU_NAMING", "prom"),
    ("SDOBS_GPU_LISTEN", "nope"), ("SDOBS_GPU_LISTEN", "0.0.0.0:99999"),
    ("SDOBS_GPU_NO_XID", "maybe"), ("SDOBS_GPU_SIMULATED", "²"),
]
BAD_FLAGS = [
    ["--lock-timeout", "nan"], ["--lock-timeout", "-1"], ["--simulated-gpus", "-3"],
    ["--mode", "bogus"], ["--backend", "bogus"], ["--mapping-ttl", "1e999"],
    ["--listen", "nope"], ["--log-level", "verbose"], ["--hostname", "a\nb"],
]


def _exporter(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdobs_exporters.gpu", *argv],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=30, check=False)


@pytest.mark.parametrize("name, value", BAD_ENV)
def test_a_bad_variable_is_one_line_naming_it(name: str, value: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser({name: value}).parse_args([])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.count("\n") == 1 and err.startswith("sdobs-gpu-exporter: ")
    assert f"{name} must be " in err and f"not {value!r}" in err


@pytest.mark.parametrize("argv", BAD_FLAGS)
def test_a_bad_flag_is_one_line_naming_it(argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser({}).parse_args(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and f"{argv[0]} must be " in err


def test_help_works_whatever_the_environment_holds() -> None:
    env = dict(BAD_ENV)
    proc = _exporter("--help", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "--lock-timeout SECONDS" in proc.stdout and "SDOBS_GPU_LOCK_TIMEOUT" in proc.stdout
    proc = _exporter("--backend", "simulated", env={"SDOBS_GPU_SIMULATED": "abc"})
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "SDOBS_GPU_SIMULATED must be a whole number from 1 to 64, not 'abc'" in proc.stderr


def test_good_values_from_flags_and_environment() -> None:
    env = {"SDOBS_GPU_LOCK_TIMEOUT": "500ms", "SDOBS_GPU_MAPPING_TTL": "5m",
           "SDOBS_GPU_MAPPING_REFRESH": "2.5", "SDOBS_GPU_MODE": "NODE",
           "SDOBS_GPU_SIMULATED": "3", "SDOBS_GPU_NO_XID": "yes", "SDOBS_GPU_LOG_LEVEL": " ",
           "NODE_NAME": "node-7", "SDOBS_GPU_LISTEN": "[::1]:9500"}
    args = build_parser(env).parse_args([])
    assert args.lock_timeout == 0.5 and args.mapping_ttl == 300 and args.mapping_refresh == 2.5
    assert args.mode == "node" and args.simulated_gpus == 3 and args.no_xid_events is True
    assert args.log_level == "info"  # an empty variable is unset
    assert args.hostname == "node-7" and args.listen_address == ("::1", 9500)
    assert args.no_pcie_counters is False
    flags = build_parser(env).parse_args(["--lock-timeout", "0", "--mode", "sidecar",
                                          "--listen", "0.0.0.0:9402"])
    assert flags.lock_timeout == 0.0 and flags.mode == "sidecar"  # a flag wins
    assert flags.listen == "0.0.0.0:9402"


def test_the_collector_refuses_a_timeout_that_waits_forever() -> None:
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lock_timeout"):
            GpuCollector(NvmlBackend(two_gpus()), lock_timeout=bad)
