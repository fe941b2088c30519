"""Service-account credentials for Mixpanel's /import endpoint.

The secret is readable as ``.secret`` but never appears in a repr, a string,
an exception message or a hash.
"""

from __future__ import annotations

import hmac

from requests.auth import HTTPBasicAuth


class ServiceAccountCredentials:
    """A Mixpanel service account (user name and secret) and its project id.

    All three values must be non-blank strings; surrounding whitespace is
    stripped. Instances are immutable; two are equal when all three values
    match (the secrets are compared in constant time), and the hash leaves the
    secret out.
    """

    __slots__ = ("_project_id", "_secret", "_username")

    def __init__(self, username: str, secret: str, project_id: str) -> None:
        self._username = _checked("username", username)
        self._secret = _checked("secret", secret)
        self._project_id = _checked("project_id", project_id)

    @property
    def username(self) -> str:
        """The service account's user name."""
        return self._username

    @property
    def secret(self) -> str:
        """The service account's secret."""
        return self._secret

    @property
    def project_id(self) -> str:
        """The id of the Mixpanel project the account imports into."""
        return self._project_id

    def to_http_basic_auth(self) -> HTTPBasicAuth:
        """Return HTTP Basic auth for ``requests`` (user name and secret)."""
        return HTTPBasicAuth(self._username, self._secret)

    def __repr__(self) -> str:
        return (
            f"ServiceAccountCredentials(username={self._username!r}, "
            f"project_id={self._project_id!r}, secret='***')"
        )

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServiceAccountCredentials):
            return NotImplemented
        same_secret = hmac.compare_digest(
            self._secret.encode("utf-8"), other._secret.encode("utf-8")
        )
        return (
            same_secret
            and self._username == other._username
            and self._project_id == other._project_id
        )

    def __hash__(self) -> int:
        return hash((ServiceAccountCredentials, self._username, self._project_id))


def _checked(name: str, value: object) -> str:
    """Return ``value`` stripped, or raise if it is not a non-blank string."""
    if not isinstance(value, str):
        raise TypeError(
            f"The service account {name} must be a str, not {type(value).__name__}"
        )
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"The service account {name} must not be empty or blank")
    return stripped
