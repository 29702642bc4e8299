"""Typed Prometheus errors: each says in one sentence what failed, where, and what to do."""

from __future__ import annotations


class PrometheusError(Exception):
    """Base class; ``url`` is the Prometheus the request went to."""

    def __init__(self, message: str, *, url: str, expr: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.expr = expr


class PrometheusUnreachable(PrometheusError):
    """Nothing answered at the URL (refused, DNS failure, TLS handshake failure)."""


class PrometheusTimeout(PrometheusError):
    """The request or the query evaluation took longer than allowed."""


class BadQuery(PrometheusError):
    """Prometheus rejected the query; ``error_type`` and ``detail`` are its own words."""

    def __init__(self, message: str, *, url: str, expr: str | None, error_type: str,
                 detail: str) -> None:
        super().__init__(message, url=url, expr=expr)
        self.error_type = error_type
        self.detail = detail


class PrometheusHTTPError(PrometheusError):
    """Any other failure answer (401, 403, 404, 5xx, a body that is not the Prometheus API)."""

    def __init__(self, message: str, *, url: str, expr: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, url=url, expr=expr)
        self.status = status


class NoData(PrometheusError):
    """The query ran but selected no series (raised only when data was required)."""


class HarnessError(RuntimeError):
    """The local Prometheus could not be set up, started or fed."""


class PortInUse(HarnessError):
    """The port asked for is taken by another process."""
