"""Load generated dashboards into a running Grafana through its HTTP API.

``POST /api/dashboards/db`` with ``{"dashboard", "overwrite", "folderUid", "message"}`` (Grafana
8.3 to 12; Grafana 12 calls it the legacy API but serves it). Authentication is a service
account token (``Authorization: Bearer``) or basic auth. Every failure becomes one
:class:`UploadError` sentence saying what to do; 401, 403, 404 and 412 each get their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_TIMEOUT = 10.0


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
                 verify_tls: bool | str = True) -> None:  # fmt: skip
        if not url.startswith(("http://", "https://")):
            raise UploadError(f"Grafana URL {url!r} must start with http:// or https://, "
                              "e.g. http://127.0.0.1:3000")  # fmt: skip
        if token and basic_auth:
            raise UploadError("give either a token or basic auth for Grafana, not both")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = verify_tls
        self.session.headers.update({"Accept": "application/json",
                                     "User-Agent": "sdobs-dashboards"})  # fmt: skip
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
              ok_missing: bool = False) -> dict[str, Any] | None:  # fmt: skip
        endpoint = f"{self.url}{path}"
        try:
            resp = self.session.request(method, endpoint, json=body, timeout=self.timeout)
        except requests.exceptions.Timeout as exc:
            raise UploadError(f"Grafana at {self.url} did not answer within {self.timeout:g} s "
                              f"while {what}; check that it is up or raise --timeout") from exc
        except requests.exceptions.RequestException as exc:
            raise UploadError(f"cannot reach Grafana at {self.url} while {what} ({exc}); check "
                              "--grafana-url and that Grafana is running") from exc
        if resp.status_code == 404 and ok_missing:
            return None
        if resp.status_code >= 400:
            raise self._error(resp, what)
        try:
            return resp.json()
        except ValueError as exc:
            raise UploadError(f"Grafana at {self.url} answered {what} with something that is "
                              "not JSON; check that --grafana-url points at Grafana itself "
                              "(with its sub-path, if any)") from exc

    def _error(self, resp: requests.Response, what: str) -> UploadError:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        detail = body.get("message") if isinstance(body, dict) else None
        said = f" (Grafana said: {detail})" if detail else ""
        code = resp.status_code
        if code == 401:
            msg = (f"Grafana at {self.url} rejected the credentials while {what} (401){said}; "
                   "check the service account token (--token or GRAFANA_TOKEN) or --basic-auth")
        elif code == 403:
            msg = (f"the Grafana credentials may not do this while {what} (403){said}; give "
                   "the service account the Editor role or write access to the folder")
        elif code == 404:
            msg = (f"Grafana at {self.url} found nothing while {what} (404){said}; check "
                   "--grafana-url (include Grafana's sub-path) and that the folder UID exists")
        elif code == 412:
            status = body.get("status") if isinstance(body, dict) else None
            msg = (f"Grafana refused to replace a dashboard while {what} (412, "
                   f"{status or 'precondition failed'}){said}; another dashboard has the same "
                   "uid or title there, or it changed since: upload with overwrite, or delete "
                   "or rename the other one")
        else:
            msg = f"Grafana at {self.url} answered {code} while {what}{said}"
        return UploadError(msg, code)

    # -- endpoints -----------------------------------------------------------------------------
    def ensure_folder(self, uid: str, title: str) -> None:
        """Create folder ``uid`` titled ``title`` unless it exists."""
        if self._call("GET", f"/api/folders/{uid}", f"looking up folder {uid}",
                      ok_missing=True) is None:  # fmt: skip
            self._call("POST", "/api/folders", f"creating folder {uid}",
                       {"uid": uid, "title": title})  # fmt: skip

    def post_dashboard(self, dashboard: dict[str, Any], *, folder_uid: str | None = None,
                       overwrite: bool = True, message: str = "") -> Uploaded:  # fmt: skip
        """Create or replace one dashboard (by its uid)."""
        payload = upload_payload(dashboard, folder_uid=folder_uid, overwrite=overwrite,
                                 message=message)  # fmt: skip
        title = dashboard.get("title", "?")
        body = self._call("POST", "/api/dashboards/db", f"uploading dashboard {title!r}",
                          payload) or {}  # fmt: skip
        return Uploaded(uid=str(body.get("uid", dashboard.get("uid", ""))), title=title,
                        url=str(body.get("url", "")), version=body.get("version"),
                        status=str(body.get("status", "")))  # fmt: skip


def upload_payload(dashboard: dict[str, Any], *, folder_uid: str | None = None,
                   overwrite: bool = True, message: str = "") -> dict[str, Any]:  # fmt: skip
    """The request body of ``POST /api/dashboards/db`` (``id`` dropped: Grafana keys by uid)."""
    dash = {k: v for k, v in dashboard.items() if k != "id"}
    if not dash.get("uid") or len(str(dash["uid"])) > 40:
        raise UploadError(f"dashboard {dash.get('title')!r} needs a uid of 1 to 40 characters")
    payload: dict[str, Any] = {"dashboard": dash, "overwrite": overwrite,
                               "message": message or "uploaded by sdobs dashboards upload"}
    if folder_uid:
        payload["folderUid"] = folder_uid
    return payload


def upload(dashboards: Iterable[dict[str, Any]], client: GrafanaClient, *,
           folder_uid: str | None = None, folder_title: str | None = None,
           overwrite: bool = True, message: str = "") -> list[Uploaded]:  # fmt: skip
    """Upload every dashboard; creates the folder first when ``folder_title`` is given."""
    if folder_title and not folder_uid:
        raise UploadError("a folder title needs a folder UID (--folder) to create it under")
    if folder_uid and folder_title:
        client.ensure_folder(folder_uid, folder_title)
    return [client.post_dashboard(d, folder_uid=folder_uid, overwrite=overwrite,
                                  message=message) for d in dashboards]  # fmt: skip
