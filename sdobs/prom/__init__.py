"""Prometheus access: the local harness and the query client (``sdobs.prom.client``)."""
