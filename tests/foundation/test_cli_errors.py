"""The sdobs command prints the project's own errors as one sentence and nothing else.

A missing Knative dialect, an unknown price-table spec or too little history are the user's to
fix and come as :class:`sdobs.errors.NotFound`; a ``KeyError`` or ``IndexError`` from a bug is
not the user's and must keep its traceback instead of reading like advice.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import sdobs.knative.cli
from sdobs.capacity.cost import UnknownSpec
from sdobs.capacity.history import HistoryError
from sdobs.cli import main
from sdobs.errors import NotFound
from sdobs.knative.detect import NoDialectFound


@pytest.mark.parametrize("bug", [KeyError("revision"), IndexError("list index out of range")])
def test_a_programming_lookup_error_is_not_printed_as_a_user_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        bug: LookupError) -> None:
    def run(args: object) -> int:
        raise bug

    monkeypatch.setattr(sdobs.knative.cli, "run", run)
    with pytest.raises(type(bug)):
        main(["dialect", "--prometheus-url", "http://127.0.0.1:9"])
    assert "sdobs dialect:" not in capsys.readouterr().err


def test_a_programming_key_error_shows_its_traceback() -> None:
    code = ("import sys, sdobs.knative.cli as k\n"
            "def run(args): return {}['revision']\n"
            "k.run = run\n"
            "from sdobs.cli import main; sys.exit(main(['dialect']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "KeyError: 'revision'" in out.stderr
    assert "sdobs dialect:" not in out.stderr


def test_the_projects_not_found_errors_are_lookup_errors_the_command_prints() -> None:
    for error in (NoDialectFound, UnknownSpec, HistoryError):
        assert issubclass(error, NotFound) and issubclass(error, LookupError), error


@pytest.mark.prometheus
def test_no_knative_metrics_is_still_one_sentence(local_prometheus) -> None:
    prom = local_prometheus()
    out = subprocess.run([sys.executable, "-m", "sdobs.cli", "query", "request_rate",
                          "--prometheus-url", prom.url],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith("sdobs query: no Knative metrics found in Prometheus at ")
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_a_programming_value_error_shows_its_traceback() -> None:
    code = ("import sys, sdobs.knative.cli as k\n"
            "def run(args): return int('not a number')\n"
            "k.run = run\n"
            "from sdobs.cli import main; sys.exit(main(['dialect']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "ValueError: invalid literal for int()" in out.stderr
    assert "sdobs dialect:" not in out.stderr


def test_a_bad_range_is_still_one_sentence() -> None:
    # --range is read before any Prometheus is asked, so no server is needed here.
    out = subprocess.run([sys.executable, "-m", "sdobs.cli", "query", "request_rate",
                          "--range", "5x", "--prometheus-url", "http://127.0.0.1:9"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith("sdobs query: --range: '5x' is not a duration")
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_user_input_errors_are_the_projects_own_types() -> None:
    from sdobs.catalog import Catalog, Selection
    from sdobs.cli import is_user_error
    from sdobs.duration import parse_duration
    from sdobs.errors import InputError
    from sdobs.sim.manifest import ManifestError

    with pytest.raises(InputError):
        parse_duration("5x", "--range")
    with pytest.raises(InputError, match="cannot group by 'bogus'"):
        Catalog("opencensus").request_rate(Selection(), by=("bogus",))
    assert is_user_error(ManifestError("spec.name", "is required"))  # a project ValueError type
    assert not is_user_error(ValueError("invalid literal for int()"))
    assert not is_user_error(KeyError("revision"))
