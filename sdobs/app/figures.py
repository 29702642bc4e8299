"""Plotly figures as plain dicts (no validation pass), numbers as text, sparklines as SVG.

Figures are built as the JSON plotly.js reads, on the range query's own evaluation grid so a
gap in the data stays a gap. An empty result is a figure that says so ("no requests in this
range") instead of an empty axis. Values are in base units and the axes say which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from urllib.parse import quote

import numpy as np
import pandas as pd

from .data import Window, epoch_ms, grid_index
from .units import (
    UNIT_BYTES,
    UNIT_COUNT,
    UNIT_GPU_TIME,
    UNIT_RATIO,
    UNIT_RPS,
    UNIT_SECONDS,
    UNIT_WATTS,
    UNIT_WHOLE,
)

PALETTE = ("#2f6fdf", "#e8702a", "#2a9d5b", "#c0392b", "#8e44ad", "#16a2b8", "#b8860b",
           "#d6336c", "#5c6b7a", "#6f42c1")
CODE_CLASS_COLORS = {"1xx": "#5c6b7a", "2xx": "#2a9d5b", "3xx": "#16a2b8", "4xx": "#e8a21a",
                     "5xx": "#c0392b"}
EVENT_STYLE = {
    "scale-up": ("triangle-up", "#2a9d5b"),
    "scale-down": ("triangle-down", "#e8702a"),
    "scale-to-zero": ("x", "#c0392b"),
}
NO_REQUESTS = "no requests in this range"
#: One line of tick labels (times within a day, dates beyond), so legends never overlap them.
TIME_TICKS = [{"dtickrange": [None, 86_400_000], "value": "%H:%M"},
              {"dtickrange": [86_400_000, None], "value": "%b %d"}]
NO_DATA = "no data in this range"

_AXES = {
    UNIT_RPS: {"tickformat": "~g", "ticksuffix": " req/s", "hoverformat": ".3~g",
               "rangemode": "tozero"},
    UNIT_RATIO: {"tickformat": ".1%", "hoverformat": ".2%"},
    UNIT_SECONDS: {"tickformat": "~s", "ticksuffix": "s", "hoverformat": ".3~s",
                   "rangemode": "tozero"},
    UNIT_BYTES: {"tickformat": "~s", "ticksuffix": "B", "hoverformat": ".3~s",
                 "rangemode": "tozero"},
    UNIT_WATTS: {"tickformat": "~s", "ticksuffix": "W", "hoverformat": ".3~s",
                 "rangemode": "tozero"},
    UNIT_COUNT: {"tickformat": "~g", "hoverformat": ".3~g"},
}


def axis(unit: str) -> dict:
    return {"gridcolor": "#eceff3", "zeroline": False, **_AXES.get(unit, _AXES[UNIT_COUNT])}


#: Pixels one legend row takes below the axis, how wide a panel's legend line is, and the most
#: rows a legend gets (more entries scroll inside them: the panel's height is fixed).
LEGEND_ROW_PX = 20
LEGEND_LINE_CHARS = 80
LEGEND_MAX_ROWS = 3


def legend_rows(names: Sequence[str]) -> int:
    """Rows a horizontal legend of ``names`` needs in a half-width panel (about 80 characters)."""
    rows, used = 1, 0
    for name in names:
        width = len(name) + 6  # the line sample and the gap
        if used and used + width > LEGEND_LINE_CHARS:
            rows, used = rows + 1, 0
        used += width
    return rows


def layout(window: Window, unit: str, *, height: int = 260, legend: bool = True,
           legend_lines: int = 1) -> dict:
    """A time-axis layout; a legend sits in rows of its own under the axis labels.

    The panel's height is fixed, so a legend gets at most ``LEGEND_MAX_ROWS`` rows and scrolls
    within them: the plot keeps most of the panel and the legend never covers the time axis.
    """
    rows = min(max(legend_lines, 1), LEGEND_MAX_ROWS) if legend else 0
    below = LEGEND_ROW_PX * rows
    return {
        "height": height,
        "margin": {"l": 64, "r": 16, "t": 8, "b": 32 + below},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "hovermode": "x unified",
        "showlegend": legend,
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom",
                   "x": 0, "tracegroupgap": 0, "maxheight": max(below, LEGEND_ROW_PX)},
        "xaxis": {"type": "date", "range": [window.start * 1000, window.end * 1000],
                  "gridcolor": "#eceff3", "title": {"text": ""},
                  "hoverformat": "%Y-%m-%d %H:%M:%S UTC", "tickformatstops": TIME_TICKS},
        "yaxis": axis(unit),
        "uirevision": "keep",  # keep the user's zoom across refreshes
    }


def empty(window: Window, message: str = NO_REQUESTS, *, height: int = 260) -> dict:
    """A figure that says why it has nothing to show."""
    lay = layout(window, UNIT_COUNT, height=height, legend=False)
    lay["xaxis"] = {**lay["xaxis"], "visible": False}
    lay["yaxis"] = {"visible": False}
    lay["annotations"] = [{"text": message, "showarrow": False, "xref": "paper",
                           "yref": "paper", "x": 0.5, "y": 0.5,
                           "font": {"size": 15, "color": "#6b7785"}}]
    lay["meta"] = {"empty": True}
    return {"data": [], "layout": lay}


def series(frame: pd.DataFrame | None, window: Window, by: Sequence[str] = (), *,
           step: float | None = None, name: str | None = None) -> list[tuple[str, np.ndarray]]:
    """One ``(name, values on the grid)`` per label group of a range-query frame."""
    if frame is None or frame.empty:
        return []
    step = step or window.step
    grid = window.grid(step)
    by = [b for b in by if b in frame.columns]
    idx = grid_index(epoch_ms(frame["time"]), grid, step)
    values = frame["value"].to_numpy(dtype=float)
    if not by:
        y = np.full(len(grid), np.nan)
        y[idx] = values
        return [(name or "", y)]
    keys = frame[by[0]].astype(str) if len(by) == 1 else \
        frame[list(by)].astype(str).agg(" ".join, axis=1)
    codes, uniques = pd.factorize(keys, sort=True)
    ys = np.full((len(uniques), len(grid)), np.nan)
    ys[codes, idx] = values
    prefix = f"{name} " if name else ""
    return [(prefix + str(u), ys[i]) for i, u in enumerate(uniques)]


def _trace(name: str, x: np.ndarray, y: np.ndarray, color: str, *, dash: str | None = None,
           shape: str = "linear") -> dict:
    line: dict = {"width": 1.6, "color": color, "shape": shape}
    if dash:
        line["dash"] = dash
    return {"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, "line": line,
            "connectgaps": False}


def timeseries(lines: Sequence[tuple[str, np.ndarray]], window: Window, unit: str, *,
               step: float | None = None, empty_text: str = NO_REQUESTS,
               colors: dict[str, str] | None = None, dashes: dict[str, str] | None = None,
               shape: str = "linear", height: int = 260,
               y_range: Sequence[float] | None = None) -> dict:
    """A line chart of ``(name, values)`` on the window's grid; the empty figure if none."""
    lines = [(n, y) for n, y in lines if np.isfinite(y).any()]
    if not lines:
        return empty(window, empty_text, height=height)
    x = window.grid(step)
    traces = []
    for i, (name, y) in enumerate(lines):
        color = (colors or {}).get(name) or PALETTE[i % len(PALETTE)]
        dash = next((d for key, d in (dashes or {}).items() if name.startswith(key)), None)
        traces.append(_trace(name, x, y, color, dash=dash, shape=shape))
    names = [name for name, _ in lines]
    lay = layout(window, unit, height=height, legend=len(traces) > 1 or bool(lines[0][0]),
                 legend_lines=legend_rows(names))
    if y_range is not None:
        lay["yaxis"]["range"] = list(y_range)
    return {"data": traces, "layout": lay}


