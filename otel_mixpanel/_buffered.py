"""The consumer that batches messages per endpoint and sends them on flush."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Any, Optional

from ._consumer import ApiKey, Consumer, DeliveryFailed, DeliveryResult
from ._credentials import ServiceAccountCredentials
from ._endpoints import DEFAULT_API_HOST, check_endpoint
from ._errors import MixpanelException
from ._loss import LossCounter

_logger = logging.getLogger(__name__)

#: Mixpanel takes at most this many messages in one request.
MAX_BATCH_SIZE = 2000
#: Messages kept per endpoint (and credentials) while Mixpanel cannot be reached.
DEFAULT_MAX_BUFFER = 20_000

_BufferKey = tuple[str, Optional[str], Optional[str]]


class BufferedConsumer:
    """Holds messages per endpoint and sends them in batches of ``max_size``.

    A batch is sent when an endpoint's buffer reaches ``max_size`` (on the
    thread that called :meth:`send`) and on :meth:`flush`. Each endpoint,
    with the credentials its messages came with, has its own buffer. Batches
    already delivered are never sent again; a batch that could not be sent
    stays buffered for the next flush, up to ``max_buffer`` messages per
    buffer, beyond which the oldest are dropped and counted in ``losses``.
    Messages Mixpanel refuses as invalid are counted and reported, not kept.
    Safe to share between threads and to use in a child after ``fork``.
    """

    def __init__(
        self,
        max_size: int = MAX_BATCH_SIZE,
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
        max_buffer: int = DEFAULT_MAX_BUFFER,
        api_secret: Optional[str] = None,
        retry_deadline: float = 30.0,
        gzip: bool = True,
        consumer: Optional[Consumer] = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.losses = consumer.losses if consumer is not None else LossCounter()
        self._consumer = consumer or Consumer(
            events_url,
            people_url,
            import_url,
            request_timeout,
            groups_url,
            api_host,
            retry_limit,
            retry_backoff_factor,
            verify_cert,
            credentials,
            api_secret=api_secret,
            retry_deadline=retry_deadline,
            gzip=gzip,
            losses=self.losses,
        )
        self._max_size = min(max_size, MAX_BATCH_SIZE)
        self._max_buffer = max(max_buffer, self._max_size)
        self._buffers: dict[_BufferKey, deque[str]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pid = os.getpid()

    @property
    def max_size(self) -> int:
        """Messages sent in one request."""
        return self._max_size

    def sync_consumer(self) -> Consumer:
        """Return the consumer that sends at once to the same endpoints."""
        return self._consumer

    def pending(self) -> int:
        """Messages buffered and not yet delivered."""
        with self._lock:
            return sum(len(buffer) for buffer in self._buffers.values())

    def send(
        self,
        endpoint: str,
        json_message: str,
        api_key: ApiKey = None,
        api_secret: Optional[str] = None,
    ) -> None:
        """Buffer one message; send the endpoint's batch once it is full.

        Raises :class:`MixpanelException` for an unknown endpoint, and when
        the batch sent because of this call fails (the exception carries the
        batch as ``message`` and its ``endpoint``).
        """
        self.send_many(endpoint, (json_message,), api_key, api_secret)

    def send_many(
        self,
        endpoint: str,
        json_messages: Any,
        api_key: ApiKey = None,
        api_secret: Optional[str] = None,
        *,
        flush_when_full: bool = True,
    ) -> None:
        """Buffer several messages for one endpoint in one step.

        With ``flush_when_full=False`` nothing is sent here, even when the
        buffer is full: the caller flushes next, with its own deadline.
        """
        check_endpoint(endpoint)
        if isinstance(api_key, tuple):
            api_key, api_secret = api_key
        key = (endpoint, api_key, api_secret)
        self._check_process()
        with self._lock:
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = deque()
            buffer.extend(json_messages)
            overflow = len(buffer) - self._max_buffer
            for _ in range(max(0, overflow)):
                buffer.popleft()
            full = len(buffer) >= self._max_size
        self.losses.add("buffer full", overflow)
        if full and flush_when_full:
            self._flush_buffer(key, None)

    def flush(
        self, timeout: Optional[float] = None, *, retries: Optional[int] = None
    ) -> None:
        """Send everything buffered, within ``timeout`` seconds if given.

        ``retries`` overrides the consumer's retry count for this flush (0:
        one attempt per batch). Raises :class:`MixpanelException` (with
        ``message`` and ``endpoint``) when a batch could not be sent or was
        refused; the other batches are still attempted first, and unsent ones
        stay buffered.
        """
        self._check_process()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            keys = [key for key, buffer in self._buffers.items() if buffer]
        first_error: Optional[MixpanelException] = None
        for key in keys:
            try:
                self._flush_buffer(key, deadline, retries)
            except MixpanelException as error:
                first_error = first_error or error
        if first_error is not None:
            raise first_error

    def close(self, timeout: Optional[float] = None) -> None:
        """Flush what is buffered, then close; what cannot be sent is counted."""
        try:
            self.flush(timeout)
        except MixpanelException:
            _logger.debug("Final flush failed.", exc_info=True)
        with self._lock:
            unsent = sum(len(buffer) for buffer in self._buffers.values())
            self._buffers.clear()
        self.losses.add("undelivered at close", unsent)
        self._consumer.close()

    def cancel(self) -> None:
        """Cut retries short (on shutdown); unsent messages stay buffered."""
        self._consumer.cancel()

    def __enter__(self) -> BufferedConsumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _flush_buffer(
        self, key: _BufferKey, deadline: Optional[float], retries: Optional[int] = None
    ) -> None:
        """Send one buffer batch by batch; keep unsent messages, report refusals."""
        endpoint, api_key, api_secret = key
        refusal: Optional[MixpanelException] = None
        with self._flush_lock:
            while True:
                with self._lock:
                    buffer = self._buffers.get(key)
                    if not buffer:
                        break
                    batch = [
                        buffer.popleft()
                        for _ in range(min(len(buffer), self._max_size))
                    ]
                timeout = None
                if deadline is not None:
                    timeout = deadline - time.monotonic()
                    if timeout <= 0:
                        self._requeue(key, batch)
                        raise _failure("flush timed out", endpoint, batch)
                try:
                    result = self._consumer.deliver(
                        endpoint,
                        batch,
                        api_key=api_key,
                        api_secret=api_secret,
                        timeout=timeout,
                        retries=retries,
                    )
                except DeliveryFailed as failure:
                    self._requeue(key, failure.remaining)
                    self._count(endpoint, failure.result)
                    raise _failure(str(failure), endpoint, batch, failure) from failure
                self._count(endpoint, result)
                if result.rejected and refusal is None:
                    refusal = _failure(
                        f"Mixpanel refused {result.rejected} message(s): "
                        + "; ".join(result.reasons),
                        endpoint,
                        batch,
                    )
                    refusal.status = result.status
                    refusal.failed_records = result.failed_records
        if refusal is not None:
            raise refusal

    def _count(self, endpoint: str, result: DeliveryResult) -> None:
        if result.rejected:
            self.losses.add(
                f"refused by Mixpanel on {endpoint}",
                result.rejected,
                "; ".join(result.reasons),
            )
        if result.uncertain:
            self.losses.add(
                f"not resent after an unknown outcome on {endpoint}", result.uncertain
            )

    def _requeue(self, key: _BufferKey, messages: list[str]) -> None:
        """Put unsent messages back in front, keeping the buffer bound."""
        with self._lock:
            buffer = self._buffers.setdefault(key, deque())
            buffer.extendleft(reversed(messages))
            overflow = len(buffer) - self._max_buffer
            for _ in range(max(0, overflow)):
                buffer.popleft()
        self.losses.add("buffer full", overflow)

    def _check_process(self) -> None:
        """In a forked child: new locks, and nothing of the parent's buffers."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._flush_lock = threading.Lock()
            self._buffers = {}


def _failure(
    reason: str,
    endpoint: str,
    batch: list[str],
    cause: Optional[MixpanelException] = None,
) -> MixpanelException:
    """A flush failure carrying the batch (``message``) and ``endpoint``."""
    error = MixpanelException(
        reason, endpoint=endpoint, status=cause.status if cause else None
    )
    error.message = "[" + ",".join(batch) + "]"
    return error
