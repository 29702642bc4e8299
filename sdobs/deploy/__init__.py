"""What a user applies to a real cluster so every sdobs panel has data.

``manifests`` builds each object (scrape monitors, ``config-observability``, Helm values
fragments), ``compile`` turns a PodMonitor into the Prometheus scrape job the Prometheus
Operator generates from it (so a plain Prometheus gets the very same relabelling, and tests can
prove it in a real Prometheus), ``render`` writes the complete set for one Knative dialect and
monitoring stack, ``validate`` checks it against the Kubernetes and Prometheus Operator schemas.
Facts and sources: ``docs/cluster-install.md``.
"""