def with_events(figure: dict, events: pd.DataFrame, window: Window, by: str = "revision") -> dict:
    """Mark scale-up / scale-down / scale-to-zero events on a pod-count figure."""
    if events is None or events.empty or not figure.get("data"):
        return figure
    data = list(figure["data"])
    for kind, (symbol, color) in EVENT_STYLE.items():
        ev = events[events["kind"] == kind]
        if ev.empty:
            continue
        x = epoch_ms(pd.Series(pd.to_datetime(ev["time"], utc=True)))
        text = [f"{r} {f:g} → {t:g}" for r, f, t in zip(ev[by], ev["from"], ev["to"],
                                                          strict=True)]
        data.append({"type": "scatter", "mode": "markers", "name": kind, "x": x,
                     "y": ev["to"].to_numpy(dtype=float), "text": text,
                     "hovertemplate": "%{text}<extra>" + kind + "</extra>",
                     "marker": {"symbol": symbol, "size": 11, "color": color,
                                "line": {"width": 1, "color": "white"}}})
    return {**figure, "data": data}


def bars(labels: Sequence[str], values: Sequence[float | None], unit: str, *,
         height: int = 220, colors: Sequence[str] | None = None) -> dict:
    """A small horizontal bar chart (revision comparison)."""
    y = [v if v is not None and not (isinstance(v, float) and math.isnan(v)) else None
         for v in values]
    return {
        "data": [{"type": "bar", "orientation": "h", "y": list(labels), "x": y,
                  "marker": {"color": list(colors or PALETTE[: len(labels)])},
                  "text": [fmt(v, unit) for v in y], "textposition": "auto",
                  "hoverinfo": "skip"}],
        "layout": {"height": height, "margin": {"l": 180, "r": 16, "t": 8, "b": 28},
                   "paper_bgcolor": "white", "plot_bgcolor": "white", "showlegend": False,
                   "font": {"family": "system-ui, sans-serif", "size": 12},
                   "xaxis": axis(unit), "yaxis": {"autorange": "reversed"}},
    }


