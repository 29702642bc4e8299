"""The app's Prometheus: one client and the Knative dialect it holds, re-detected after failures.

The dialect is detected at start and checked again after a page load failed or found nothing,
so the app follows a Prometheus that was down at start or a cluster upgraded across v1.19.
"""

from __future__ import annotations

import threading
import time

from sdobs.catalog import Catalog
from sdobs.errors import NotFound
from sdobs.knative.detect import detect_dialect
from sdobs.knative.dialects import Dialect, get_dialect
from sdobs.prom.client import PrometheusClient
from sdobs.prom.errors import PrometheusError
from sdobs.redact import redact_url


def shown_url(url: str) -> str:
    """``url`` without credentials, safe to print in a page or a log."""
    return redact_url(url)


class Source:
    """A Prometheus client plus its catalog; ``dialect`` forces one instead of detecting."""

    def __init__(self, client: PrometheusClient, dialect: str | Dialect | None = None, *,
                 scrape_interval: float = 15.0) -> None:
        self.client = client
        self.scrape_interval = float(scrape_interval)
        self.forced = get_dialect(dialect) if dialect else None
        self._catalog = Catalog(self.forced) if self.forced else None
        self._recheck = self.forced is None
        self._lock = threading.Lock()
        self.detections = 0
        self.detected_at: float | None = None

    @property
    def url(self) -> str:
        """The Prometheus URL as shown to users: without any user:password in it."""
        return shown_url(self.client.url)

    @property
    def dialect(self) -> Dialect | None:
        return self._catalog.dialect if self._catalog else None

    def catalog(self) -> Catalog:
        """The catalog for the dialect Prometheus holds; raises PrometheusError or NotFound."""
        with self._lock:
            if self._catalog is not None and not self._recheck:
                return self._catalog
            self.detections += 1
            dialect = detect_dialect(self.client)
            self._catalog = Catalog(dialect)
            self._recheck = False
            self.detected_at = time.time()
            return self._catalog

    def start(self) -> str:
        """Detect now and say in one sentence what was found (never raises)."""
        try:
            cat = self.catalog()
        except (PrometheusError, NotFound) as exc:
            return f"no dialect yet ({exc}); the app will check again on the next page load"
        return f"Knative dialect {cat.dialect.name} ({cat.dialect.versions})"

    def recheck(self) -> None:
        """Detect the dialect again before the next query (after a failure or an empty page)."""
        if self.forced is None:
            self._recheck = True

    def close(self) -> None:
        self.client.close()
