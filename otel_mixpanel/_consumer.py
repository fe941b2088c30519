"""The consumer that sends each call to Mixpanel at once, with bounded retries."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import requests

from . import _replies
from ._credentials import ServiceAccountCredentials
from ._endpoints import DEFAULT_API_HOST, check_endpoint, endpoint_urls
from ._errors import MixpanelException
from ._idempotency import safe_to_resend
from ._loss import LossCounter
from ._request import build_request, never_sent
from ._retry import RetryPolicy
from ._version import __version__

_logger = logging.getLogger(__name__)

#: Seconds one request may take when the caller sets no timeout.
DEFAULT_REQUEST_TIMEOUT = 10.0

ApiKey = Union[None, str, "tuple[Optional[str], Optional[str]]"]


@dataclass
class DeliveryResult:
    """What became of the messages of one :meth:`Consumer.deliver` call."""

    delivered: int = 0
    rejected: int = 0
    uncertain: int = 0
    reasons: list[str] = field(default_factory=list)
    failed_records: list[dict[str, Any]] = field(default_factory=list)
    status: Optional[int] = None


class DeliveryFailed(MixpanelException):
    """Sending failed for now; ``remaining`` holds the messages still unsent."""

    def __init__(
        self, reason: str, remaining: list[str], endpoint: str, status: Optional[int]
    ) -> None:
        super().__init__(reason, endpoint=endpoint, status=status)
        self.remaining = remaining
        self.result = DeliveryResult()


class Consumer:
    """Sends one request per :meth:`send` call, retrying within a deadline.

    Arguments are the reference's, plus keyword-only ones: ``api_secret``
    (default secret for ``/import``), ``retry_deadline`` (seconds one call may
    take, retries included), ``gzip`` (compress large bodies). ``api_host``
    takes a host (``https`` implied) or a base URL such as
    ``http://127.0.0.1:8080``.
    """

    def __init__(
        self,
        events_url: Optional[str] = None,
        people_url: Optional[str] = None,
        import_url: Optional[str] = None,
        request_timeout: Optional[float] = None,
        groups_url: Optional[str] = None,
        api_host: str = DEFAULT_API_HOST,
        retry_limit: int = 4,
        retry_backoff_factor: float = 0.25,
        verify_cert: bool = True,
        credentials: Optional[ServiceAccountCredentials] = None,
        *,
        api_secret: Optional[str] = None,
        retry_deadline: float = 30.0,
        gzip: bool = True,
        losses: Optional[LossCounter] = None,
    ) -> None:
        overrides = {
            "events": events_url,
            "people": people_url,
            "groups": groups_url,
            "imports": import_url,
        }
        self._endpoints = endpoint_urls(api_host, overrides)
        self._request_timeout = request_timeout or DEFAULT_REQUEST_TIMEOUT
        self._policy = RetryPolicy(
            max_retries=retry_limit,
            backoff_factor=retry_backoff_factor,
            deadline=retry_deadline,
        )
        self._verify_cert = verify_cert
        self._credentials = credentials
        self._api_secret = api_secret
        self._gzip = gzip
        self.losses = losses if losses is not None else LossCounter()
        self._cancelled = threading.Event()
        self._pid = os.getpid()
        self._session = self._new_session()

    @property
    def endpoints(self) -> dict[str, str]:
        """The URL each endpoint name is sent to."""
        return dict(self._endpoints)

    def sync_consumer(self) -> Consumer:
        """Return a consumer that sends at once to the same endpoints."""
        return self

    def send(
        self,
        endpoint: str,
        json_message: str,
        api_key: ApiKey = None,
        api_secret: Optional[str] = None,
    ) -> bool:
        """Send one message (or a JSON array of them) now.

        Raises :class:`MixpanelException` for an unknown endpoint, when the
        retries and the deadline run out, or when Mixpanel refuses the data.
        """
        check_endpoint(endpoint)
        result = self.deliver(
            endpoint,
            split_messages(json_message),
            api_key=api_key,
            api_secret=api_secret,
        )
        if result.rejected:
            raise MixpanelException(
                f"Mixpanel refused {result.rejected} message(s) on {endpoint!r}: "
                + "; ".join(result.reasons),
                endpoint=endpoint,
                status=result.status,
                failed_records=result.failed_records,
            )
        if result.uncertain:
            raise MixpanelException(
                f"{result.uncertain} profile update(s) on {endpoint!r} may or may "
                "not have been applied; they were not resent to avoid applying "
                "them twice.",
                endpoint=endpoint,
                status=result.status,
            )
        return True

    def deliver(
        self,
        endpoint: str,
        messages: list[str],
        *,
        api_key: ApiKey = None,
        api_secret: Optional[str] = None,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
    ) -> DeliveryResult:
        """Send ``messages`` as few requests as possible; report what became of them.

        Messages Mixpanel refuses are counted in the result, not retried.
        Raises :class:`DeliveryFailed` with the messages still unsent when
        the retries (``retries`` or the policy's), the deadline (``timeout``
        or the policy's) or a :meth:`cancel` end the attempt.
        """
        if isinstance(api_key, tuple):
            api_key, api_secret = api_key
        self._check_process()
        budget = self._policy.deadline if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, budget)
        result = DeliveryResult()
        most = self._policy.max_retries if retries is None else retries
        pending: list[tuple[list[str], int]] = [(list(messages), 0)]
        while pending:
            batch, offset = pending.pop(0)
            try:
                halves = self._send_batch(
                    endpoint, batch, offset, api_secret, (deadline, most), result
                )
            except DeliveryFailed as failure:
                for rest, _ in pending:
                    failure.remaining.extend(rest)
                failure.result = result
                raise
            pending[0:0] = halves
        return result

    def cancel(self) -> None:
        """Cut retries short: waiting calls give up with what they have not sent."""
        self._cancelled.set()

    def close(self) -> None:
        """Cancel waiting retries and close the HTTP session."""
        self.cancel()
        self._session.close()

    def _send_batch(
        self,
        endpoint: str,
        batch: list[str],
        offset: int,
        api_secret: Optional[str],
        bounds: tuple[float, int],
        result: DeliveryResult,
    ) -> list[tuple[list[str], int]]:
        """Send one batch with retries; return halves to send if it was too large.

        ``bounds`` is the monotonic deadline and the most retries allowed.
        """
        deadline, most_retries = bounds
        url = self._endpoints[endpoint]
        retry_number = 0
        while True:
            request = build_request(
                endpoint,
                url,
                batch,
                credentials=self._credentials,
                api_secret=api_secret or self._api_secret,
                gzip_bodies=self._gzip,
            )
            if isinstance(request, str):
                self._reject(result, len(batch), request, None)
                return []
            left = deadline - time.monotonic()
            if self._cancelled.is_set() or left <= 0:
                reason = "cancelled" if self._cancelled.is_set() else "deadline passed"
                raise DeliveryFailed(reason, batch, endpoint, result.status)
            outcome = self._post(url, request, left)
            result.status = outcome.status or result.status
            if outcome.kind == _replies.OK:
                result.delivered += len(batch)
                _logger.debug("Sent %d message(s) to %s.", len(batch), endpoint)
                return []
            if outcome.kind == _replies.PARTIAL:
                self._partial(result, batch, offset, outcome)
                return []
            if outcome.kind == _replies.TOO_LARGE and len(batch) > 1:
                middle = len(batch) // 2
                return [(batch[:middle], offset), (batch[middle:], offset + middle)]
            if outcome.kind != _replies.RETRY:
                self._reject(result, len(batch), outcome.reason, outcome.status)
                return []
            if outcome.ambiguous:
                kept = [
                    message for message in batch if safe_to_resend(endpoint, message)
                ]
                result.uncertain += len(batch) - len(kept)
                batch = kept
                if not batch:
                    return []
            delay = self._policy.backoff(retry_number, outcome.retry_after)
            if retry_number >= most_retries or (time.monotonic() + delay >= deadline):
                raise DeliveryFailed(
                    f"gave up after {retry_number + 1} attempt(s): {outcome.reason}",
                    batch,
                    endpoint,
                    outcome.status or None,
                )
            _logger.debug(
                "Retrying %s in %.2f s after %s.", endpoint, delay, outcome.reason
            )
            if self._cancelled.wait(delay):
                raise DeliveryFailed("cancelled", batch, endpoint, outcome.status)
            retry_number += 1

    def _post(self, url: str, request: dict[str, Any], left: float) -> _replies.Outcome:
        """POST once; turn the reply or the transport error into an outcome."""
        timeout = min(self._request_timeout, left)
        try:
            response = self._session.post(
                url, timeout=timeout, verify=self._verify_cert, **request
            )
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as e:
            return _replies.Outcome(
                _replies.REJECTED, f"invalid URL: {type(e).__name__}"
            )
        except requests.exceptions.RequestException as error:
            return _replies.Outcome(
                _replies.RETRY, type(error).__name__, ambiguous=not never_sent(error)
            )
        return _replies.interpret(
            response.status_code, response.content, response.headers
        )

    def _partial(
        self,
        result: DeliveryResult,
        batch: list[str],
        offset: int,
        outcome: _replies.Outcome,
    ) -> None:
        failed = outcome.failed_records
        for record in failed:
            if isinstance(record.get("index"), int):
                record["index"] += offset
        result.failed_records.extend(failed)
        self._reject(result, len(failed), outcome.reason, outcome.status)
        result.delivered += len(batch) - len(failed)

    @staticmethod
    def _reject(
        result: DeliveryResult, count: int, reason: str, status: Optional[int]
    ) -> None:
        result.rejected += count
        if reason not in result.reasons:
            result.reasons.append(reason)
        result.status = status or result.status

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = (
            f"otel-mixpanel/{__version__} python-requests/{requests.__version__}"
        )
        return session

    def _check_process(self) -> None:
        """After a fork, give the child its own session and cancel flag."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._session = self._new_session()
            self._cancelled = threading.Event()
            self.losses.reset_after_fork()


def split_messages(json_message: str) -> list[str]:
    """Split a JSON array string into its messages; keep one object as is."""
    if json_message.lstrip().startswith("["):
        items = json.loads(json_message)
        return [json.dumps(item, separators=(",", ":")) for item in items]
    return [json_message]
