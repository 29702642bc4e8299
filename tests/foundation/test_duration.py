"""One duration parser for every flag and field (sdobs.duration), held to the five it replaced.

The old parsers are copied here as oracles: whatever one of them accepted, the shared parser
accepts with the same value in that place; whatever it refuses, it refuses with one sentence
naming the flag or field. Hypothesis writes the inputs.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sdobs.catalog.gpu import duration_seconds
from sdobs.cli import main
from sdobs.duration import GO_UNITS, PROMQL_UNITS, SECONDS, UNITS, DurationError, parse_duration
from sdobs.loadtest.cli import parse_duration as loadtest_duration
from sdobs.sim.manifest import ManifestError
from sdobs.sim.manifest import parse_duration as manifest_duration
from sdobs.sim.scenarios import REFERENCE_MANIFEST, ScenarioError, load_scenario


# -- the parsers this one replaced (as they were), the oracles -------------------------------------
def old_loadtest(text: str) -> float | None:
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", text)
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
    return float(m.group(1)) * units[m.group(2)] if m else None


def old_manifest(text: str) -> float | None:
    unit = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * unit[m.group(2)]
        pos = m.end()
    return total if text and pos == len(text) else None


def old_capacity(text: str) -> float | None:
    units = {"d": 86400.0, "w": 604800.0}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return float(text[:-1]) * units[text[-1]]
    return old_manifest(text)


def old_promql(text: str) -> float | None:
    if not re.match(r"^([0-9]+(ms|s|m|h|d|w|y))+$", text):
        return None
    seconds = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * seconds[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", text))


# -- strategies ------------------------------------------------------------------------------------
NUMBER = st.one_of(st.integers(0, 10**6).map(str),
                   st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 9999), st.integers(0, 999)))
SPACE = st.sampled_from(["", " ", "  ", "\t"])


def written(units: tuple[str, ...], spaces: bool = False) -> st.SearchStrategy[str]:
    """Durations as a person writes them: parts like ``1h``, ``30 m``, around blanks."""
    part = st.builds(lambda n, sp, u: f"{n}{sp}{u}", NUMBER, SPACE if spaces else st.just(""),
                     st.sampled_from(units))
    return st.builds(lambda a, parts, b: a + "".join(parts) + b, SPACE,
                     st.lists(part, min_size=1, max_size=4), SPACE)


# Near misses: the characters durations are made of, in any order.
SCRAMBLED = st.text(alphabet="0123456789.smhdwnuµy -:x", max_size=12)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


# -- properties ------------------------------------------------------------------------------------
@given(st.one_of(written(("ms", "s", "m", "h"), spaces=True), SCRAMBLED,
                 st.builds(lambda a, n, b: f"{a}{n}{b}", SPACE, NUMBER, SPACE)))
@example("90 s")
@example("1.5m")
def test_loadtest_flags_accept_what_they_did_with_the_same_value(text: str) -> None:
    before = old_loadtest(text)
    if before is not None:
        assert close(loadtest_duration(text), before)


@given(st.one_of(written(GO_UNITS), SCRAMBLED))
@example("1m30s")
@example("60")
def test_knative_fields_accept_what_they_did_and_nothing_go_refuses(text: str) -> None:
    before = old_manifest(text)
    try:
        now = manifest_duration(text, "spec.x")
    except ManifestError as exc:
        assert before is None, text
        assert str(exc).startswith("spec.x: ") and "is not a duration" in str(exc)
        return
    if before is not None:
        assert close(now, before)
    # Go's time.ParseDuration has no days, weeks or years, and no blank inside a part.
    assert not re.search(r"[dwy]|\d\s+[a-zµ]", text.strip()), text


@given(st.one_of(written(UNITS), SCRAMBLED))
@example("7d")
@example("1.5w")
@example("6h")
def test_capacity_range_accepts_what_it_did(text: str) -> None:
    before = old_capacity(text)
    if before is not None:
        assert close(parse_duration(text, "--range"), before)


@given(st.one_of(written(PROMQL_UNITS), SCRAMBLED))
@example("1h30m")
@example("250ms")
def test_promql_windows_convert_as_they_did(text: str) -> None:
    before = old_promql(text)
    if before is not None:
        assert close(duration_seconds(text), before)
    else:
        with pytest.raises(ValueError):
            duration_seconds(text)


@given(st.lists(st.tuples(st.integers(0, 10**5), st.sampled_from(UNITS)), min_size=1,
                max_size=5))
def test_parts_add_up(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{u}" for n, u in parts)
    assert close(parse_duration(text), math.fsum(n * SECONDS[u] for n, u in parts))


@given(SCRAMBLED)
def test_every_refusal_is_one_sentence_naming_the_flag(text: str) -> None:
    try:
        parse_duration(text, "--idle-gap")
    except DurationError as exc:
        message = str(exc)
        assert message.startswith("--idle-gap: ") and "is not a duration" in message
        assert "\n" not in message and message.count(";") == 1
        assert exc.problem in message


@pytest.mark.parametrize("value", [True, -1, -0.5, math.inf, math.nan, None, ""])
def test_non_durations_are_refused(value) -> None:
    with pytest.raises(DurationError):
        parse_duration(value, "x")


# -- every place a duration enters, with the same sentence -----------------------------------------
def test_every_command_refuses_a_bad_duration_with_the_same_sentence(tmp_path, capsys) -> None:
    sentence = "is not a duration; write seconds (90) or a number with a unit"
    for argv in (["capacity", "--service", "s", "--range", "a day"],
                 ["query", "request_rate", "--range", "a day"],
                 ["simulate", "--duration", "a day", "--dir", str(tmp_path)],
                 ["simulate", "--scrape-interval", "often", "--dir", str(tmp_path)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert sentence in err and err.count("\n") == 1, (argv, err)
    # loadtest's flags are argparse types: argparse names the flag and exits 2.
    out = subprocess.run([sys.executable, "-m", "sdobs.cli", "loadtest", "http://127.0.0.1:1",
                          "--timeout", "a day"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "argument --timeout:" in out.stderr and sentence in out.stderr
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: x\nduration: a day\nservices:\n- manifest: {REFERENCE_MANIFEST}\n"
                        "  traffic: {rate: 0.1}\n")
    with pytest.raises(ScenarioError, match=f"duration: 'a day' {re.escape(sentence)}"):
        load_scenario(scenario)


def test_scenario_durations_take_days_and_knative_annotations_do_not(tmp_path) -> None:
    from sdobs.sim.manifest import load_text

    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: x\nduration: 7d\nwarmup: 0.5h\nservices:\n"
                        f"- manifest: {REFERENCE_MANIFEST}\n  traffic: {{rate: 0.1}}\n")
    loaded = load_scenario(scenario)
    assert (loaded.duration, loaded.warmup) == (7 * 86400, 1800)
    manifest = """apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: s, namespace: default}
spec:
  template:
    metadata:
      annotations: {autoscaling.knative.dev/window: "1d"}
    spec:
      containers: [{image: x}]
"""
    refusal = r"window\]: '1d' is not a duration.*\(ns, us, ms, s, m, h\)"
    with pytest.raises(ManifestError, match=refusal):
        load_text(manifest)
