"""How a request names its Knative Service at the live twin's gateway, besides the Host header.

``/services/<namespace>/<service>/<path inside it>`` lets a client that cannot set a Host header
(a browser, a plain ``curl``) reach any Service. The twin routes by it and the app's load-test
page reads the Service back from a target URL of that form.
"""

from __future__ import annotations

PREFIX = "/services/"


def split_service_path(path: str) -> tuple[tuple[str, str] | None, str]:
    """``((namespace, service), path inside)`` for ``/services/...``, else ``(None, path)``."""
    if not path.startswith(PREFIX):
        return None, path
    parts = path[len(PREFIX):].split("/", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None, path
    return (parts[0], parts[1]), "/" + (parts[2] if len(parts) > 2 else "")
