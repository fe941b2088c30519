"""Which attribute keys name credentials and must never reach Mixpanel.

A key matches an entry when the entry's words appear, in order and whole, among
the key's words: ``token`` matches ``http.request.header.x-auth-token`` and
``accessToken`` but not ``input_tokens``.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Mapping, Optional, Union

from ._settings import REDACT_VARIABLE

#: Keys naming credentials, matched by whole words and case-insensitively.
DEFAULT_REDACT: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
    "credentials",
)

#: Attributes holding a URL (or its query) whose credentials are scrubbed.
URL_ATTRIBUTES = frozenset(
    {"url.full", "url.query", "url.original", "http.url", "http.target"}
)

_USER_INFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")
_QUERY_PARAMETER = re.compile(r"([?&;]|^)([^=&;#?]+)=([^&;#]*)")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


class Redaction:
    """Tells whether an attribute key names a credential.

    Matching costs a few regular expressions per key; callers cache the
    answer per key.
    """

    def __init__(self, entries: Iterable[str] = DEFAULT_REDACT) -> None:
        patterns = {_joined_words(entry) for entry in entries if isinstance(entry, str)}
        self._patterns = tuple(sorted(pattern for pattern in patterns if pattern))

    @property
    def enabled(self) -> bool:
        """Whether any key can match."""
        return bool(self._patterns)

    def matches(self, key: str) -> bool:
        """Whether ``key`` contains the words of one of the entries."""
        if not self._patterns:
            return False
        words = _joined_words(key)
        return any(pattern in words for pattern in self._patterns)

    def scrub_url(self, url: str) -> str:
        """``url`` with its user info and credential query values replaced.

        ``https://ada:pw@host/p?access_token=abc&page=2`` becomes
        ``https://REDACTED:REDACTED@host/p?access_token=REDACTED&page=2``, as
        OpenTelemetry's conventions ask for URL attributes.
        """
        if not self._patterns:
            return url
        url = _USER_INFO.sub(r"\1REDACTED:REDACTED@", url, count=1)
        return _QUERY_PARAMETER.sub(self._scrub_parameter, url)

    def _scrub_parameter(self, match: re.Match[str]) -> str:
        if self.matches(match.group(2)):
            return f"{match.group(1)}{match.group(2)}=REDACTED"
        return match.group(0)


def resolve_redact(
    redact: Union[str, Iterable[str], None] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Redaction:
    """Build the redaction from ``redact``, else ``MIXPANEL_REDACT``, else the default.

    ``redact`` may be a list of entries or one comma-separated string; an empty
    list turns redaction off. An empty or unset variable means the default list.
    """
    if redact is None:
        env = os.environ if environ is None else environ
        redact = env.get(REDACT_VARIABLE, "").strip() or None
    if redact is None:
        return Redaction(DEFAULT_REDACT)
    if isinstance(redact, str):
        redact = [entry.strip() for entry in redact.split(",")]
    return Redaction(entry for entry in redact if entry)


def _joined_words(text: str) -> str:
    """``"x-AuthToken"`` -> ``".x.auth.token."``: words, lower case, dot-delimited."""
    spaced = _CAMEL_BOUNDARY.sub(".", text).lower()
    words = [word for word in _NOT_WORD.split(spaced) if word]
    return "." + ".".join(words) + "." if words else ""
