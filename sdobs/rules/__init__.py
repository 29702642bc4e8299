"""Recording rules, SLOs and alerts as code: typed definitions → Prometheus rule files."""
