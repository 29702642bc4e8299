"""How the suite splits over ``pytest -n 2 --dist loadgroup`` (what ``./run test`` runs).

Every test gets an ``xdist_group``: its file, so module fixtures are built once; a folder whose
session fixtures are expensive (a backfilled history) is one group, so the history is not built
on both workers; every file that drives Chromium is one group, so one browser runs at a time
(two on two cores would slow the app's pages and the live twins they watch). Groups run longest
first (the list below, from measured durations), so the long ones do not start last and leave
one worker idle at the end; the rest follow in collection order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

#: Files that drive Chromium (tests/browser.py): one at a time.
BROWSER = frozenset({
    "twin/test_story.py", "app/test_app_browser.py", "app/test_app_loadtest_page.py",
    "app/test_app_sd_browser.py", "rules/test_alerting_end_to_end.py",
})  # fmt: skip
#: Files sharing a session fixture that backfills a history: one group per entry.
SHARED = {
    "capacity/": "capacity",  # twin_history, demo_day (tests/capacity/conftest.py)
    "rules/test_rules_scenarios.py": "rules-history",  # fault_history (tests/rules/conftest.py)
    "rules/test_fleet_recorded.py": "rules-history",
}
#: The longest groups first (seconds on two cores, measured; see benchmarks/README.md).
LONGEST = ("browser", "rules-history", "capacity", "twin/test_demo_state.py",
           "twin/test_live_scale_to_zero.py")


def group_of(item: pytest.Item) -> str:
    rel = Path(str(item.path)).resolve().relative_to(TESTS).as_posix()
    if rel in BROWSER:
        return "browser"
    for prefix, name in SHARED.items():
        if rel == prefix or (prefix.endswith("/") and rel.startswith(prefix)):
            return name
    return rel


def assign(items: list[pytest.Item]) -> None:
    """Mark each test with its group and order the groups longest first (stable otherwise)."""
    order = {name: i for i, name in enumerate(LONGEST)}
    groups = {}
    for item in items:
        groups[item] = group_of(item)
        item.add_marker(pytest.mark.xdist_group(groups[item]))
    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        first_seen.setdefault(groups[item], i)
    items.sort(key=lambda it: (order.get(groups[it], len(order)), first_seen[groups[it]]))
