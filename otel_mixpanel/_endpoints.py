"""Where each Mixpanel endpoint lives, from a host, a base URL or explicit URLs."""

from __future__ import annotations

import ipaddress
from typing import Mapping, Optional
from urllib.parse import urlsplit

from ._errors import MixpanelException

#: The endpoint names of the consumer protocol and their paths.
ENDPOINT_PATHS: Mapping[str, str] = {
    "events": "/track",
    "people": "/engage",
    "groups": "/groups",
    "imports": "/import",
}

DEFAULT_API_HOST = "api.mixpanel.com"


def base_url(api_host: str) -> str:
    """Return the base URL for ``api_host``: a bare host gets ``https://``."""
    host = (api_host or DEFAULT_API_HOST).strip()
    if "://" in host:
        return host.rstrip("/")
    return "https://" + host.strip("/")


def endpoint_urls(
    api_host: str, overrides: Mapping[str, Optional[str]]
) -> dict[str, str]:
    """Return the URL of every endpoint, explicit overrides taking precedence."""
    root = base_url(api_host)
    return {
        name: overrides.get(name) or root + path
        for name, path in ENDPOINT_PATHS.items()
    }


def check_endpoint(endpoint: str) -> None:
    """Raise a clear error when ``endpoint`` is not one of the four names."""
    if endpoint not in ENDPOINT_PATHS:
        valid = ", ".join(repr(name) for name in ENDPOINT_PATHS)
        raise MixpanelException(f"No such endpoint {endpoint!r}; valid ones: {valid}.")


def is_plain_http_to_remote(url: str) -> bool:
    """Tell whether ``url`` is plain ``http`` to a host other than loopback."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True
