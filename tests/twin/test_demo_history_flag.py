"""``sdobs demo --history`` (and its default, ``$SDOBS_DEMO_HISTORY``): bad values are refused
with one sentence before anything starts; a good one shortens the scenario's past."""

from __future__ import annotations

import argparse

import pytest

from sdobs.cli import main
from sdobs.demo import HISTORY_ENV, add_arguments, history_length
from sdobs.prom.harness import free_port


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_flag_wins_over_the_environment_and_none_means_the_scenarios(monkeypatch) -> None:
    monkeypatch.delenv(HISTORY_ENV, raising=False)
    assert history_length(_args()) is None
    monkeypatch.setenv(HISTORY_ENV, "3h")
    assert history_length(_args()) == 3 * 3600
    assert history_length(_args("--history", "90m")) == 90 * 60


@pytest.mark.parametrize("value", ["0", "-1h", "soon", "32d"])
def test_a_bad_flag_is_refused_in_one_sentence(value, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--history", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--history" in err[-1], err


def test_a_bad_environment_value_is_refused_naming_the_variable(tmp_path, monkeypatch,
                                                               capsys) -> None:
    monkeypatch.setenv(HISTORY_ENV, "two hours")
    rc = main(["demo", "--dir", str(tmp_path / "state"), "--no-app",
               "--prometheus-port", str(free_port()), "--gateway-port", str(free_port()),
               "--twin-metrics-port", str(free_port()), "--alertmanager-port", str(free_port()),
               "--fault-port", str(free_port())])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("sdobs demo: SDOBS_DEMO_HISTORY") and "\n" not in err, err
    assert "is not a duration" in err and not (tmp_path / "state" / "prometheus").exists()
