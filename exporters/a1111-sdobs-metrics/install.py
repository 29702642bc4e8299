"""Run by the WebUI (``python install.py``) unless it starts with --skip-install: the exporter's
one dependency beyond what the WebUI already has (prometheus-client; starlette comes with it)."""

import launch

if not launch.is_installed("prometheus_client"):
    launch.run_pip("install prometheus-client>=0.26,<0.27", "prometheus-client for sdobs metrics")
