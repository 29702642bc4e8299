"""Load generated dashboards into a running Grafana through its HTTP API.

``POST /api/dashboards/db`` with ``{"dashboard", "overwrite", "folderUid", "message"}`` (Grafana
8.3 to 12; Grafana 12 calls it the legacy API but serves it). Authentication is a service
account token (``Authorization: Bearer``) or basic auth. Every failure becomes one
:class:`UploadError` sentence saying what to do; 401, 403, 404 and 412 each get their own.

No false success: redirects are never followed (a 302 to a login page's JSON, or a 307 to
another host that would drop the credentials, is an error naming where it pointed), and every
upload is read back (``GET /api/dashboards/uid/<uid>``) and must show the uid and version that
the upload reported. UIDs are checked as Grafana defines them and every path segment is
percent-encoded, so a folder UID cannot reach another API path. URLs in messages never show
credentials, and what Grafana said is shown short and without terminal escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

from sdobs.redact import redact_text, redact_url

DEFAULT_TIMEOUT = 10.0
#: Grafana's UID rule (pkg/util/shortid_generator.go): letters, digits, '-' and '_', at most 40.
MAX_UID_LENGTH = 40
_UID = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: How much of Grafana's own words an error message quotes.
MAX_DETAIL_CHARS = 200
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def check_uid(uid: str, what: str = "folder UID") -> str:
    """``uid`` when Grafana would accept it, else an UploadError saying the rule."""
    if not isinstance(uid, str) or not _UID.fullmatch(uid):
        raise UploadError(f"{what} {shown_text(str(uid), 50)!r} is not a Grafana UID: use 1 to "
                          f"{MAX_UID_LENGTH} letters, digits, '-' or '_'")
    return uid


def shown_text(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """Outside text made safe to print: terminal escapes and control characters removed,
    whitespace collapsed, at most ``limit`` characters."""
    text = _ANSI.sub("", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class UploadError(Exception):
    """Grafana refused or could not be reached; the message says what to do."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Uploaded:
    uid: str
    title: str
    url: str  # the dashboard's URL as Grafana reports it (relative to Grafana's root)
    version: int | None
    status: str


