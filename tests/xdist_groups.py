"""How the suite splits over ``pytest -n 2 --dist loadgroup`` (what ``./run test`` runs).

Each test belongs to a group that one worker runs whole: its file, so module fixtures are built
once; a folder whose session fixtures are expensive (a backfilled history) is one group, so the
history is not built on both workers; every file that drives Chromium is one group, so one
browser runs at a time (two on two cores would slow the app's pages and the live twins they
watch). Groups run longest first (the list below, from measured durations), so the long ones do
not start last and leave one worker idle at the end; the rest follow in collection order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

#: Files that drive Chromium (tests/browser.py): one at a time.
BROWSER = frozenset({
    "twin/test_story.py", "app/test_app_browser.py", "app/test_app_loadtest_page.py",
    "app/test_app_sd_browser.py", "rules/test_alerting_end_to_end.py",
})
#: Files sharing a session fixture that backfills a history: one group per entry.
SHARED = {
    "capacity/": "capacity",  # twin_history, demo_day (tests/capacity/conftest.py)
    # known, one Prometheus per dialect (tests/app/conftest.py): file by file, pytest would
    # build them again at each file's switch of dialect.
    "app/": "app",
    # one VictoriaMetrics and one Prometheus per dialect holding the same history
    # (tests/victoria/conftest.py)
    "victoria/": "victoria",
    "rules/test_rules_scenarios.py": "rules-history",  # fault_history (tests/rules/conftest.py)
    "rules/test_fleet_recorded.py": "rules-history",
}
#: The longest groups first (seconds on two cores, measured; see benchmarks/README.md).
LONGEST = ("browser", "rules-history", "capacity", "app", "twin/test_demo_state.py",
           "twin/test_live_scale_to_zero.py")


def group_of(rel: str) -> str:
    """The group of a test file, given by its path under tests/."""
    if rel in BROWSER:
        return "browser"
    for prefix, name in SHARED.items():
        if rel == prefix or (prefix.endswith("/") and rel.startswith(prefix)):
            return name
    return rel


def _rel(item: pytest.Item) -> str:
    return Path(str(item.path)).resolve().relative_to(TESTS).as_posix()


def order(items: list[pytest.Item]) -> None:
    """Order the groups longest first, each group's tests kept together in collection order."""
    rank = {name: i for i, name in enumerate(LONGEST)}
    groups = {id(item): group_of(_rel(item)) for item in items}
    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        first_seen.setdefault(groups[id(item)], i)
    items.sort(key=lambda it: (rank.get(groups[id(it)], len(rank)), first_seen[groups[id(it)]]))


def scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scope scheduler with a test's scope being its group (a whole group to one worker).

    (xdist's own ``xdist_group`` marks work by renaming node ids, which pytest 9 ignores.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return group_of(path.removeprefix("tests/"))

    return GroupScheduling(config, log)
