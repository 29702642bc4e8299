"""The VictoriaMetrics harness: the store, vmagent and vmalert as owned child processes, with
one-sentence errors on bad input, killed with their owner, stopped by PID."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_harness import _alive

from sdobs.prom.errors import HarnessError
from sdobs.prom.harness import check_port_free
from sdobs.prom.victoria import LocalVictoriaMetrics, LocalVMAgent, LocalVMAlert

# Like Prometheus, VictoriaMetrics is required, not optional: ./run test installs it, and
# without it the harness fails with what to install.
pytestmark = pytest.mark.prometheus


def test_store_imports_refuses_bad_text_and_stops_by_pid(tmp_path: Path) -> None:
    vm = LocalVictoriaMetrics(tmp_path / "vm").start()
    pid, port = vm.pid, vm.port
    try:
        assert vm.import_openmetrics("# TYPE up gauge\nup{job=\"a\"} 1 1717200000\n# EOF\n") == 1
        with pytest.raises(HarnessError, match="timestamp"):
            vm.import_openmetrics("up 1 yesterday\n")
        with pytest.raises(HarnessError, match="already in use"):
            LocalVictoriaMetrics(tmp_path / "other", port=port).start()
    finally:
        vm.stop()
    assert not _alive(pid)
    check_port_free("127.0.0.1", port)


def test_vmagent_rejects_a_bad_scrape_config_in_one_sentence(tmp_path: Path) -> None:
    bad = {"scrape_configs": [{"job_name": "x", "no_such_field": 1,
                               "static_configs": [{"targets": ["127.0.0.1:1"]}]}]}
    agent = LocalVMAgent(tmp_path / "agent", "http://127.0.0.1:1/api/v1/write",
                         scrape_config=bad)
    with pytest.raises(HarnessError, match=r"vmagent exited with code .* no_such_field"):
        agent.start()


def test_vmalert_needs_rule_files() -> None:
    with pytest.raises(HarnessError, match="at least one rule file"):
        LocalVMAlert(None, "http://127.0.0.1:1", rule_files=[])


def test_store_honours_prometheus_staleness_markers(tmp_path: Path) -> None:
    """The demo ends its history's pod series by remote-writing StaleNaN: VM honours it too."""
    import time

    from sdobs.prom.client import PrometheusClient
    from sdobs.prom.remote_write import mark_stale

    now = int(time.time())
    with LocalVictoriaMetrics(tmp_path / "vm") as vm:
        vm.import_openmetrics(f'g{{a="1"}} 5 {now - 60}\ng{{a="1"}} 5 {now - 30}\n')
        client = PrometheusClient(vm.url)
        assert not client.query("g", time=now).empty  # carried forward by the lookback
        assert mark_stale(vm.remote_write_url, [({"__name__": "g", "a": "1"},
                                                 (now - 30) * 1000 + 1)]) == 1
        vm.force_flush()
        assert client.query("g", time=now).empty
        assert client.query("g", time=now - 30)["value"].tolist() == [5]
        client.close()