class GrafanaClient:
    """The few Grafana endpoints sdobs needs, with a timeout on every call."""

    def __init__(self, url: str, *, token: str | None = None,
                 basic_auth: tuple[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                 verify_tls: bool | str = True) -> None:
        if not url.startswith(("http://", "https://")):
            raise UploadError(f"Grafana URL {redact_url(url)!r} must start with http:// or "
                              "https://, e.g. http://127.0.0.1:3000")
        if urlsplit(url).query or urlsplit(url).fragment:  # API paths are appended to it
            raise UploadError(f"Grafana URL {redact_url(url)!r} must not have a query string or "
                              "fragment; give a token with --token or GRAFANA_TOKEN")
        url, in_url = _split_credentials(url)
        basic_auth = basic_auth or in_url
        if token and basic_auth:
            raise UploadError("give either a token or basic auth for Grafana, not both")
        self.url = url.rstrip("/")
        #: The URL as messages show it (no credentials, no token in the query).
        self.shown_url = redact_url(self.url)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify_tls
        self.session.headers.update({"Accept": "application/json",
                                     "User-Agent": "sdobs-dashboards"})
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        elif basic_auth:
            self.session.auth = basic_auth

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> GrafanaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, what: str, body: Any = None,
              ok_missing: bool = False) -> dict[str, Any] | None:
        endpoint = f"{self.url}{path}"
        try:
            # Never follow a redirect: a write must land where it was sent, with its credentials
            # (requests drops them for another host), or fail; a read must not pass for one.
            resp = self.session.request(method, endpoint, json=body, timeout=self.timeout,
                                        allow_redirects=False)
        except requests.exceptions.Timeout as exc:
            raise UploadError(f"Grafana at {self.shown_url} did not answer within "
                              f"{self.timeout:g} s while {what}; check that it is up or raise "
                              "--timeout") from exc
        except requests.exceptions.RequestException as exc:
            raise UploadError(f"cannot reach Grafana at {self.shown_url} while {what} "
                              f"({shown_text(redact_text(str(exc)))}); check --grafana-url and "
                              "that Grafana is running") from exc
        if resp.status_code == 404 and ok_missing:
            return None
        if 300 <= resp.status_code < 400:
            where = resp.headers.get("Location")
            to = f" to {shown_text(redact_url(where), 120)}" if where else ""
            raise UploadError(f"Grafana at {self.shown_url} answered {resp.status_code}, a "
                              f"redirect{to}, while {what}; sdobs does not follow redirects "
                              "with credentials: give the final address as --grafana-url",
                              resp.status_code)
        if resp.status_code >= 400 or resp.status_code < 200:
            raise self._error(resp, what)
        try:
            return resp.json()
        except ValueError as exc:
            raise UploadError(f"Grafana at {self.shown_url} answered {what} with something "
                              "that is not JSON; check that --grafana-url points at Grafana "
                              "itself (with its sub-path, if any)") from exc

    def _error(self, resp: requests.Response, what: str) -> UploadError:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        detail = body.get("message") if isinstance(body, dict) else None
        detail = shown_text(str(detail)) if detail else shown_text(resp.text or "")
        said = f" (Grafana said: {detail})" if detail else ""
        code = resp.status_code
        if code == 401:
            msg = (f"Grafana at {self.shown_url} rejected the credentials while {what} "
                   f"(401){said}; check the service account token (--token or GRAFANA_TOKEN) "
                   "or --basic-auth")
        elif code == 403:
            msg = (f"the Grafana credentials may not do this while {what} (403){said}; give "
                   "the service account the Editor role or write access to the folder")
        elif code == 404:
            msg = (f"Grafana at {self.shown_url} found nothing while {what} (404){said}; check "
                   "--grafana-url (include Grafana's sub-path) and that the folder UID exists")
        elif code == 412:
            status = body.get("status") if isinstance(body, dict) else None
            status = shown_text(str(status or "precondition failed"), 40)
            msg = (f"Grafana refused to replace a dashboard while {what} (412, "
                   f"{status}){said}; another dashboard has the same "
                   "uid or title there, or it changed since: upload with overwrite, or delete "
                   "or rename the other one")
        else:
            msg = f"Grafana at {self.shown_url} answered {code} while {what}{said}"
        return UploadError(msg, code)

    # -- endpoints -----------------------------------------------------------------------------
    def ensure_folder(self, uid: str, title: str) -> None:
        """Create folder ``uid`` titled ``title`` unless it exists."""
        check_uid(uid)
        if self._call("GET", f"/api/folders/{_segment(uid)}", f"looking up folder {uid}",
                      ok_missing=True) is None:
            self._call("POST", "/api/folders", f"creating folder {uid}",
                       {"uid": uid, "title": title})

    def read_dashboard(self, uid: str) -> dict[str, Any]:
        """``GET /api/dashboards/uid/<uid>``: ``{"dashboard": {...}, "meta": {...}}``."""
        check_uid(uid, "dashboard uid")
        body = self._call("GET", f"/api/dashboards/uid/{_segment(uid)}",
                          f"reading dashboard {uid} back")
        return body if isinstance(body, dict) else {}

    def post_dashboard(self, dashboard: dict[str, Any], *, folder_uid: str | None = None,
                       overwrite: bool = True, message: str = "") -> Uploaded:
        """Create or replace one dashboard (by its uid)."""
        payload = upload_payload(dashboard, folder_uid=folder_uid, overwrite=overwrite,
                                 message=message)
        title = dashboard.get("title", "?")
        uid = payload["dashboard"]["uid"]
        what = f"uploading dashboard {title!r}"
        body = self._call("POST", "/api/dashboards/db", what, payload)
        if not isinstance(body, dict):
            body = {}
        version = body.get("version")
        if body.get("uid") != uid or not _is_version(version):
            raise UploadError(f"Grafana at {self.shown_url} answered {what} without the "
                              f"dashboard's uid {uid} and a version, so the upload is not "
                              "confirmed; check that --grafana-url points at Grafana itself")
        self._verify(uid, version, folder_uid, title)
        return Uploaded(uid=uid, title=title, url=str(body.get("url", "")), version=version,
                        status=str(body.get("status", "")))

    def _verify(self, uid: str, version: int, folder_uid: str | None, title: str) -> None:
        """Read the dashboard back: it must be there with the version the upload reported."""
        back = self.read_dashboard(uid)
        dash = back.get("dashboard") if isinstance(back.get("dashboard"), dict) else {}
        meta = back.get("meta") if isinstance(back.get("meta"), dict) else {}
        got = (dash.get("uid"), dash.get("version"))
        if got != (uid, version):
            raise UploadError(f"Grafana at {self.shown_url} reported dashboard {title!r} "
                              f"uploaded as {uid} version {version}, but reading it back gave "
                              f"{shown_text(str(got[0]), 50)} version "
                              f"{shown_text(str(got[1]), 20)}; the upload is not confirmed "
                              "(another writer, or not Grafana at that URL)")
        if folder_uid and "folderUid" in meta and meta["folderUid"] != folder_uid:
            raise UploadError(f"dashboard {title!r} was uploaded but Grafana keeps it in folder "
                              f"{shown_text(str(meta['folderUid']), 50)!r}, not {folder_uid!r}")


def upload_payload(dashboard: dict[str, Any], *, folder_uid: str | None = None,
                   overwrite: bool = True, message: str = "") -> dict[str, Any]:
    """The request body of ``POST /api/dashboards/db`` (``id`` dropped: Grafana keys by uid)."""
    dash = {k: v for k, v in dashboard.items() if k != "id"}
    if not dash.get("uid") or len(str(dash["uid"])) > MAX_UID_LENGTH:
        raise UploadError(f"dashboard {dash.get('title')!r} needs a uid of 1 to 40 characters")
    check_uid(dash["uid"], f"dashboard {dash.get('title')!r} has uid")
    if folder_uid:
        check_uid(folder_uid)
    payload: dict[str, Any] = {"dashboard": dash, "overwrite": overwrite,
                               "message": message or "uploaded by sdobs dashboards upload"}
    if folder_uid:
        payload["folderUid"] = folder_uid
    return payload


def upload(dashboards: Iterable[dict[str, Any]], client: GrafanaClient, *,
           folder_uid: str | None = None, folder_title: str | None = None,
           overwrite: bool = True, message: str = "") -> list[Uploaded]:
    """Upload every dashboard; creates the folder first when ``folder_title`` is given."""
    if folder_title and not folder_uid:
        raise UploadError("a folder title needs a folder UID (--folder) to create it under")
    if folder_uid:
        check_uid(folder_uid)
    if folder_uid and folder_title:
        client.ensure_folder(folder_uid, folder_title)
    return [client.post_dashboard(d, folder_uid=folder_uid, overwrite=overwrite,
                                  message=message) for d in dashboards]


def _segment(value: str) -> str:
    """One URL path segment: '/', '?', '#', '%' and '..' cannot leave it."""
    return quote(value, safe="")


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without ``user:password@``, and those as basic auth (so no message shows them)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))
