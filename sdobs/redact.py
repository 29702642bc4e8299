"""Credentials out of every URL that sdobs shows (messages, logs, summaries, pages).

A URL flag may carry a secret two ways: userinfo (``https://me:pw@host``) and a token in the
query string (``?token=…``, ``?api_key=…``, pre-signed ``X-Amz-Signature=…``). Userinfo is
dropped and secret values become ``***`` before a URL is printed; the request still uses the
real URL. A VictoriaMetrics cluster tenant in the path (``/select/<accountID>/prometheus``) is
masked too, like the ``X-Scope-OrgID`` tenant header that is never printed. Standard library
only, so the light exporter install can use it too.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
#: Query parameters whose value is a secret (compared lower-cased, '-' read as '_').
SECRET_PARAMS = frozenset({
    "token", "access_token", "id_token", "refresh_token", "auth", "auth_token", "authorization",
    "api_key", "apikey", "key", "password", "passwd", "pass", "pwd", "secret", "client_secret",
    "sig", "signature", "x_amz_signature", "x_amz_credential", "x_amz_security_token",
    "x_goog_signature", "x_goog_credential", "jwt", "session", "sessionid", "private_token",
})
# scheme://userinfo@ inside free text: userinfo is everything up to the last '@' before the host.
_USERINFO_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#'\"<>]*@")
_QUERY_SECRET_IN_TEXT = re.compile(
    r"(?i)([?&;](?:" + "|".join(sorted((p.replace("_", "[_-]") for p in SECRET_PARAMS),
                                        key=len, reverse=True)) + r")=)[^&#\s'\"<>]*"
)
# A VictoriaMetrics cluster tenant: /select/<accountID>[:<projectID>]/prometheus.
_VM_TENANT_IN_PATH = re.compile(r"(/select/)[^/\s?#'\"<>]+(?=/prometheus\b)")


def is_secret_param(name: str) -> bool:
    return name.strip().lower().replace("-", "_") in SECRET_PARAMS


def redact_url(url: str) -> str:
    """``url`` without its userinfo and with secret query values replaced by ``***``.

    Anything that does not parse as a URL is redacted as text instead, so this never raises.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = netloc.rpartition("@")[2]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(is_secret_param(k) for k, _ in pairs):
                query = "&".join(
                    f"{quote(k, safe='')}={MASK if is_secret_param(k) else quote(v, safe='')}"
                    for k, v in pairs
                )
        path = _VM_TENANT_IN_PATH.sub(lambda m: f"{m.group(1)}{MASK}", parts.path)
        return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))
    except ValueError:
        return redact_text(url)


def redact_text(text: str) -> str:
    """Every URL credential inside free text (an exception message, a log line) masked."""
    text = _USERINFO_IN_TEXT.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _VM_TENANT_IN_PATH.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _QUERY_SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}{MASK}", text)
