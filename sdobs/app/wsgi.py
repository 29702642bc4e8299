"""The WSGI object for production servers, configured from the environment.

    gunicorn 'sdobs.app.wsgi:server' -b 127.0.0.1:8050 -w 2 --threads 8 --timeout 60
    waitress-serve --listen=127.0.0.1:8050 --threads=8 sdobs.app.wsgi:server

``SDOBS_PROMETHEUS_URL`` (default the local Prometheus), ``SDOBS_PROMETHEUS_USER`` /
``SDOBS_PROMETHEUS_PASSWORD`` / ``SDOBS_PROMETHEUS_TOKEN`` for Prometheus,
``SDOBS_PROMETHEUS_TENANT`` (X-Scope-OrgID for Mimir/Cortex) and ``SDOBS_PROMETHEUS_HEADERS``
(one NAME=VALUE a line) for multi-tenant stores and proxies, ``SDOBS_APP_USER`` and
``SDOBS_APP_PASSWORD`` to require basic auth, ``SDOBS_DIALECT`` to force a Knative dialect,
``SDOBS_SCRAPE_INTERVAL`` (seconds, default 15), ``SDOBS_TIMEOUT`` (seconds, default 15), and
``SDOBS_LOADTEST_TARGET`` / ``SDOBS_LOADTEST_HOST`` to prefill the load test page.
"""

from __future__ import annotations

import os

from sdobs.app.app import create_app
from sdobs.errors import InputError
from sdobs.prom.cli import DEFAULT_URL, connection_headers
from sdobs.prom.client import PrometheusClient


def app_from_env(env: dict[str, str] | os._Environ = os.environ):
    """Build the app the environment describes (what ``server`` below is made from)."""
    user, password = env.get("SDOBS_APP_USER"), env.get("SDOBS_APP_PASSWORD")
    if bool(user) != bool(password):
        raise InputError("set both SDOBS_APP_USER and SDOBS_APP_PASSWORD for basic auth, "
                         "or neither")
    timeout = float(env.get("SDOBS_TIMEOUT", "15"))
    client = PrometheusClient(
        env.get("SDOBS_PROMETHEUS_URL", DEFAULT_URL), timeout=timeout, max_workers=8,
        username=env.get("SDOBS_PROMETHEUS_USER"),
        password=env.get("SDOBS_PROMETHEUS_PASSWORD"),
        bearer_token=env.get("SDOBS_PROMETHEUS_TOKEN"),
        headers=connection_headers(env.get("SDOBS_PROMETHEUS_HEADERS")),
        tenant=env.get("SDOBS_PROMETHEUS_TENANT") or None,
    )
    return create_app(client, dialect=env.get("SDOBS_DIALECT") or None,
                      auth=(user, password) if user else None,
                      scrape_interval=float(env.get("SDOBS_SCRAPE_INTERVAL", "15")),
                      loadtest_target=env.get("SDOBS_LOADTEST_TARGET", ""),
                      loadtest_host=env.get("SDOBS_LOADTEST_HOST", ""))


app = app_from_env()
server = app.server
