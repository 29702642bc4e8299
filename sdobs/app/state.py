"""The app's view state and its URL form: parsed, validated and written back.

The whole view (page, namespace, service, revisions, time range, refresh, fleet search and sort)
lives in the URL's query string so a view can be shared and reloaded. Every parameter is
validated here: a Kubernetes name must look like one, a time must be a time, and anything else
is rejected with a one-sentence problem the app shows. Values that pass still reach PromQL only
through the catalog's escaping (docs/architecture.md, contract 3).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode

PAGES = ("fleet", "service", "scaling", "gpu", "loadtest", "alerts")
DEFAULT_PAGE = "fleet"
#: Time range presets: name -> seconds ending now.
RANGES: dict[str, int] = {
    "15m": 900, "1h": 3600, "3h": 3 * 3600, "6h": 6 * 3600, "12h": 12 * 3600,
    "24h": 86400, "2d": 2 * 86400, "7d": 7 * 86400,
}
CUSTOM = "custom"
DEFAULT_RANGE = "1h"
#: Auto-refresh choices: name -> seconds (0 = off).
REFRESH: dict[str, int] = {"off": 0, "10s": 10, "30s": 30, "1m": 60}
MAX_SPAN_S = 31 * 86400
MIN_SPAN_S = 60
FLEET_SORTS = ("service", "namespace", "rps", "success", "p95", "pods", "gpu", "zero")
DEFAULT_SORT = "rps"
MAX_QUERY_CHARS = 100
MAX_PAGE = 10_000
#: More query parameters than this are not parsed (a real view needs a few dozen at most).
MAX_PARAMS = 200
# Kubernetes object names in these roles are DNS-1123 labels: lower-case alphanumerics and '-'.
# Matched with fullmatch: '$' alone would accept a trailing newline ("default\n").
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_PAGE_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII digits only: "²".isdigit() is True
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                 "%Y-%m-%d")


@dataclass(frozen=True)
class ViewState:
    """What one view shows; the defaults are what an empty query string means."""

    namespace: str | None = None
    service: str | None = None
    revisions: tuple[str, ...] = ()
    compare_a: str | None = None
    compare_b: str | None = None
    range: str = DEFAULT_RANGE
    start: float | None = None  # custom range only, unix seconds
    end: float | None = None
    refresh: str = "off"
    query: str = ""  # fleet search text (never enters PromQL)
    sort: str = DEFAULT_SORT
    descending: bool = True
    page: int = 1  # fleet table page, from 1

    def time_range(self, now: float) -> tuple[float, float]:
        """``(start, end)`` in unix seconds for this view at ``now``."""
        if self.range == CUSTOM and self.start is not None and self.end is not None:
            return self.start, self.end
        return now - RANGES.get(self.range, RANGES[DEFAULT_RANGE]), now

    @property
    def refresh_seconds(self) -> int:
        return REFRESH.get(self.refresh, 0)

    def to_params(self) -> list[tuple[str, str]]:
        """Query-string pairs, defaults left out, in a stable order."""
        out: list[tuple[str, str]] = []
        if self.namespace:
            out.append(("ns", self.namespace))
        if self.service:
            out.append(("service", self.service))
        out += [("rev", r) for r in self.revisions]
        if self.compare_a:
            out.append(("a", self.compare_a))
        if self.compare_b:
            out.append(("b", self.compare_b))
        if self.range == CUSTOM and self.start is not None and self.end is not None:
            out += [("from", _fmt_unix(self.start)), ("to", _fmt_unix(self.end))]
        elif self.range != DEFAULT_RANGE:
            out.append(("range", self.range))
        if self.refresh != "off":
            out.append(("refresh", self.refresh))
        if self.query:
            out.append(("q", self.query))
        if self.sort != DEFAULT_SORT:
            out.append(("sort", self.sort))
        if not self.descending:
            out.append(("desc", "0"))
        if self.page != 1:
            out.append(("p", str(self.page)))
        return out

    def to_search(self) -> str:
        """``?ns=...&service=...`` (or ``""`` for the default view)."""
        params = self.to_params()
        return "?" + urlencode(params) if params else ""

    def with_(self, **changes: object) -> ViewState:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Parsed:
    """A view state and the URL parameters that were rejected on the way, one sentence each."""

    state: ViewState
    problems: tuple[str, ...] = field(default=())


def _fmt_unix(t: float) -> str:
    return f"{t:.0f}" if float(t).is_integer() else f"{t:.3f}"


def is_k8s_name(value: str) -> bool:
    return bool(_K8S_NAME.fullmatch(value))


def parse_time(text: str) -> float:
    """Unix seconds from ``1767261600``, ``2026-01-01T10:00:00Z`` or ``2026-01-01 10:00`` (UTC)."""
    text = text.strip()
    if re.fullmatch(r"[0-9]{9,11}(\.[0-9]{1,3})?", text):
        return float(text)
    iso = text[:-1] if text.endswith(("Z", "z")) else text
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        dt = None
        for fmt in _TIME_FORMATS:
            try:
                dt = datetime.strptime(iso, fmt)
                break
            except ValueError:
                continue
        if dt is None:
            raise ValueError(
                f"{text[:40]!r} is not a time; use unix seconds or UTC like 2026-01-01 10:00"
            ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp(), 3)  # the URL keeps milliseconds: the view must round-trip


def format_time(t: float) -> str:
    """The control bar's spelling of a time: ``2026-01-01 10:00:00`` (UTC)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def page_of(pathname: str | None) -> str | None:
    """The page a path names (``/`` is the fleet), or None for an unknown path."""
    name = (pathname or "/").strip("/").split("/")[0]
    if not name:
        return DEFAULT_PAGE
    return name if name in PAGES else None


