"""The service the capacity tests' twin history holds (importable: ``conftest`` is not unique)."""

SERVICE, NAMESPACE = "knative-sd-demo", "default"

#: The history ends at a fixed time (2026-05-28T20:00Z), so its daily shape never changes.
END = 1_779_998_400
