"""Light Prometheus exporters that run inside model pods (prometheus-client, nvidia-ml-py only)."""