def _name(params: dict[str, list[str]], key: str, what: str, problems: list[str]) -> str | None:
    values = [v for v in params.get(key, []) if v != ""]
    if not values:
        return None
    value = values[-1]
    if is_k8s_name(value):
        return value
    problems.append(_bad_name(key, value, what))
    return None


def _bad_name(key: str, value: str, what: str) -> str:
    return (f"ignored {key}={_show(value)}: a {what} name is lower-case letters, digits and '-' "
            "(at most 63)")


def _choice(params: dict[str, list[str]], key: str, allowed: Collection[str], default: str,
            problems: list[str]) -> str:
    """The last value of ``key`` when it is one of ``allowed``, else ``default`` (and a problem
    when it was given)."""
    if not params.get(key):
        return default
    value = params[key][-1]
    if value in allowed:
        return value
    problems.append(f"ignored {key}={_show(value)}: use one of {', '.join(allowed)}")
    return default


def _show(value: str) -> str:
    """A rejected value as text that is safe and short to show (the page escapes it too)."""
    clipped = value if len(value) <= 40 else value[:40] + "…"
    return repr(clipped)


def parse_search(search: str | None, now: float | None = None) -> Parsed:
    """Parse a query string (with or without ``?``) into a validated view state."""
    raw = (search or "").lstrip("?")
    problems: list[str] = []
    fields = raw.split("&")
    if len(fields) > MAX_PARAMS:
        problems.append(f"ignored {len(fields) - MAX_PARAMS} URL parameters after the first "
                        f"{MAX_PARAMS}")
        raw = "&".join(fields[:MAX_PARAMS])
    params = parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_PARAMS)
    ns = _name(params, "ns", "namespace", problems)
    service = _name(params, "service", "service", problems)
    revisions: list[str] = []
    for chunk in params.get("rev", []):
        for value in chunk.split(","):
            if not value:
                continue
            if is_k8s_name(value):
                if value not in revisions:
                    revisions.append(value)
            else:
                problems.append(_bad_name("rev", value, "revision"))
    compare_a = _name(params, "a", "revision", problems)
    compare_b = _name(params, "b", "revision", problems)

    range_ = DEFAULT_RANGE
    start = end = None
    if params.get("from") or params.get("to"):
        try:
            start = parse_time(params.get("from", [""])[-1])
            end = parse_time(params.get("to", [""])[-1])
            now = now if now is not None else datetime.now(UTC).timestamp()
            if end <= start:
                raise ValueError("the range's end is not after its start")
            if end - start > MAX_SPAN_S:
                raise ValueError(f"the range is longer than {MAX_SPAN_S // 86400} days")
            if end - start < MIN_SPAN_S:
                raise ValueError(f"the range is shorter than {MIN_SPAN_S} s")
            if start > now:
                raise ValueError("the range starts in the future")
            range_ = CUSTOM
        except ValueError as exc:
            problems.append(f"ignored from/to: {exc}")
            start = end = None
    else:
        range_ = _choice(params, "range", RANGES, DEFAULT_RANGE, problems)
    refresh = _choice(params, "refresh", REFRESH, "off", problems)

    query = ""
    if params.get("q"):
        query = "".join(ch for ch in params["q"][-1] if ch.isprintable())[:MAX_QUERY_CHARS]
    sort = _choice(params, "sort", FLEET_SORTS, DEFAULT_SORT, problems)
    descending = params.get("desc", ["1"])[-1] not in ("0", "false", "no")
    page = 1
    if params.get("p"):
        value = params["p"][-1]
        if _PAGE_NUMBER.fullmatch(value) and 1 <= int(value) <= MAX_PAGE:
            page = int(value)
        else:
            problems.append(f"ignored p={_show(value)}: a page number is 1 or more")
    known = {"ns", "service", "rev", "a", "b", "from", "to", "range", "refresh", "q", "sort",
             "desc", "p"}
    for key in params:
        if key not in known:
            problems.append(f"ignored unknown parameter {_show(key)}")
    state = ViewState(
        namespace=ns, service=service, revisions=tuple(revisions), compare_a=compare_a,
        compare_b=compare_b, range=range_, start=start, end=end, refresh=refresh, query=query,
        sort=sort, descending=descending, page=page,
    )
    return Parsed(state, tuple(problems))
