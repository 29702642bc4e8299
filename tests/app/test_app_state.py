"""URL state: round trips, defaults, and hostile parameters rejected with a sentence."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from sdobs.app.state import (
    CUSTOM,
    MAX_QUERY_CHARS,
    ViewState,
    format_time,
    page_of,
    parse_search,
    parse_time,
)

NOW = 1_800_000_000.0


def test_empty_search_is_the_default_view() -> None:
    parsed = parse_search("", NOW)
    assert parsed.state == ViewState()
    assert parsed.problems == ()
    assert ViewState().to_search() == ""
    assert ViewState().time_range(NOW) == (NOW - 3600, NOW)


def test_round_trip_of_every_field() -> None:
    state = ViewState(namespace="default", service="knative-sd-demo",
                      revisions=("knative-sd-demo-00001", "knative-sd-demo-00002"),
                      compare_a="knative-sd-demo-00001", compare_b="knative-sd-demo-00002",
                      range=CUSTOM, start=NOW - 600, end=NOW, refresh="30s", query="model 1",
                      sort="p95", descending=False, page=3)
    text = state.to_search()
    assert parse_search(text, NOW) == parse_search(text, NOW)
    again = parse_search(text, NOW)
    assert again.problems == ()
    assert again.state == state
    assert ViewState(range="24h").to_search() == "?range=24h"
    assert parse_search("?range=24h", NOW).state.time_range(NOW) == (NOW - 86400, NOW)


def test_revisions_repeat_or_comma_separated() -> None:
    a = parse_search("?rev=r-00001&rev=r-00002", NOW).state
    b = parse_search("?rev=r-00001,r-00002,r-00001", NOW).state
    assert a.revisions == b.revisions == ("r-00001", "r-00002")


@pytest.mark.parametrize("hostile", [
    'default"}', 'x"} or vector(1) #', "svc.*", "default\\", "Default", "a b", "ä", "-x",
    "x" * 64, '";drop', "{{7*7}}", "<script>alert(1)</script>",
])
def test_hostile_names_are_rejected_with_a_sentence(hostile: str) -> None:
    for key, field in (("ns", "namespace"), ("service", "service"), ("a", "compare_a")):
        parsed = parse_search(f"?{key}={quote(hostile)}", NOW)
        assert getattr(parsed.state, field) is None
        assert len(parsed.problems) == 1
        assert parsed.problems[0].startswith(f"ignored {key}=")
        assert len(parsed.problems[0]) < 200
    parsed = parse_search(f"?rev={quote(hostile)}", NOW)
    if "," not in hostile:
        assert parsed.state.revisions == ()
        assert parsed.problems


def test_time_ranges_are_validated() -> None:
    ok = parse_search(f"?from={NOW - 3600:.0f}&to={NOW:.0f}", NOW)
    assert ok.state.range == CUSTOM and ok.state.time_range(NOW) == (NOW - 3600, NOW)
    for bad in (f"?from={NOW:.0f}&to={NOW - 60:.0f}",  # end before start
                f"?from={NOW - 40 * 86400:.0f}&to={NOW:.0f}",  # longer than 31 days
                f"?from={NOW + 3600:.0f}&to={NOW + 7200:.0f}",  # in the future
                f"?from={NOW - 10:.0f}&to={NOW:.0f}",  # shorter than a minute
                "?from=yesterday&to=now", "?from=1&to=2", f"?from={NOW:.0f}"):
        parsed = parse_search(bad, NOW)
        assert parsed.state.range == "1h", bad
        assert parsed.problems and parsed.problems[0].startswith("ignored from/to"), bad
    parsed = parse_search("?range=1y", NOW)
    assert parsed.state.range == "1h" and "ignored range='1y'" in parsed.problems[0]


def test_other_parameters_are_validated() -> None:
    parsed = parse_search("?refresh=1s&sort=rm%20-rf&p=0&p=x&zzz=1", NOW)
    assert parsed.state.refresh == "off"
    assert parsed.state.sort == "rps"
    assert parsed.state.page == 1
    assert len(parsed.problems) == 4
    long = parse_search("?q=" + "a" * 500 + "%00%1b", NOW).state.query
    assert long == "a" * MAX_QUERY_CHARS
    assert parse_search("?desc=0", NOW).state.descending is False


def test_times_in_several_spellings() -> None:
    t = parse_time("2026-01-01T10:00:00Z")
    assert t == parse_time("2026-01-01 10:00") == parse_time(str(int(t))) == 1767261600.0
    assert parse_time("2026-01-01T12:00:00+02:00") == t
    assert format_time(t) == "2026-01-01 10:00:00"
    with pytest.raises(ValueError, match="is not a time"):
        parse_time("tomorrow")


def test_pages_from_paths() -> None:
    assert page_of("/") == "fleet"
    assert page_of("/service") == "service"
    assert page_of("/gpu/") == "gpu"
    assert page_of("/nope") is None


def test_prometheus_urls_are_shown_without_credentials() -> None:
    from sdobs.app.source import shown_url

    assert shown_url("https://ops:s3cret@prom.example:9090/api") == "https://prom.example:9090/api"
    assert shown_url("http://127.0.0.1:19090") == "http://127.0.0.1:19090"


# -- issue 16: URLs that used to raise, and full-match names ---------------------------------
@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000, "0", "-1", " 1", "1 ", "1e3", "10001"])
def test_page_numbers_are_ascii_digits_in_range(value: str) -> None:
    parsed = parse_search(f"?p={quote(value)}", NOW)
    assert parsed.state.page == 1
    assert len(parsed.problems) == 1 and parsed.problems[0].startswith("ignored p=")
    assert len(parsed.problems[0]) < 200
    assert parse_search("?p=10000", NOW).state.page == 10_000


def test_more_than_200_parameters_keep_the_first_200() -> None:
    many = "&".join(["ns=team-b", *[f"rev=r-{i:05d}" for i in range(300)]])
    parsed = parse_search("?" + many, NOW)
    assert parsed.state.namespace == "team-b"
    assert len(parsed.state.revisions) == 199
    assert parsed.problems == ("ignored 101 URL parameters after the first 200",)
    assert parse_search("?" + "&".join(["q=x"] * 200), NOW).problems == ()


@pytest.mark.parametrize("name", ["default\n", "default%0A", "default\r", "\ndefault"])
def test_names_are_matched_whole(name: str) -> None:
    from sdobs.app.state import is_k8s_name

    raw = name.replace("%0A", "\n")
    assert not is_k8s_name(raw)
    for key in ("ns", "service", "rev", "a", "b"):
        parsed = parse_search(f"?{key}={quote(raw)}", NOW)
        assert parsed.problems and parsed.problems[0].startswith(f"ignored {key}="), key
        assert parsed.state.namespace is None and parsed.state.revisions == ()
