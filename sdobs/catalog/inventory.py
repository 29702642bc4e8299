"""Which namespaces, services and revisions exist: series selectors for label-value look-ups.

Selectors for Prometheus' ``/api/v1/label/<name>/values?match[]=...`` are PromQL too, so they
come from the catalog like every other query. The autoscaler's desired-pods gauge names every
revision it manages, also while the revision is scaled to zero; queue-proxy's request counter
adds revisions whose autoscaler is not scraped.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdobs.catalog import promql
from sdobs.catalog.catalog import Catalog, Selection


def inventory_selectors(catalog: Catalog, sel: Selection) -> list[str]:
    """Series selectors whose label values list every revision matching ``sel``."""
    d = catalog.dialect
    matchers = sel.matchers(d)
    queue_proxy = [promql.raw(*m) for m in d.queue_proxy_matchers]
    return [
        promql.selector(d.autoscaler["pods_desired"].name, matchers),
        promql.selector(d.request_count, [*matchers, *queue_proxy]),
    ]


def label_key(catalog: Catalog, canonical: str) -> str:
    """The dialect's label key for a canonical label (``service`` -> ``kn_service_name``...)."""
    return catalog.dialect.labels.key(canonical)


def job_samples(jobs: Sequence[str], window: str) -> str:
    """Every raw sample of the scrape jobs ``jobs`` over ``window`` (a range-vector selector)."""
    return f"{promql.selector('', [promql.one_of('job', jobs)])}[{promql.check_window(window)}]"