# -- numbers as text -------------------------------------------------------------------------
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _num(v: float) -> str:
    """Three significant digits, thousands separated rather than in e-notation."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def fmt(value: float | None, unit: str) -> str:
    """A value in base units as a short human string (``—`` when unknown)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if unit == UNIT_RPS:
        return f"{_num(v)} req/s"
    if unit == UNIT_RATIO:
        return "100 %" if v == 1 else f"{v * 100:.2f} %"
    if unit == UNIT_SECONDS:
        if v == 0:
            return "0 s"
        if abs(v) < 1:
            return f"{v * 1000:.3g} ms"
        return f"{_num(v)} s"
    if unit == UNIT_BYTES:
        i = 0
        while abs(v) >= 1024 and i < len(_BINARY) - 1:
            v /= 1024
            i += 1
        return f"{v:.3g} {_BINARY[i]}"
    if unit == UNIT_WATTS:
        return f"{_num(v)} W"
    if unit == UNIT_GPU_TIME:
        return f"{_num(v / 3600)} GPU-h" if abs(v) >= 36000 else f"{_num(v)} GPU-s"
    if unit == UNIT_WHOLE:
        return f"{v:,.0f}" if (v == round(v) or abs(v) >= 100) else f"{v:.3g}"
    return _num(v)


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 26,
              color: str = "#2f6fdf") -> str:
    """An inline SVG sparkline as a data URI (gaps stay gaps); empty string for no values."""
    y = np.asarray(values, dtype=float)
    if y.size == 0 or not np.isfinite(y).any():
        return ""
    top = float(np.nanmax(y))
    top = top if top > 0 else 1.0
    n = max(len(y) - 1, 1)
    segments: list[list[str]] = [[]]
    for i, v in enumerate(y):
        if not math.isfinite(v):
            if segments[-1]:
                segments.append([])
            continue
        px = 1 + (width - 2) * i / n
        py = height - 2 - (height - 4) * (v / top)
        segments[-1].append(f"{px:.1f},{py:.1f}")
    shapes = []
    for seg in segments:
        if len(seg) == 1:
            x0, y0 = seg[0].split(",")
            shapes.append(f'<circle cx="{x0}" cy="{y0}" r="1.5" fill="{color}"/>')
        elif seg:
            shapes.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                          f'points="{" ".join(seg)}"/>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">{"".join(shapes)}</svg>')
    return "data:image/svg+xml;utf8," + quote(svg)
