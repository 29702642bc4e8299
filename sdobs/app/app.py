"""The Dash monitoring app: ``create_app`` builds one, with its own Prometheus source.

The page shell (navigation, selectors, time range, refresh) is static; the URL's query string
holds the whole view state and every page reads it from there, so a view can be shared and
reloaded. Controls write the URL; the URL sets the controls; each page has one data callback.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import dash
from dash import Dash, Input, Output, State, dcc, html, no_update
from flask import Response, request

from sdobs.errors import NotFound
from sdobs.prom.client import PrometheusClient
from sdobs.prom.errors import PrometheusError

from . import data
from .data import PageData
from .loadtests import LoadTestRunner
from .pages import PAGE_MODULES
from .source import Source
from .state import (
    CUSTOM,
    PAGES,
    RANGES,
    REFRESH,
    ViewState,
    format_time,
    page_of,
    parse_search,
    parse_time,
)
from .style import INDEX

NAV = {"fleet": "Fleet", "service": "Service", "scaling": "Scaling", "gpu": "GPU",
       "loadtest": "Load test", "alerts": "Alerts"}
NO_CONTROLS = ("loadtest",)  # pages the namespace / service / range bar means nothing to
CONTROLS = ("ctl-ns", "ctl-service", "ctl-rev", "ctl-range", "ctl-from", "ctl-to", "ctl-refresh")
LISTED = ("ctl-ns", "ctl-service", "ctl-rev")  # dropdowns whose options come from Prometheus
ClientLike = str | PrometheusClient | Source | Callable[[], PrometheusClient]


@dataclass
class AppContext:
    """What the callbacks share: the source, the clock, a short cache of page loads."""

    app: Dash
    source: Source
    now: Callable[[], float] = time.time
    cache_seconds: float = 10.0
    callbacks: dict[str, Callable] = field(default_factory=dict)
    loadtests: LoadTestRunner = field(default_factory=LoadTestRunner)
    _cache: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def path(self, page: str) -> str:
        return self.app.get_relative_path(f"/{page}")

    def cached_load(self, name: str, state: ViewState, tick: int | None,
                    load: Callable[[ViewState], PageData],
                    page_local: Sequence[str] = ()) -> PageData:
        """Load a page, reusing a load of the same selection (search, sort, picks differ).

        A refresh tick is part of the key, so auto-refresh always asks Prometheus again; loads
        that failed are never reused.
        """
        defaults = ViewState()
        shared = replace(state, **{k: getattr(defaults, k) for k in page_local})
        key = (name, shared, tick or 0)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] <= self.cache_seconds:
                return hit[1]
        page = load(state)
        if not page.errors() and self.cache_seconds > 0:
            with self._lock:
                self._cache[key] = (now, page)
                while len(self._cache) > 32:
                    self._cache.popitem(last=False)
        return page


def _source(prometheus: ClientLike | None, dialect: str | None, scrape_interval: float,
            timeout: float) -> Source:
    if isinstance(prometheus, Source):
        return prometheus
    if prometheus is None:
        from sdobs.prom.cli import DEFAULT_URL

        prometheus = DEFAULT_URL
    if isinstance(prometheus, str):
        client = PrometheusClient(prometheus, timeout=timeout, max_workers=8)
    elif isinstance(prometheus, PrometheusClient):
        client = prometheus
    else:
        client = prometheus()
    return Source(client, dialect, scrape_interval=scrape_interval)


def install_basic_auth(server, username: str, password: str, realm: str = "sdobs") -> None:
    """Require HTTP basic auth on every route (compare in constant time)."""
    want_user, want_pass = username.encode(), password.encode()

    @server.before_request
    def _check():
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            user = (auth.username or "").encode()
            pw = (auth.password or "").encode()
            ok_user = hmac.compare_digest(user, want_user)
            if hmac.compare_digest(pw, want_pass) and ok_user:
                return None
        return Response("authentication required\n", 401,
                        {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})


def _security_headers(server) -> None:
    @server.after_request
    def _headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp


def create_app(prometheus: ClientLike | None = None, *, dialect: str | None = None,
               auth: tuple[str, str] | None = None, scrape_interval: float = 15.0,
               cache_seconds: float = 10.0, timeout: float = 15.0,
               now: Callable[[], float] | None = None,
               url_base_pathname: str = "/", loadtest_target: str = "",
               loadtest_host: str = "") -> Dash:
    """A Dash app over one Prometheus (a URL, a client, a client factory or a Source).

    ``dialect`` forces a Knative dialect instead of detecting it; ``auth`` is a basic-auth
    ``(user, password)``; ``now`` replaces the clock (tests); ``loadtest_target`` and
    ``loadtest_host`` prefill the load test page (e.g. the demo's live twin gateway); the WSGI
    app is ``app.server``.
    """
    source = _source(prometheus, dialect, scrape_interval, timeout)
    app = Dash(
        __name__, title="sdobs", update_title=None, suppress_callback_exceptions=True,
        serve_locally=True, assets_ignore=".*", url_base_pathname=url_base_pathname,
        index_string=INDEX,
    )
    ctx = AppContext(app, source, now or time.time, cache_seconds,
                     loadtests=LoadTestRunner(loadtest_target, loadtest_host))
    app.sdobs = ctx  # type: ignore[attr-defined]
    if auth:
        install_basic_auth(app.server, *auth)
    _security_headers(app.server)
    app.layout = shell(ctx)
    _register_shell(app, ctx)
    for module in PAGE_MODULES.values():
        module.register(app, ctx)
    return app


# -- the shell -------------------------------------------------------------------------------
def _ctl(label: str, child, id_: str, wide: bool = False) -> html.Label:
    return html.Label(className="ctl wide" if wide else "ctl", id=id_,
                      children=[html.Span(label), child])


def shell(ctx: AppContext) -> html.Div:
    ranges = [{"label": f"last {k}", "value": k} for k in RANGES]
    ranges.append({"label": "custom", "value": CUSTOM})
    refresh = [{"label": "off" if k == "off" else f"every {k}", "value": k} for k in REFRESH]
    return html.Div([
        dcc.Location(id="url", refresh=False),
        dcc.Interval(id="tick", interval=60_000, disabled=True, n_intervals=0),
        html.Header(className="top", children=[
            html.Div("sdobs", className="brand"),
            html.Nav([dcc.Link(label, id=f"nav-{page}", href=ctx.path(page))
                      for page, label in NAV.items()]),
            html.Span(f"Prometheus {ctx.source.url}", className="where"),
        ]),
        html.Div(className="controls", id="controls", children=[
            _ctl("Namespace", dcc.Dropdown(id="ctl-ns", placeholder="all namespaces"),
                 "wrap-ns"),
            _ctl("Service", dcc.Dropdown(id="ctl-service", placeholder="all services"),
                 "wrap-service", wide=True),
            _ctl("Revisions", dcc.Dropdown(id="ctl-rev", multi=True,
                                           placeholder="all revisions"), "wrap-rev", wide=True),
            _ctl("Range", dcc.Dropdown(id="ctl-range", options=ranges, value="1h",
                                       clearable=False), "wrap-range"),
            _ctl("From (UTC)", dcc.Input(id="ctl-from", type="text", debounce=True,
                                         placeholder="2026-01-01 10:00"), "wrap-from"),
            _ctl("To (UTC)", dcc.Input(id="ctl-to", type="text", debounce=True,
                                       placeholder="2026-01-01 11:00"), "wrap-to"),
            _ctl("Refresh", dcc.Dropdown(id="ctl-refresh", options=refresh, value="off",
                                         clearable=False), "wrap-refresh"),
        ]),
        html.Div(id="url-problems", className="problems"),
        html.Main(id="page"),
    ])


def _shared(state: ViewState) -> ViewState:
    """What navigation keeps: the selection, range and refresh (not page-local choices)."""
    return ViewState(namespace=state.namespace, service=state.service,
                     revisions=state.revisions, range=state.range, start=state.start,
                     end=state.end, refresh=state.refresh)


def _problems(problems: Sequence[str]) -> list:
    return [html.Div(p, className="problem") for p in problems]


def not_found(ctx: AppContext, pathname: str) -> html.Div:
    return html.Div(className="notfound", children=[
        html.H2("No such page"),
        html.P(f"There is no page at {pathname[:80]}; the pages are:"),
        html.Ul([html.Li(dcc.Link(label, href=ctx.path(p))) for p, label in NAV.items()]),
    ])


def apply_control(state: ViewState, trigger: str, values: dict, now: float,
                  problems: list[str]) -> ViewState:
    """The view state after the user changed one control."""
    if trigger == "ctl-ns":
        return state.with_(namespace=values["ctl-ns"] or None, service=None, revisions=(),
                           compare_a=None, compare_b=None, page=1)
    if trigger == "ctl-service":
        return state.with_(service=values["ctl-service"] or None, revisions=(),
                           compare_a=None, compare_b=None)
    if trigger == "ctl-rev":
        revs = values["ctl-rev"] or []
        return state.with_(revisions=tuple(revs if isinstance(revs, list) else [revs]))
    if trigger == "ctl-range":
        choice = values["ctl-range"]
        if choice == CUSTOM:
            if state.range == CUSTOM:
                return state
            start, end = state.time_range(now)
            return state.with_(range=CUSTOM, start=float(round(start)), end=float(round(end)))
        return state.with_(range=choice, start=None, end=None)
    if trigger in ("ctl-from", "ctl-to"):
        frm, to = values["ctl-from"], values["ctl-to"]
        if not frm or not to:
            return state
        try:
            start, end = parse_time(str(frm)), parse_time(str(to))
        except ValueError as exc:
            problems.append(f"ignored the custom range: {exc}")
            return state
        return state.with_(range=CUSTOM, start=start, end=end)
    if trigger == "ctl-refresh":
        return state.with_(refresh=values["ctl-refresh"])
    return state


def control_values(state: ViewState) -> dict:
    custom = state.range == CUSTOM and state.start is not None and state.end is not None
    return {
        "ctl-ns": state.namespace,
        "ctl-service": state.service,
        "ctl-rev": list(state.revisions),
        "ctl-range": state.range,
        "ctl-from": format_time(state.start) if custom else "",
        "ctl-to": format_time(state.end) if custom else "",
        "ctl-refresh": state.refresh,
    }


def _register_shell(app: Dash, ctx: AppContext) -> None:
    @app.callback(
        Output("page", "children"),
        *[Output(f"nav-{p}", "className") for p in PAGES],
        Output("wrap-service", "style"), Output("wrap-rev", "style"), Output("controls", "style"),
        Input("url", "pathname"), State("url", "search"),
    )
    def route(pathname: str | None, search: str | None):
        """Render the skeleton of the page the path names."""
        page = page_of(app.strip_relative_path(pathname or "/") or "")
        parsed = parse_search(search, ctx.now())
        hidden = {"display": "none"}
        if page is None:
            return [not_found(ctx, pathname or ""), *[""] * len(PAGES), {}, {}, {}]
        classes = ["active" if p == page else "" for p in PAGES]
        per_service = {} if page != "fleet" else hidden
        controls = hidden if page in NO_CONTROLS else {}
        return [PAGE_MODULES[page].layout(parsed), *classes, per_service, per_service, controls]

    @app.callback(
        Output("url", "search"), *[Output(c, "value") for c in CONTROLS],
        Output("tick", "interval"), Output("tick", "disabled"),
        Output("url-problems", "children"), *[Output(f"nav-{p}", "href") for p in PAGES],
        *[Output(c, "options", allow_duplicate=True) for c in LISTED],
        Input("url", "search"), *[Input(c, "value") for c in CONTROLS],
        *[State(c, "options") for c in LISTED],
        prevent_initial_call="initial_duplicate",
    )
    def sync(search: str | None, *values):
        """URL to controls when the URL changed; controls to URL when the user changed one.

        A dropdown drops a value that is not among its options, so a value set here is added
        to the options in the same answer (Prometheus' full lists follow from fill_options).
        """
        current = dict(zip(CONTROLS, values[: len(CONTROLS)], strict=True))
        listed = dict(zip(LISTED, values[len(CONTROLS):], strict=True))
        trigger = dash.ctx.triggered_id
        now = ctx.now()
        parsed = parse_search(search, now)
        problems = list(parsed.problems)
        state = parsed.state
        new_search = no_update
        if trigger in CONTROLS:
            problems = []
            changed = apply_control(state, trigger, current, now, problems)
            check = parse_search(changed.to_search(), now)  # the URL is the one validation
            problems += check.problems
            state = check.state
            text = state.to_search()
            new_search = text if text != (search or "") else no_update
        wanted = control_values(state)
        outs = [no_update if _same(wanted[c], current[c]) else wanted[c] for c in CONTROLS]
        seconds = state.refresh_seconds
        hrefs = [ctx.path(p) + _shared(state).to_search() for p in PAGES]
        options = [_with_values(listed[c], wanted[c]) for c in LISTED]
        return [new_search, *outs, (seconds or 60) * 1000, seconds == 0, _problems(problems),
                *hrefs, *options]

    @app.callback(
        Output("ctl-ns", "options"), Output("ctl-service", "options"),
        Output("ctl-rev", "options"), Input("url", "search"),
    )
    def fill_options(search: str | None):
        """Selector choices from Prometheus (the current values always among them)."""
        state = parse_search(search, ctx.now()).state
        try:
            found = data.options(ctx.source, state, ctx.now())
        except (PrometheusError, NotFound):
            found = None
        out = []
        for label, current in (("namespace", [state.namespace]), ("service", [state.service]),
                               ("revision", list(state.revisions))):
            if found is None:
                out.append(no_update)
                continue
            names = list(found[label])
            names += [c for c in current if c and c not in names]
            out.append([{"label": n, "value": n} for n in names])
        return out

    ctx.callbacks.update(route=route, sync=sync, options=fill_options)


def _with_values(options: list | None, value: object):
    """``options`` plus any of ``value`` missing from them (no_update when none is)."""
    values = [v for v in (value if isinstance(value, list) else [value]) if v]
    have = {o["value"] for o in options or [] if isinstance(o, dict)}
    missing = [v for v in values if v not in have]
    if not missing:
        return no_update
    return [*(options or []), *({"label": v, "value": v} for v in missing)]


def _same(a: object, b: object) -> bool:
    if a in (None, "", []) and b in (None, "", []):
        return True
    return a == b
