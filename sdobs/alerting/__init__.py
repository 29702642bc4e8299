"""Alerting on the embedded default: a real Alertmanager, the rules in the demo's Prometheus,
and faults injected into the live twin so that alerts can be seen firing end to end."""
