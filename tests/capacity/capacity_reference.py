"""The service the capacity tests' twin history holds (importable: ``conftest`` is not unique)."""

SERVICE, NAMESPACE = "knative-sd-demo", "default"
