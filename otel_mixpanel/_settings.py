"""Settings of the exporters, the handler and the background consumer.

Every setting is a keyword that falls back to a ``MIXPANEL_*`` environment
variable, so ``opentelemetry-instrument`` can build our classes with no
arguments. Secrets are kept out of ``repr``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, TypeVar

from ._buffered import DEFAULT_MAX_BUFFER, MAX_BATCH_SIZE, BufferedConsumer
from ._credentials import ServiceAccountCredentials
from ._endpoints import DEFAULT_API_HOST

_T = TypeVar("_T")

#: Environment variable of each setting.
ENVIRONMENT: Mapping[str, str] = {
    "token": "MIXPANEL_TOKEN",
    "api_host": "MIXPANEL_API_HOST",
    "service_account_username": "MIXPANEL_SERVICE_ACCOUNT_USERNAME",
    "service_account_secret": "MIXPANEL_SERVICE_ACCOUNT_SECRET",
    "project_id": "MIXPANEL_PROJECT_ID",
    "api_secret": "MIXPANEL_API_SECRET",
    "request_timeout": "MIXPANEL_REQUEST_TIMEOUT",
    "retry_deadline": "MIXPANEL_RETRY_DEADLINE",
    "max_batch_size": "MIXPANEL_BATCH_SIZE",
    "max_buffer": "MIXPANEL_MAX_BUFFER",
    "gzip": "MIXPANEL_GZIP",
    "verify_cert": "MIXPANEL_VERIFY_CERT",
}

#: Variables read by the exporters themselves, beside the delivery ones.
EXPORT_ALL_SPANS_VARIABLE = "MIXPANEL_EXPORT_ALL_SPANS"
EXPORT_ALL_LOGS_VARIABLE = "MIXPANEL_EXPORT_ALL_LOGS"
REDACT_VARIABLE = "MIXPANEL_REDACT"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class DeliverySettings:
    """Where and how messages are delivered; built by :func:`load_delivery`."""

    token: str = field(repr=False)
    api_host: str = DEFAULT_API_HOST
    credentials: Optional[ServiceAccountCredentials] = field(default=None, repr=False)
    api_secret: Optional[str] = field(default=None, repr=False)
    request_timeout: float = 10.0
    retry_deadline: float = 30.0
    max_batch_size: int = MAX_BATCH_SIZE
    max_buffer: int = DEFAULT_MAX_BUFFER
    gzip: bool = True
    verify_cert: bool = True

    @property
    def uses_import(self) -> bool:
        """Whether events go to ``/import`` (import credentials are set)."""
        return self.credentials is not None or bool(self.api_secret)

    def buffered_consumer(self, **extra: Any) -> BufferedConsumer:
        """Build the buffered consumer these settings describe.

        ``extra`` passes other :class:`BufferedConsumer` keywords through
        (explicit endpoint URLs, ``retry_limit``, ``retry_backoff_factor``).
        """
        return BufferedConsumer(
            self.max_batch_size,
            **extra,
            api_host=self.api_host,
            request_timeout=self.request_timeout,
            verify_cert=self.verify_cert,
            credentials=self.credentials,
            max_buffer=self.max_buffer,
            api_secret=self.api_secret,
            retry_deadline=self.retry_deadline,
            gzip=self.gzip,
        )


def load_delivery(
    environ: Optional[Mapping[str, str]] = None,
    *,
    require_token: bool = True,
    **given: Any,
) -> DeliverySettings:
    """Build delivery settings from keywords, then the environment, then defaults.

    Raises ``ValueError`` naming the variable when the token is missing (and
    ``require_token``) or a value cannot be read.
    """
    env = os.environ if environ is None else environ
    pick = _Picker(env, given)
    token = pick.text("token") or ""
    if not token and require_token:
        raise ValueError(
            "A Mixpanel project token is required: pass token=... or set "
            "MIXPANEL_TOKEN."
        )
    username = pick.text("service_account_username")
    secret = pick.text("service_account_secret")
    project_id = pick.text("project_id")
    credentials = given.get("credentials")
    if credentials is None and (username or secret or project_id):
        credentials = ServiceAccountCredentials(
            username or "", secret or "", project_id or ""
        )
    return DeliverySettings(
        token=token,
        api_host=pick.text("api_host") or DEFAULT_API_HOST,
        credentials=credentials,
        api_secret=pick.text("api_secret"),
        request_timeout=pick.number("request_timeout", float, 10.0),
        retry_deadline=pick.number("retry_deadline", float, 30.0),
        max_batch_size=pick.number("max_batch_size", int, MAX_BATCH_SIZE),
        max_buffer=pick.number("max_buffer", int, DEFAULT_MAX_BUFFER),
        gzip=pick.flag("gzip", True),
        verify_cert=pick.flag("verify_cert", True),
    )


def env_flag(
    name: str, default: bool, environ: Optional[Mapping[str, str]] = None
) -> bool:
    """Read a true/false environment variable, naming it when it is not one."""
    env = os.environ if environ is None else environ
    return _parse_flag(name, env.get(name), default)


class _Picker:
    """Looks a setting up in the keywords first, then in the environment."""

    def __init__(self, environ: Mapping[str, str], given: Mapping[str, Any]) -> None:
        self._environ = environ
        self._given = given

    def _raw(self, name: str) -> tuple[Any, str]:
        value = self._given.get(name)
        if value is not None:
            return value, name
        variable = ENVIRONMENT[name]
        return self._environ.get(variable) or None, variable

    def text(self, name: str) -> Optional[str]:
        value, _ = self._raw(name)
        return None if value is None else str(value).strip() or None

    def number(self, name: str, kind: Callable[[Any], _T], default: _T) -> _T:
        value, source = self._raw(name)
        if value is None:
            return default
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{source} must be a number.") from None

    def flag(self, name: str, default: bool) -> bool:
        value, source = self._raw(name)
        if isinstance(value, bool):
            return value
        return _parse_flag(source, value, default)


def _parse_flag(source: str, value: Optional[str], default: bool) -> bool:
    if value is None or not str(value).strip():
        return default
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{source} must be true or false.")
