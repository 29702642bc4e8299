"""The multi-tenant and path forms of PromQL stores, checked before any request is made.

Scale-out stores put the Prometheus API behind a path or a tenant: Mimir and Cortex want the
tenant in an ``X-Scope-OrgID`` header (under ``/prometheus``), a VictoriaMetrics cluster in the
path (``/select/<accountID>[:<projectID>]/prometheus``), Thanos Query behind a proxy under its
``--web.route-prefix``. The client keeps the URL's path and appends ``/api/v1/...`` to it; this
module refuses the forms that would only fail later with a bare 404 (``docs/stores.md``).
Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sdobs.errors import InputError

#: The header Mimir and Cortex read the tenant from.
TENANT_HEADER = "X-Scope-OrgID"
#: Mimir's tenant ID rule: at most 150 of these characters, and not "." or "..".
_TENANT_ID = re.compile(r"[A-Za-z0-9!\-_.*'()]{1,150}")
#: RFC 9110 field-name token.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: VictoriaMetrics cluster tenant: accountID[:projectID], both 32-bit unsigned, or "multitenant".
_VM_TENANT = re.compile(r"(\d{1,10})(?::(\d{1,10}))?|multitenant")


def check_tenant(tenant: str) -> str:
    """``tenant`` when it is a valid X-Scope-OrgID (``t1|t2`` for Mimir's tenant federation).

    The message never repeats the value: a tenant is kept out of every message and log.
    """
    ids = tenant.split("|")
    if not all(_TENANT_ID.fullmatch(t) and t not in (".", "..") for t in ids):
        raise InputError("the Prometheus tenant must be one or more IDs joined by '|', each at "
                         "most 150 letters, digits or ! - _ . * ' ( ) and not '.' or '..'")
    return tenant


def parse_header(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` or ``NAME: VALUE`` as a (name, value) pair; the value is never echoed."""
    cut = min((i for i in (text.find("="), text.find(":")) if i >= 0), default=-1)
    name, value = (text[:cut].strip(), text[cut + 1:].strip()) if cut > 0 else (text.strip(), "")
    if cut <= 0 or not _HEADER_NAME.fullmatch(name):
        shown = name if _HEADER_NAME.fullmatch(name) else "a header"
        raise InputError(f"{shown} is not a header: write NAME=VALUE, e.g. X-Scope-OrgID=team-a")
    check_header(name, value)
    return name, value


def parse_headers(items: Iterable[str]) -> dict[str, str]:
    """Several ``NAME=VALUE`` items (blank ones skipped) as one dict; a later name wins."""
    out: dict[str, str] = {}
    for item in items:
        if item.strip():
            name, value = parse_header(item)
            out = {k: v for k, v in out.items() if k.lower() != name.lower()}
            out[name] = value
    return out


def check_header(name: str, value: str) -> None:
    """Refuse a header that requests would send broken or split (CR, LF, NUL in the value)."""
    if not _HEADER_NAME.fullmatch(name):
        raise InputError("a Prometheus header name must be a token of letters, digits and "
                         "!#$%&'*+-.^_`|~, e.g. X-Scope-OrgID")
    if any(c in value for c in "\r\n\0"):
        raise InputError(f"the value of header {name} must be one line (no CR, LF or NUL)")


def merge_tenant(headers: Mapping[str, str], tenant: str | None) -> dict[str, str]:
    """``headers`` checked, with ``X-Scope-OrgID: tenant`` added (a clashing one is refused)."""
    out = dict(headers)
    for name, value in out.items():
        check_header(name, value)
    if tenant is None:
        given = [v for k, v in out.items() if k.lower() == TENANT_HEADER.lower()]
        for value in given:
            check_tenant(value)
        return out
    check_tenant(tenant)
    for name, value in list(out.items()):
        if name.lower() == TENANT_HEADER.lower():
            if value != tenant:
                raise InputError(f"give the tenant once: --prometheus-tenant and a {name} header "
                                 "disagree")
            del out[name]
    out[TENANT_HEADER] = tenant
    return out


def check_base_path(path: str) -> None:
    """Refuse a base path that cannot be a PromQL API's base (the API path is appended to it)."""
    segments = [s for s in path.split("/") if s]
    if "api" in segments and "v1" in segments[segments.index("api"):]:
        raise InputError("the Prometheus URL must be the API's base, without /api/v1 (sdobs "
                         "appends /api/v1/query itself), e.g. http://vmselect:8481/select/0/prometheus")
    if segments[:1] == ["insert"]:
        raise InputError("the Prometheus URL points at vminsert's write path /insert/...; read "
                         "through vmselect, e.g. http://vmselect:8481/select/0/prometheus")
    if segments[:1] == ["select"]:
        if len(segments) < 2 or not _VM_TENANT.fullmatch(segments[1]) or not all(
                int(n) < 2**32 for n in _VM_TENANT.fullmatch(segments[1]).groups() if n):
            raise InputError("a VictoriaMetrics cluster URL names its tenant as "
                             "/select/<accountID>[:<projectID>]/prometheus with 32-bit "
                             "unsigned integers, e.g. http://vmselect:8481/select/0/prometheus")
        if segments[2:] != ["prometheus"]:
            raise InputError("a VictoriaMetrics cluster URL ends in /select/<accountID>/prometheus"
                             ", e.g. http://vmselect:8481/select/0/prometheus")
