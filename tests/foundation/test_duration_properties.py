"""Duration flags (issue 16, beyond the list): every spelling answers with seconds or a sentence.

Property tests (Hypothesis) of sdobs.duration (the one parser), its bounded flag type, the load
test's duration options and the GPU exporter's, plus regression tests of the flags that were
``type=float`` (``nan``, ``inf``, ``-1`` passed) and of Unicode digits and '1' * 400 (infinity).
"""

from __future__ import annotations

import argparse
import contextlib
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sdobs.cli import main
from sdobs.duration import SECONDS, UNITS, DurationError, parse_duration, seconds_arg
from sdobs.loadtest.cli import parse_duration as loadtest_duration

PROPS = settings(max_examples=400, deadline=None)
any_text = st.one_of(st.text(max_size=16),
                     st.text(alphabet="0123456789.msmhdw²٣ +-e", max_size=10),
                     st.sampled_from(["nan", "inf", "-1", "1e3", "1" * 400, "²d", "٣s", "5m\n",
                                      " 5m ", "1h30m", ".5s", "5.", "", "0"]))


@st.composite
def durations(draw: st.DrawFn) -> tuple[str, float]:
    parts = draw(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(sorted(UNITS))),
                          min_size=1, max_size=4))
    text = "".join(f"{n}{u}" for n, u in parts)
    return text, sum(n * SECONDS[u] for n, u in parts)


@PROPS
@given(any_text)
@example("²d")
@example("٣s")
@example("1" * 400)
@example("9" * 400 + "s")
def test_any_text_is_seconds_or_a_sentence(text: str) -> None:
    try:
        seconds = parse_duration(text, "--flag")
    except DurationError as exc:
        assert str(exc).startswith("--flag: ") and "is not a duration" in str(exc)
        assert "\n" not in str(exc) and len(str(exc)) < 300
    else:
        assert math.isfinite(seconds) and seconds >= 0
        assert all(ch in "0123456789" for ch in text if ch.isdigit())  # ASCII digits only


@PROPS
@given(durations())
def test_written_durations_mean_what_they_say(case: tuple[str, float]) -> None:
    text, want = case
    assert parse_duration(text) == pytest.approx(want)
    assert parse_duration(f" {text} ") == pytest.approx(want)


@PROPS
@given(any_text, st.floats(0, 100), st.floats(100, 10**6), st.booleans())
def test_bounded_flags_answer_in_bounds_or_refuse(text: str, low: float, high: float,
                                                  low_open: bool) -> None:
    parse = seconds_arg(low, high, low_open=low_open)
    try:
        seconds = parse(text)
    except argparse.ArgumentTypeError as exc:
        assert "\n" not in str(exc)
    else:
        assert (low < seconds if low_open else low <= seconds) and seconds <= high


@PROPS
@given(any_text)
def test_command_duration_options_never_raise_anything_else(text: str) -> None:
    with contextlib.suppress(argparse.ArgumentTypeError):
        assert math.isfinite(loadtest_duration(text)) and loadtest_duration(text) >= 0


@PROPS
@given(any_text)
def test_exporter_durations_are_in_bounds_or_refused(text: str) -> None:
    from sdobs_exporters.gpu.settings import seconds

    parse = seconds(0, 300)
    try:
        value = parse(text)
    except ValueError as exc:
        assert str(exc).startswith("seconds from 0 to 300")
    else:
        assert 0 <= value <= 300


@pytest.mark.parametrize("argv", [
    ["dashboards", "upload", "--grafana-url", "http://127.0.0.1:9", "--timeout", "nan"],
    ["dashboards", "upload", "--grafana-url", "http://127.0.0.1:9", "--timeout", "-1"],
    ["query", "request_rate", "--timeout", "inf"],
    ["query", "request_rate", "--range", "nan"],
    ["capacity", "--service", "x", "--slo-p99", "-5"],
    ["capacity", "--service", "x", "--range", "²d"],
    ["app", "--scrape-interval", "0", "--port", "FREE"],
])
def test_bad_duration_flags_are_one_sentence(argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from sdobs.prom.harness import free_port

    # Never the shared default ports, even if a flag were accepted by mistake.
    argv = [str(free_port()) if a == "FREE" else a for a in argv]
    if argv[0] in ("query", "capacity", "app"):
        argv += ["--prometheus-url", f"http://127.0.0.1:{free_port()}", "--timeout", "2"]
        if "--timeout" in argv[:-2]:
            argv = argv[:-2]
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own refusal
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert "duration" in err or "out of range" in err, err
