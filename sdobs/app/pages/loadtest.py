"""Load test page (the portal): fire the reference test at an A1111 endpoint and watch it.

The form's values become a :class:`~sdobs.loadtest.LoadTestConfig`, bounded by the load tester's
own limits; the app's :class:`~sdobs.app.loadtests.LoadTestRunner` runs one test at a time. A
``dcc.Interval`` polls while a test runs: progress, each image as it arrives (a fixed ring of
image slots, each updated only when a newer image lands in it), and at the end the summary, a
latency histogram and a link to the service page for the test's time range.
"""

from __future__ import annotations

import ipaddress
import math
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from dash import Dash, Input, Output, State, dcc, html, no_update

from sdobs.loadtest import DEFAULT_LIMITS, LoadTestConfig, LoadTestConfigError, Txt2ImgOptions
from sdobs.loadtest.httpclient import parse_target
from sdobs.loadtest.payload import DEFAULT_PROMPT
from sdobs.loadtest.summary import Summary, fmt_seconds
from sdobs.redact import redact_url
from sdobs.sim.live.routes import split_service_path

from ..figures import axis, fmt
from ..loadtests import RING, Busy, LoadTestRunner, RunView
from ..state import CUSTOM, Parsed, ViewState, is_k8s_name
from ..units import UNIT_RATIO, UNIT_RPS, UNIT_SECONDS

NAME = "loadtest"
LIMITS = DEFAULT_LIMITS  # the command line's maxima: one place owns them
POLL_MS = 1000
MAX_PROMPTS = 100
MAX_PROMPT_CHARS = 2000
MAX_BINS = 60
LINK_PAD_S = 60  # the service page's range starts and ends this much around the test
MODES = {
    "closed": "closed loop: N in flight",
    "constant": "open loop: constant rate",
    "poisson": "open loop: Poisson arrivals",
}
FORM = ("target", "host", "prompt", "steps", "size", "mode", "concurrency", "rate", "total")
DEFAULTS: dict[str, Any] = {
    "target": "", "host": "", "prompt": DEFAULT_PROMPT, "steps": 20, "size": "512x512",
    "mode": "closed", "concurrency": 5, "rate": 1.0, "total": 20,
}
SLOTS = tuple(f"lt-img-{i}" for i in range(RING))


class FormError(ValueError):
    """A form value the page cannot use; the message is one sentence naming the field."""


