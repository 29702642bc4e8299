"""Light Prometheus exporters that run inside model pods (prometheus-client and nvidia-ml-py only)."""
