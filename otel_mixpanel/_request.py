"""The HTTP request for one batch: body, encoding, query and authentication."""

from __future__ import annotations

import gzip
import json
from typing import Any, Optional, Union
from urllib.parse import urlencode

import requests
import urllib3.exceptions

from ._credentials import ServiceAccountCredentials
from ._endpoints import is_plain_http_to_remote

#: Bodies larger than this many bytes are gzipped where the endpoint takes it.
GZIP_MIN_BYTES = 1024
#: Endpoints that take a JSON array body (and gzip); the others take a form.
_JSON_ENDPOINTS = frozenset({"events", "imports"})


def build_request(
    endpoint: str,
    url: str,
    batch: list[str],
    *,
    credentials: Optional[ServiceAccountCredentials],
    api_secret: Optional[str],
    gzip_bodies: bool,
) -> Union[dict[str, Any], str]:
    """Return the keyword arguments of the POST, or why it must not be sent.

    ``/track`` and ``/import`` take a JSON array (gzipped when large);
    ``/engage`` and ``/groups`` a form. Only ``/import`` is authenticated:
    by the service account, else the API secret, else the project token of
    the first event; a secret is never sent over plain http to a remote host.
    """
    body = "[" + ",".join(batch) + "]"
    params: dict[str, str] = {"verbose": "1", "ip": "0"}
    headers: dict[str, str] = {}
    auth: Optional[tuple[str, str]] = None
    if endpoint in _JSON_ENDPOINTS:
        data = body.encode("utf-8")
        headers["Content-Type"] = "application/json"
        if gzip_bodies and len(data) >= GZIP_MIN_BYTES:
            data = gzip.compress(data, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
    else:
        data = urlencode({"data": body, "verbose": "1", "ip": "0"}).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if endpoint == "imports":
        params = {"strict": "1"}
        if credentials is not None:
            auth = (credentials.username, credentials.secret)
            params["project_id"] = credentials.project_id
        elif api_secret:
            auth = (api_secret, "")
        else:
            token = _token_of(batch[0])
            auth = (token, "") if token else None
        secret_auth = credentials is not None or bool(api_secret)
        if secret_auth and is_plain_http_to_remote(url):
            return "refused to send credentials over plain http to a remote host"
    return {"params": params, "data": data, "headers": headers, "auth": auth}


def _token_of(message: str) -> Optional[str]:
    """The project token inside an event, used as the ``/import`` user name."""
    try:
        token = json.loads(message).get("properties", {}).get("token")
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


def never_sent(error: BaseException) -> bool:
    """Tell whether a transport error happened before the request left."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = nested or current.__cause__ or current.__context__
    return False