# -- the form --------------------------------------------------------------------------------
def _whole(name: str, value: Any, maximum: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != int(number) or not 1 <= number <= maximum:
        raise FormError(f"{name} must be a whole number from 1 to {maximum:,}")
    return int(number)


def _size(value: Any) -> tuple[int, int]:
    text = str(value or "").lower().replace("×", "x").replace(" ", "")
    width, sep, height = text.partition("x")
    if not (sep and width.isdigit() and height.isdigit()):
        raise FormError(f"the size must be WIDTHxHEIGHT in pixels, e.g. 512x512, not "
                        f"{str(value)[:20]!r}")
    return int(width), int(height)


def config_from_form(values: dict[str, Any]) -> LoadTestConfig:
    """The load test the form describes, or FormError / LoadTestConfigError saying what is wrong."""
    target = str(values.get("target") or "").strip()
    if not target:
        raise FormError("give the target: the A1111 base URL, e.g. http://127.0.0.1:7860")
    host = str(values.get("host") or "").strip() or None
    prompts = tuple(line.strip() for line in str(values.get("prompt") or "").splitlines()
                    if line.strip())
    if not prompts:
        raise FormError("give a prompt (one a line; the test uses them in turn)")
    if len(prompts) > MAX_PROMPTS or any(len(p) > MAX_PROMPT_CHARS for p in prompts):
        raise FormError(f"give at most {MAX_PROMPTS} prompts of at most {MAX_PROMPT_CHARS} "
                        "characters each")
    steps = _whole("steps", values.get("steps"), 1000)
    width, height = _size(values.get("size"))
    mode = values.get("mode") or "closed"
    if mode not in MODES:
        raise FormError(f"the mode must be one of {', '.join(MODES)}")
    concurrency = _whole("concurrency" if mode == "closed" else "max in flight",
                         values.get("concurrency"), LIMITS.max_concurrency)
    total = _whole("the total", values.get("total"), LIMITS.max_requests)
    rate = None
    if mode != "closed":
        try:
            rate = float(values.get("rate"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            rate = math.nan
        if not (math.isfinite(rate) and 0 < rate <= LIMITS.max_rate):
            raise FormError(f"the rate must be a number of requests/s above 0 and at most "
                            f"{LIMITS.max_rate:g}")
    parse_target(target, host=host)  # the URL's own one-sentence message, before any thread
    config = LoadTestConfig(
        url=target, host=host, concurrency=concurrency, requests=total, rate=rate,
        arrival="poisson" if mode == "poisson" else "constant",
        max_in_flight=concurrency if rate is not None else None,
        payload=Txt2ImgOptions(prompts=prompts, steps=steps, width=width, height=height),
        limits=LIMITS,
    )
    return config.validated()


def _without_credentials(url: str) -> str:
    """The target as another browser tab may see it (user:password@ removed, tokens masked)."""
    return redact_url(url.strip())


# -- the service page link -------------------------------------------------------------------
def knative_service(target: str, host: str | None) -> tuple[str | None, str | None]:
    """``(namespace, service)`` from Knative's ``{service}.{namespace}.{domain}`` host names.

    The Host header names the service when given, else the URL's host, else a path of the
    twin's ``/services/<namespace>/<service>`` form (what ``sdobs demo`` prefills); an IP
    address or a short name names none, and the link then opens the service page on all
    services.
    """
    url = urlsplit(target.strip())
    if not host:
        key, _ = split_service_path(url.path)
        if key is not None and is_k8s_name(key[0]) and is_k8s_name(key[1]):
            return key
    name = (host or url.hostname or "").split(":")[0].lower()
    try:
        ipaddress.ip_address(name.strip("[]"))
        return None, None
    except ValueError:
        pass
    labels = name.split(".")
    if len(labels) >= 3 and is_k8s_name(labels[0]) and is_k8s_name(labels[1]):
        return labels[1], labels[0]
    return None, None


def service_link(ctx: Any, view: RunView) -> str:
    """The service page's URL for the test's service and time range (padded a minute)."""
    s = view.summary
    end_offset = (s.end if s is not None and s.end is not None else view.progress.elapsed)
    start = math.floor(view.started_at) - LINK_PAD_S
    end = math.ceil(view.started_at + end_offset) + LINK_PAD_S
    ns, service = knative_service(view.form.get("target", ""), view.form.get("host") or None)
    state = ViewState(namespace=ns, service=service, range=CUSTOM, start=float(start),
                      end=float(end))
    return ctx.path("service") + state.to_search()


# -- rendering -------------------------------------------------------------------------------
def _field(label: str, child: Any, *, wide: bool = False, hint: str = "") -> html.Label:
    return html.Label(className="lt-field wide" if wide else "lt-field", title=hint or None,
                      children=[html.Span(label), child])


def _number(id_: str, maximum: float, step: float | str = 1) -> dcc.Input:
    return dcc.Input(id=id_, type="number", min=1 if step == 1 else 0, max=maximum, step=step,
                     value=None)


def layout(parsed: Parsed) -> html.Div:
    form = html.Div(className="lt-form", children=[
        _field("Target (A1111 base URL)", dcc.Input(
            id="lt-target", type="text", placeholder="http://127.0.0.1:7860", spellCheck=False,
        ), wide=True),
        _field("Host header (Knative, optional)", dcc.Input(
            id="lt-host", type="text", placeholder="knative-sd-demo.default.example.com",
            spellCheck=False,
        ), wide=True, hint="Knative routes by Host: {service}.{namespace}.{domain}"),
        _field("Prompt (one a line, used in turn)", dcc.Textarea(id="lt-prompt", rows=2),
               wide=True),
        _field("Steps", _number("lt-steps", 1000)),
        _field("Size", dcc.Input(id="lt-size", type="text", placeholder="512x512")),
        _field("Mode", dcc.Dropdown(id="lt-mode", clearable=False, searchable=False,
                                    options=[{"label": v, "value": k} for k, v in MODES.items()])),
        _field("Concurrency", _number("lt-concurrency", LIMITS.max_concurrency),
               hint="closed loop: requests in flight; open loop: most in flight at once"),
        _field("Rate (req/s, open loop)", _number("lt-rate", LIMITS.max_rate, "any")),
        _field("Total requests", _number("lt-total", LIMITS.max_requests)),
    ])
    buttons = html.Div(className="lt-buttons", children=[
        html.Button("Start", id="lt-start", n_clicks=0, className="lt-btn start"),
        html.Button("Stop", id="lt-stop", n_clicks=0, className="lt-btn stop", disabled=True),
        html.Div(id="lt-message", className="lt-message"),
    ])
    gallery = html.Div(id="lt-gallery", className="lt-gallery", children=[
        html.Img(id=slot, src="", alt="", style={"display": "none"}) for slot in SLOTS
    ])
    return html.Div(className=f"page page-{NAME}", children=[
        dcc.Interval(id="lt-poll", interval=POLL_MS, n_intervals=0, disabled=True),
        dcc.Store(id="lt-seen", data={}),
        html.Div(className="page-title", children=[
            html.H2("Load test"),
            html.Div("the reference portal's test of an A1111 txt2img endpoint: N in flight, "
                     "M in total (or arrivals at a rate)", className="subtitle"),
        ]),
        form, buttons,
        html.Div(id="lt-progress", className="lt-progress"),
        html.Section(className="section", children=[
            html.H2(["Images ", html.Span(id="lt-image-note", className="subtitle")]), gallery,
        ]),
        html.Div(id="lt-result"),
    ])


def _progress(view: RunView | None) -> list:
    if view is None:
        return [html.Div("No load test has run in this app yet.", className="empty-note")]
    p = view.progress
    pct = round(p.fraction * 100)
    count = f"{p.done}/{p.planned}" if p.planned else f"{p.done}"
    rate = p.done / p.elapsed if p.elapsed > 0 else 0.0
    state = "running" if not view.done else f"finished: {p.stop_reason or 'stopped'}"
    line = (f"run {view.run} {state} · {count} done · {p.succeeded} ok · {p.failed} failed · "
            f"{p.in_flight} in flight · {p.elapsed:.1f} s · {rate:.2f} req/s")
    out = [
        html.Div(className="lt-bar", children=[
            html.Div(className="lt-bar-fill" + (" done" if view.done else ""),
                     style={"width": f"{pct}%"}),
        ]),
        html.Div(line, id="lt-counts", className="lt-counts"),
    ]
    if view.error_kinds:
        kinds = ", ".join(f"{k} ×{n}" for k, n in view.error_kinds.items())
        out.append(html.Div(f"errors: {kinds} (last: {view.last_error})", className="lt-errors"))
    return out


def _dist_row(label: str, d) -> html.Tr:
    cells = [html.Td("—")] * 7 if d is None else [
        html.Td(fmt_seconds(x)) for x in (d.min, d.mean, d.p50, d.p90, d.p95, d.p99, d.max)]
    return html.Tr([html.Th(label), *cells])


def summary_table(s: Summary) -> html.Table:
    """The vegeta-shaped summary as a table: latency distributions, then the counts."""
    head = html.Tr([html.Th(h) for h in ("", "min", "mean", "P50", "P90", "P95", "P99", "max")])
    rows = [head, _dist_row("Latency", s.latencies),
            _dist_row("successes", s.success_latencies)]
    if s.cold_start.count:
        rows.append(_dist_row("warm successes", s.warm_latencies))
    rows.append(_dist_row("Time to first byte", s.time_to_first_byte))
    if s.mode == "open":
        rows.append(_dist_row("Scheduling lag", s.scheduling_lag))
    if s.process_time is not None:
        rows.append(_dist_row("Server X-Process-Time", s.process_time))
    codes = " ".join(f"{k}:{v}" for k, v in sorted(s.status_codes.items())) or "—"
    kinds = " ".join(f"{k}:{v}" for k, v in s.error_kinds.items()) or "—"
    cold = (f"{s.cold_start.count} of {s.cold_start.candidates} after idle"
            if s.cold_start.count else f"none detected ({s.cold_start.candidates} after idle)")
    facts = [
        ("Requests", f"{s.requests} · {s.rate:.2f}/s sent · {s.throughput:.2f}/s succeeded"),
        ("Duration", f"{fmt_seconds(s.duration + s.wait)} (sending {fmt_seconds(s.duration)}, "
                     f"waiting {fmt_seconds(s.wait)})"),
        ("Success", fmt(s.success, UNIT_RATIO)),
        ("Images", str(s.images)),
        ("Status codes", codes), ("Errors", kinds),
        ("Most in flight", str(s.max_in_flight)), ("Cold starts", cold),
        ("Stopped", s.stop_reason + (f" ({s.cancelled} cancelled)" if s.cancelled else "")),
    ]
    rows += [html.Tr([html.Th(k), html.Td(v, colSpan=7, className="fact")]) for k, v in facts]
    return html.Table(rows, id="lt-summary-table", className="lt-summary")


def _bins(values: list[float]) -> np.ndarray:
    """Bin edges for the latencies: numpy's choice, at most MAX_BINS, never zero-width."""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-6:
        return np.array([lo - 5e-4, hi + 5e-4])
    edges = np.histogram_bin_edges(values, bins="auto")
    return edges if len(edges) <= MAX_BINS + 1 else np.linspace(lo, hi, MAX_BINS + 1)


def histogram(view: RunView) -> dict:
    """Latency histogram of the finished run (successes and failures stacked), P50/P95/P99.

    Binned here, so the figure stays small however many requests the run made; the
    percentiles are lines named in the legend (labels on the plot would collide).
    """
    ok = [x for x, good in view.latencies if good]
    bad = [x for x, good in view.latencies if not good]
    traces: list[dict] = []
    top = 1
    if ok or bad:
        edges = _bins(ok + bad)
        centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        ranges = [f"{fmt_seconds(a)}–{fmt_seconds(b)}" for a, b in pairwise(edges)]
        stacked = np.zeros(len(centers), dtype=int)
        for name, xs, color in (("succeeded", ok, "#2a9d5b"), ("failed", bad, "#c0392b")):
            if xs:
                counts, _ = np.histogram(xs, bins=edges)
                stacked += counts
                traces.append({"type": "bar", "name": name, "x": centers.tolist(),
                               "y": counts.tolist(), "width": widths.tolist(),
                               "customdata": ranges, "marker": {"color": color},
                               "hovertemplate": "%{customdata}: %{y}<extra>" + name
                               + "</extra>"})
        top = int(stacked.max())
    d = view.summary.latencies if view.summary is not None else None
    if d is not None:
        for (label, x), dash in zip((("P50", d.p50), ("P95", d.p95), ("P99", d.p99)),
                                    ("dot", "dash", "longdash"), strict=True):
            traces.append({"type": "scatter", "mode": "lines", "x": [x, x], "y": [0, top],
                           "name": f"{label} {fmt_seconds(x)}", "hoverinfo": "name",
                           "line": {"dash": dash, "color": "#1d2733", "width": 1.5}})
    return {"data": traces, "layout": {
        "height": 280, "margin": {"l": 56, "r": 16, "t": 10, "b": 40}, "barmode": "stack",
        "paper_bgcolor": "white", "plot_bgcolor": "white",
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "xaxis": {**axis(UNIT_SECONDS), "rangemode": "normal", "title": {"text": "latency"}},
        "yaxis": {"gridcolor": "#eceff3", "title": {"text": "requests"}, "rangemode": "tozero"},
        "bargap": 0, "legend": {"orientation": "h", "y": -0.25, "x": 0, "traceorder": "normal"},
    }}


def _cards(s: Summary) -> html.Div:
    d = s.latencies
    values = [("requests", f"{s.requests:,}"), ("success", fmt(s.success, UNIT_RATIO)),
              ("throughput", fmt(s.throughput, UNIT_RPS)),
              *((k, fmt_seconds(x) if d else "—") for k, x in (
                  ("P50", d.p50 if d else 0), ("P95", d.p95 if d else 0),
                  ("P99", d.p99 if d else 0))),
              ("images", f"{s.images:,}")]
    return html.Div(className="cards", id="lt-cards", children=[
        html.Div(className="card", children=[html.Div(v, className="card-value"),
                                             html.Div(k, className="card-label")])
        for k, v in values])


def result(ctx: Any, view: RunView) -> list:
    """What the page shows once a run is over: summary, histogram, link, the text report."""
    s = view.summary
    if s is None:
        return []
    out: list = [html.H2("Summary")]
    if s.requests and not s.successes:
        first = s.errors[0] if s.errors else next(iter(s.error_kinds), "unknown")
        out.append(html.Div(className="banner error", id="lt-failed", role="alert", children=[
            html.Strong(f"No request to {s.target} succeeded"),
            html.Div(f"{first}. Check the target URL and Host header, and that the service "
                     "is up."),
        ]))
    out += [
        _cards(s),
        html.Div(className="lt-result-grid", children=[
            summary_table(s),
            html.Div(className="panel", children=[
                html.H3("Latency histogram"),
                dcc.Graph(id="lt-histogram", figure=histogram(view),
                          config={"displaylogo": False, "responsive": True}),
            ]),
        ]),
        html.P(dcc.Link("Open the service page for this test's time range",
                        href=service_link(ctx, view), id="lt-service-link")),
        html.Details([html.Summary("as the command line prints it"),
                      html.Pre(s.table(), className="lt-text")]),
    ]
    return out


# -- callbacks -------------------------------------------------------------------------------
def _form_values(form: dict[str, Any]) -> dict[str, Any]:
    return {k: form.get(k, DEFAULTS[k]) for k in FORM}


def _image_note(view: RunView | None) -> str:
    if view is None or not view.image_count:
        return ""
    shown = min(len(view.images), RING)
    extra = f", {view.images_not_shown} not shown (too large or not an image)" \
        if view.images_not_shown else ""
    return f"the last {shown} of {view.image_count}{extra}"


def poll_answer(ctx: Any, runner: LoadTestRunner, n_intervals: int | None,
                seen: dict | None) -> dict[str, Any]:
    """The poll's answer keyed ``"id.property"``; unchanged parts are ``no_update``."""
    seen = seen or {}
    view = runner.view()
    running = view is not None and not view.done
    out: dict[str, Any] = {"lt-poll.disabled": not running, "lt-start.disabled": running,
                           "lt-stop.disabled": not running}
    if not n_intervals:  # mounted: the running (or last) test's settings, else the defaults
        form = dict(view.form) if view is not None else {
            **DEFAULTS, "target": runner.default_target, "host": runner.default_host}
        out.update({f"lt-{k}.value": v for k, v in _form_values(form).items()})
    else:
        out.update({f"lt-{k}.value": no_update for k in FORM})
    same_run = view is not None and seen.get("run") == view.run
    if same_run and seen.get("final"):
        out.update({f"{s}.{p}": no_update for s in SLOTS for p in ("src", "style")})
        out.update({"lt-progress.children": no_update, "lt-image-note.children": no_update,
                    "lt-result.children": no_update, "lt-seen.data": no_update})
        return out
    shown = list(seen.get("slots") or [0] * RING) if same_run else [0] * RING
    wanted = [0] * RING
    images = {im.number: im for im in view.images} if view is not None else {}
    for number in images:
        wanted[number % RING] = max(wanted[number % RING], number)
    for i, slot in enumerate(SLOTS):
        if wanted[i] == shown[i] and same_run:
            out[f"{slot}.src"] = out[f"{slot}.style"] = no_update
        elif wanted[i]:
            im = images[wanted[i]]
            out[f"{slot}.src"] = im.data_uri()
            out[f"{slot}.style"] = {"order": -im.number}
        else:
            out[f"{slot}.src"] = ""
            out[f"{slot}.style"] = {"display": "none"}
    out["lt-progress.children"] = _progress(view)
    out["lt-image-note.children"] = _image_note(view)
    out["lt-result.children"] = result(ctx, view) if view is not None and view.done else []
    out["lt-seen.data"] = {"run": view.run if view else 0, "slots": wanted,
                           "final": bool(view and view.done)}
    return out


POLL_OUTPUTS = (
    ["lt-poll.disabled", "lt-start.disabled", "lt-stop.disabled"]
    + [f"lt-{k}.value" for k in FORM]
    + [f"{s}.{p}" for p in ("src", "style") for s in SLOTS]
    + ["lt-progress.children", "lt-image-note.children", "lt-result.children", "lt-seen.data"]
)


def _output(key: str, **kw: Any) -> Output:
    component, prop = key.rsplit(".", 1)
    return Output(component, prop, **kw)


def start_answer(runner: LoadTestRunner, values: dict[str, Any]) -> tuple[Any, bool, bool]:
    """``(message, poll disabled, start disabled)`` after the Start button."""
    try:
        config = config_from_form(values)
        form = {**_form_values(values), "target": _without_credentials(str(values["target"]))}
        run = runner.start(config, form)
    except (FormError, LoadTestConfigError, Busy) as exc:
        text = str(exc)
        return html.Span(text[:1].upper() + text[1:] + ".", className="msg error"), \
            no_update, no_update
    c = config
    what = (f"{c.total_cap} requests, {c.concurrency} in flight" if c.mode == "closed" else
            f"{c.total_cap} requests at {c.rate:g}/s ({c.arrival})")
    return html.Span(f"Run {run} started: {what}.", className="msg ok"), False, True


def register(app: Dash, ctx: Any) -> None:
    runner: LoadTestRunner = ctx.loadtests

    @app.callback([_output(k) for k in POLL_OUTPUTS], Input("lt-poll", "n_intervals"),
                  State("lt-seen", "data"))
    def poll(n_intervals: int | None, seen: dict | None) -> list:
        """Progress, new images, and at the end the summary; polling stops with the test."""
        answer = poll_answer(ctx, runner, n_intervals, seen)
        return [answer[k] for k in POLL_OUTPUTS]

    @app.callback(Output("lt-message", "children"),
                  Output("lt-poll", "disabled", allow_duplicate=True),
                  Output("lt-start", "disabled", allow_duplicate=True),
                  Input("lt-start", "n_clicks"), *[State(f"lt-{k}", "value") for k in FORM],
                  prevent_initial_call=True)
    def start(n_clicks: int | None, *values: Any):
        """Start the form's test, or say in one sentence why not."""
        if not n_clicks:
            return no_update, no_update, no_update
        return start_answer(runner, dict(zip(FORM, values, strict=True)))

    @app.callback(Output("lt-message", "children", allow_duplicate=True),
                  Input("lt-stop", "n_clicks"), prevent_initial_call=True)
    def stop(n_clicks: int | None):
        """Stop the running test: no new requests, those in flight cancelled."""
        if not n_clicks:
            return no_update
        if runner.stop():
            return html.Span("Stopping: requests in flight are cancelled.",
                             className="msg ok")
        return html.Span("No load test is running.", className="msg")

    @app.callback(Output("lt-rate", "disabled"), Input("lt-mode", "value"))
    def rate_field(mode: str | None) -> bool:
        """The rate applies to open loops only."""
        return mode in (None, "closed")

    ctx.callbacks.update({f"{NAME}-poll": poll, f"{NAME}-start": start, f"{NAME}-stop": stop,
                          f"{NAME}-rate": rate_field})
