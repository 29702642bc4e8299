"""The one Prometheus access layer: PromQL in, tidy pandas frames or typed errors out.

Transport is prometheus-api-client's ``PrometheusConnect`` (session, auth, TLS, connection
retries, the label and metadata endpoints). Queries themselves are sent as a POST form through
that same session, because ``custom_query`` puts the query in the URL, drops Prometheus' warnings
and reduces the structured error to ``repr(bytes)``, and its default retries on 503 multiply
the wait for a query that timed out (figures in ``benchmarks/README.md``).

Frames are long ("tidy"): ``time`` (UTC), one column per label, ``value`` (float).

The URL keeps its path (``/prometheus`` for Mimir, ``/select/0/prometheus`` for a VictoriaMetrics
cluster, a proxy's prefix for Thanos) and ``tenant`` sends ``X-Scope-OrgID``; messages show the
URL without credentials or tenant (``sdobs.prom.tenancy``, ``docs/stores.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from sdobs.errors import InputError
from sdobs.prom.errors import (
    BadQuery,
    NoData,
    PrometheusError,
    PrometheusHTTPError,
    PrometheusTimeout,
    PrometheusUnreachable,
)
from sdobs.prom.tenancy import check_base_path, merge_tenant
from sdobs.redact import redact_text, redact_url

#: Prometheus refuses a range query with more points than this per series.
MAX_POINTS = 11_000
DEFAULT_POINTS = 300

TimeLike = datetime | pd.Timestamp | float | int


def to_unix(t: TimeLike) -> float:
    """Seconds since the epoch; naive datetimes are taken as UTC."""
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return float(t)
    if isinstance(t, pd.Timestamp):
        t = t.to_pydatetime()
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return t.timestamp()
    raise TypeError(f"expected a datetime or unix seconds, got {type(t).__name__}")


def clamp_step(start: float, end: float, step: float | None, max_points: int = MAX_POINTS) -> float:
    """A step no finer than Prometheus' point limit allows (and ~300 points when not given)."""
    if end < start:
        raise InputError(f"range end {end} is before its start {start}; swap them")
    span = end - start
    if step is None:
        step = max(1.0, span / DEFAULT_POINTS)
    if step <= 0:
        raise InputError(f"step must be positive, got {step}")
    floor = math.ceil(span / max_points * 1000) / 1000  # Prometheus errors when span/step > max
    return max(float(step), floor, 0.001)


@dataclass(frozen=True)
class RangeQuery:
    """One range query of a page, for :meth:`PrometheusClient.query_many`."""

    expr: str
    start: TimeLike
    end: TimeLike
    step: float | None = None


@dataclass(frozen=True)
class InstantQuery:
    expr: str
    time: TimeLike | None = None


def _datetimes(unix_seconds: np.ndarray) -> pd.DatetimeIndex:
    # Through integer milliseconds: Prometheus timestamps have ms precision, floats do not.
    return pd.to_datetime(np.round(unix_seconds * 1000).astype("int64"), unit="ms", utc=True)


def frame_from_result(result_type: str, result: Any) -> pd.DataFrame:
    """Turn a Prometheus ``data`` payload into a tidy frame (vectorised over samples)."""
    if result_type in ("scalar", "string"):
        t, v = result
        return pd.DataFrame({"time": _datetimes(np.array([float(t)])),
                             "value": [float(v) if result_type == "scalar" else v]})
    if not result:
        return pd.DataFrame({"time": pd.Series([], dtype="datetime64[ns, UTC]"),
                             "value": pd.Series([], dtype=float)})
    key = "values" if result_type == "matrix" else "value"
    counts = np.fromiter(
        (len(s[key]) if result_type == "matrix" else 1 for s in result), dtype=np.int64,
        count=len(result),
    )
    if result_type == "matrix":
        samples = [p for s in result for p in s[key]]
    else:
        samples = [s[key] for s in result]
    pairs = np.asarray(samples, dtype=object).reshape(-1, 2) if samples else np.empty((0, 2))
    times = pairs[:, 0].astype(float)
    values = pairs[:, 1].astype(str).astype(float)  # "NaN", "+Inf" parse as floats
    labels = sorted({k for s in result for k in s["metric"]})
    data: dict[str, Any] = {"time": _datetimes(times)}
    for label in labels:
        per_series = np.array([s["metric"].get(label) for s in result], dtype=object)
        data[label] = np.repeat(per_series, counts)
    data["value"] = values
    return pd.DataFrame(data)


