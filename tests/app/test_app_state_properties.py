"""Property tests (Hypothesis) of the app's URL state: any query string gives a valid view and
one-line problems, never an exception; every valid view survives the URL round trip."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sdobs.app.state import (
    CUSTOM,
    FLEET_SORTS,
    MAX_PAGE,
    MAX_QUERY_CHARS,
    MAX_SPAN_S,
    MIN_SPAN_S,
    RANGES,
    REFRESH,
    ViewState,
    is_k8s_name,
    parse_search,
)

NOW = 1_800_000_000.0
KEYS = ("ns", "service", "rev", "a", "b", "from", "to", "range", "refresh", "q", "sort", "desc",
        "p")
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

k8s_names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
values = st.one_of(
    st.text(max_size=60), k8s_names, st.from_regex(r"[0-9]{1,12}", fullmatch=True),
    st.sampled_from([*RANGES, *REFRESH, *FLEET_SORTS, "²", "٣", "9" * 5000, "default\n",
                     "2026-01-01T10:00:00Z", "2026-01-01 10:00", f"{NOW - 3600:.0f}"]),
    st.integers(-10, 10**12).map(str),
)
pairs = st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), values),
                 max_size=12)


def assert_valid(state: ViewState) -> None:
    for name in (state.namespace, state.service, state.compare_a, state.compare_b):
        assert name is None or is_k8s_name(name)
    assert all(is_k8s_name(r) for r in state.revisions)
    assert len(set(state.revisions)) == len(state.revisions)
    assert state.range in RANGES or state.range == CUSTOM
    if state.range == CUSTOM:
        assert state.start is not None and state.end is not None
        assert MIN_SPAN_S <= state.end - state.start <= MAX_SPAN_S and state.start <= NOW
    assert state.refresh in REFRESH and state.sort in FLEET_SORTS
    assert 1 <= state.page <= MAX_PAGE
    assert len(state.query) <= MAX_QUERY_CHARS and state.query.isprintable()


def assert_sentences(problems: tuple[str, ...]) -> None:
    for p in problems:
        assert isinstance(p, str) and p.startswith("ignored ")
        assert "\n" not in p and len(p) < 300, p


@PROPS
@given(st.text(max_size=400))
@example("p=%C2%B2")
@example("p=" + "9" * 5000)
@example("&".join(["x=1"] * 201))
@example("ns=default%0A")
def test_any_text_is_a_valid_view(search: str) -> None:
    parsed = parse_search(search, NOW)
    assert_valid(parsed.state)
    assert_sentences(parsed.problems)


@PROPS
@given(pairs)
@example([("from", "2026-01-01T10:00:00.123456"), ("to", "2026-01-02T10:00:00")])
def test_any_parameters_are_a_valid_view(params: list[tuple[str, str]]) -> None:
    search = "?" + urlencode(params)
    parsed = parse_search(search, NOW)
    assert_valid(parsed.state)
    assert_sentences(parsed.problems)
    # The view the app writes back is stable: it parses to itself with nothing to report.
    again = parse_search(parsed.state.to_search(), NOW)
    assert again.problems == () and again.state == parsed.state


@st.composite
def views(draw: st.DrawFn) -> ViewState:
    custom = draw(st.booleans())
    start = end = None
    if custom:
        start = draw(st.integers(int(NOW) - 400 * 86400, int(NOW))) - draw(
            st.sampled_from([0.0, 0.5, 0.125]))
        end = start + draw(st.integers(MIN_SPAN_S, MAX_SPAN_S))
    return ViewState(
        namespace=draw(st.none() | k8s_names), service=draw(st.none() | k8s_names),
        revisions=tuple(dict.fromkeys(draw(st.lists(k8s_names, max_size=4)))),
        compare_a=draw(st.none() | k8s_names), compare_b=draw(st.none() | k8s_names),
        range=CUSTOM if custom else draw(st.sampled_from(list(RANGES))), start=start, end=end,
        refresh=draw(st.sampled_from(list(REFRESH))),
        query=draw(st.text(st.characters(codec="utf-8"), max_size=MAX_QUERY_CHARS)
                   .map(lambda q: "".join(ch for ch in q if ch.isprintable()))),
        sort=draw(st.sampled_from(FLEET_SORTS)), descending=draw(st.booleans()),
        page=draw(st.integers(1, MAX_PAGE)),
    )


@PROPS
@given(views())
def test_every_valid_view_round_trips_through_its_url(state: ViewState) -> None:
    parsed = parse_search(state.to_search(), NOW)
    assert parsed.problems == ()
    assert parsed.state == state


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(KEYS), k8s_names | st.text(max_size=8)), min_size=190,
                max_size=260))
def test_long_query_strings_keep_their_first_200_parameters(params) -> None:
    parsed = parse_search("?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in params), NOW)
    assert_valid(parsed.state)
    assert_sentences(parsed.problems)
    if len(params) > 200:
        assert f"ignored {len(params) - 200} URL parameters after the first 200" in parsed.problems