class PrometheusClient:
    """Instant and range PromQL queries against one Prometheus (or any PromQL-compatible API)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        ca_file: str | None = None,
        verify_tls: bool = True,
        client_cert: str | tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        tenant: str | None = None,
        max_workers: int = 8,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(
                f"Prometheus URL {redact_url(url)!r} must start with http:// or https://, "
                "e.g. http://127.0.0.1:9090"
            )
        # Credentials in the URL become basic auth, so no message or log ever shows them.
        parts = urlsplit(url.rstrip("/"))
        if parts.query or parts.fragment:  # API paths are appended: a query would swallow them
            raise InputError(f"Prometheus URL {redact_url(url)!r} must not have a query string "
                             "or fragment; give a token with --prometheus-token-env")
        if parts.username is not None:
            username = username or unquote(parts.username)
            password = password or unquote(parts.password or "")
            netloc = parts.hostname or ""
            if ":" in netloc:
                netloc = f"[{netloc}]"
            if parts.port:
                netloc += f":{parts.port}"
            parts = parts._replace(netloc=netloc)
        check_base_path(parts.path)
        self.url = urlunsplit(parts)
        #: What messages and pages show: no credentials, no tenant.
        self.shown_url = redact_url(self.url)
        self.timeout = timeout
        self._headers = merge_tenant(headers or {}, tenant)
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        auth = (username, password or "") if username else None
        session = requests.Session()
        session.verify = ca_file if (ca_file and verify_tls) else verify_tls
        session.cert = client_cert
        # Retry only when the connection could not be made: a query that failed or timed out
        # would fail the same way again and the user should hear about it at once.
        retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.1)
        self.connect = PrometheusConnect(
            url=self.url, headers=self._headers or None, retry=retry, auth=auth,
            session=session, timeout=timeout, disable_ssl=not verify_tls,
        )
        self._session = session
        self._auth = auth
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sdobs-prom")

    # -- transport -----------------------------------------------------------------------------
    def _post(self, path: str, form: dict[str, Any], expr: str | None) -> dict[str, Any]:
        endpoint = f"{self.url}{path}"
        try:
            resp = self._session.post(endpoint, data=form, headers=self._headers, auth=self._auth,
                                      timeout=self.timeout)
        except requests.exceptions.Timeout as exc:
            raise PrometheusTimeout(
                f"Prometheus at {self.shown_url} did not answer within {self.timeout:g} s; "
                "narrow the query or range, or raise the timeout",
                url=self.shown_url, expr=expr,
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.SSLError) as exc:
            raise PrometheusUnreachable(
                f"cannot reach Prometheus at {self.shown_url}; check that it is running and that "
                "the URL is right",
                url=self.shown_url, expr=expr,
            ) from exc
        return self._decode(resp, expr)

    def _decode(self, resp: requests.Response, expr: str | None) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "success":
            return body
        if isinstance(body, dict) and body.get("status") == "error":
            kind, detail = str(body.get("errorType", "")), str(body.get("error", ""))
            if kind == "timeout" or resp.status_code == 503:
                raise PrometheusTimeout(
                    f"Prometheus at {self.shown_url} gave up evaluating the query: {detail}; "
                    "narrow the query or range",
                    url=self.shown_url, expr=expr,
                )
            if resp.status_code in (400, 422):
                raise BadQuery(
                    f"Prometheus at {self.shown_url} rejected the query ({kind}): {detail}",
                    url=self.shown_url, expr=expr, error_type=kind, detail=detail,
                )
        hint = {
            401: "check the username/password or token (and the tenant, for Mimir or Cortex)",
            403: "the credentials lack access to this Prometheus",
            404: "the URL does not point at a Prometheus API (check any path prefix)",
        }.get(resp.status_code, "check the URL and the server's logs")
        raise PrometheusHTTPError(
            f"Prometheus at {self.shown_url} answered HTTP {resp.status_code} to "
            f"{redact_text(resp.request.path_url)}; {hint}",
            url=self.shown_url, expr=expr, status=resp.status_code,
        )

    # -- queries -------------------------------------------------------------------------------
    def query(self, expr: str, time: TimeLike | None = None, *,
              require_data: bool = False) -> pd.DataFrame:
        """Evaluate ``expr`` at one instant (default: now)."""
        form: dict[str, Any] = {"query": expr}
        if time is not None:
            form["time"] = f"{to_unix(time):.3f}"
        body = self._post("/api/v1/query", form, expr)
        return self._frame(body, expr, require_data)

    def query_range(self, expr: str, start: TimeLike, end: TimeLike, step: float | None = None,
                    *, require_data: bool = False) -> pd.DataFrame:
        """Evaluate ``expr`` over ``[start, end]``; the step is clamped to the point limit."""
        t0, t1 = to_unix(start), to_unix(end)
        form = {"query": expr, "start": f"{t0:.3f}", "end": f"{t1:.3f}",
                "step": f"{clamp_step(t0, t1, step):g}"}
        body = self._post("/api/v1/query_range", form, expr)
        return self._frame(body, expr, require_data)

    def _frame(self, body: dict[str, Any], expr: str, require_data: bool) -> pd.DataFrame:
        data = body.get("data", {})
        frame = frame_from_result(data.get("resultType", "vector"), data.get("result", []))
        frame.attrs["warnings"] = list(body.get("warnings", []))
        if require_data and frame.empty:
            raise NoData(f"the query returned no data from {self.shown_url}: {expr}",
                         url=self.shown_url, expr=expr)
        return frame

    def query_many(
        self,
        queries: Sequence[RangeQuery | InstantQuery | str],
        *,
        return_exceptions: bool = False,
    ) -> list[pd.DataFrame | PrometheusError]:
        """Run a page's queries concurrently; results come back in the order asked.

        With ``return_exceptions`` a failed query yields its PrometheusError in its slot instead
        of raising, so one bad panel does not blank a page.
        """
        calls: list[Callable[[], pd.DataFrame]] = []
        for q in queries:
            if isinstance(q, str):
                q = InstantQuery(q)
            if isinstance(q, RangeQuery):
                calls.append(lambda q=q: self.query_range(q.expr, q.start, q.end, q.step))
            else:
                calls.append(lambda q=q: self.query(q.expr, q.time))
        futures = [self._pool.submit(call) for call in calls]
        out: list[pd.DataFrame | PrometheusError] = []
        for future in futures:
            try:
                out.append(future.result())
            except PrometheusError as exc:
                if not return_exceptions:
                    for f in futures:
                        f.cancel()
                    raise
                out.append(exc)
        return out

    # -- metadata ------------------------------------------------------------------------------
    def metric_names(self, start: TimeLike | None = None, end: TimeLike | None = None) -> list[str]:
        """Every metric name in the store (over ``[start, end]`` when given)."""
        return self.label_values("__name__", start=start, end=end)

    def label_values(self, label: str, match: Sequence[str] = (), start: TimeLike | None = None,
                     end: TimeLike | None = None) -> list[str]:
        """Values of one label, optionally among series matching selectors."""
        params: dict[str, Any] = {}
        if match:
            params["match[]"] = list(match)
        if start is not None:
            params["start"] = f"{to_unix(start):.3f}"
        if end is not None:
            params["end"] = f"{to_unix(end):.3f}"
        try:
            return sorted(self.connect.get_label_values(label, params=params))
        except requests.exceptions.Timeout as exc:
            raise PrometheusTimeout(f"Prometheus at {self.shown_url} did not list label {label!r} "
                                    f"within {self.timeout:g} s", url=self.shown_url) from exc
        except requests.exceptions.ConnectionError as exc:
            raise PrometheusUnreachable(
                f"cannot reach Prometheus at {self.shown_url}; check that it is running and that "
                "the URL is right", url=self.shown_url,
            ) from exc
        except PrometheusApiClientException as exc:
            raise PrometheusHTTPError(f"Prometheus at {self.shown_url} refused to list label "
                                      f"{label!r}: {exc}", url=self.shown_url) from exc

    def ready(self) -> bool:
        """Whether the server answers its health endpoint."""
        try:
            return bool(self.connect.check_prometheus_connection())
        except requests.exceptions.RequestException:
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.connect.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        tenant = ", tenant=***" if "X-Scope-OrgID" in self._headers else ""
        return f"PrometheusClient({self.shown_url!r}{tenant})"
