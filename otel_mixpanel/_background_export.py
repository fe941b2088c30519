"""The private exporter behind ``BackgroundConsumer``: SDK batches to Mixpanel.

It groups each batch by endpoint and credentials, hands it to a buffered
consumer, and counts what the SDK's queue dropped (gaps in the sequence).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Optional

from opentelemetry.context import (
    _SUPPRESS_INSTRUMENTATION_KEY,
    attach,
    detach,
    set_value,
)

from ._buffered import BufferedConsumer
from ._errors import MixpanelException
from ._exporting import DeliveryBudget
from ._loss import LossCounter
from ._sdk_logs import LogExportResult, LogRecordExporterBase, unwrap

_logger = logging.getLogger(__name__)

_Key = tuple[str, Optional[str], Optional[str]]


class QueuedMessage:
    """One message waiting in the SDK's queue, numbered in the order it was sent."""

    __slots__ = ("api_key", "api_secret", "endpoint", "message", "sequence")

    def __init__(
        self,
        endpoint: str,
        message: str,
        api_key: Optional[str],
        api_secret: Optional[str],
    ) -> None:
        self.endpoint = endpoint
        self.message = message
        self.api_key = api_key
        self.api_secret = api_secret
        self.sequence = 0

    def __repr__(self) -> str:
        return f"<QueuedMessage #{self.sequence} for {self.endpoint!r}>"


class Deadlines:
    """Deadlines of the flushes and closes under way.

    An export on a thread that is flushing keeps that thread's deadline; one
    on the SDK's worker keeps the nearest deadline of those waiting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[float] = []
        self._local = threading.local()

    @contextlib.contextmanager
    def active(self, deadline: Optional[float]) -> Iterator[None]:
        """Bound the exports that start while the block runs by ``deadline``."""
        if deadline is None:
            yield
            return
        with self._lock:
            self._active.append(deadline)
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = None
            with self._lock:
                self._active.remove(deadline)

    def for_export(self) -> Optional[float]:
        """This thread's own deadline, else the nearest one waiting, else None."""
        own: Optional[float] = getattr(self._local, "deadline", None)
        if own is not None:
            return own
        with self._lock:
            return min(self._active, default=None)

    def reset_after_fork(self) -> None:
        """A child waits on none of its parent's deadlines."""
        self._lock = threading.Lock()
        self._active = []
        self._local = threading.local()


class QueueExporter(LogRecordExporterBase):
    """Delivers SDK batches of queued messages through a buffered consumer."""

    def __init__(
        self,
        buffered: BufferedConsumer,
        deadlines: Deadlines,
        losses: LossCounter,
        retry_deadline: float = 30.0,
    ) -> None:
        self._buffered = buffered
        self._retry_deadline = retry_deadline
        self._budget = DeliveryBudget()
        self._deadlines = deadlines
        self._losses = losses
        self._condition = threading.Condition()
        self._busy = 0
        self._last_seen = 0
        self._closed = False

    def export(self, batch: Sequence[Any]) -> LogExportResult:
        """Deliver one batch; what fails stays buffered for the next attempt."""
        messages = [unwrap(item)[0].body for item in batch]
        with self._condition:
            self._busy += 1
            fresh = self._take_fresh(messages)
            closed = self._closed
        try:
            if closed or not fresh:
                return LogExportResult.SUCCESS
            token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
            try:
                return self._deliver(fresh, self._deadlines.for_export())
            finally:
                detach(token)
        finally:
            with self._condition:
                self._busy -= 1
                abandoned = self._closed and not self._busy
                self._condition.notify_all()
            if abandoned and fresh:
                # The consumer closed while this export was under way: what it
                # could not deliver is counted now, as the close would have.
                self._buffered.close(0.0)

    def wait_idle(self, deadline: Optional[float]) -> bool:
        """Wait until no export is running; False when ``deadline`` passes first."""
        with self._condition:
            while self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._condition.wait(left)
        return True

    def waiting(self, sequence: int) -> int:
        """Messages numbered up to ``sequence`` the SDK has not handed over yet."""
        with self._condition:
            return max(0, sequence - self._last_seen)

    def close(self, sequence: int) -> bool:
        """Stop delivering; count what is still queued; tell whether it is idle."""
        with self._condition:
            self._closed = True
            unsent = max(0, sequence - self._last_seen)
            self._last_seen = max(self._last_seen, sequence)
            idle = not self._busy
        self._losses.add("undelivered at close", unsent)
        return idle

    def reset_after_fork(self, sequence: int) -> None:
        """In a child: what was numbered before the fork belongs to the parent."""
        self._condition = threading.Condition()
        self._busy = 0
        self._last_seen = sequence

    def _take_fresh(self, bodies: list[Any]) -> list[QueuedMessage]:
        """Keep messages not yet seen; count the gaps the SDK queue dropped."""
        fresh: list[QueuedMessage] = []
        dropped = 0
        for body in bodies:
            if isinstance(body, QueuedMessage) and body.sequence > self._last_seen:
                dropped += body.sequence - self._last_seen - 1
                self._last_seen = body.sequence
                fresh.append(body)
        self._losses.add("queue full", dropped)
        return fresh

    def _deliver(
        self, messages: list[QueuedMessage], deadline: Optional[float]
    ) -> LogExportResult:
        groups: dict[_Key, list[str]] = {}
        for queued in messages:
            key = (queued.endpoint, queued.api_key, queued.api_secret)
            groups.setdefault(key, []).append(queued.message)
        for (endpoint, api_key, api_secret), texts in groups.items():
            self._buffered.send_many(
                endpoint, texts, api_key, api_secret, flush_when_full=False
            )
        delivered = True
        retries = None
        if deadline is None:  # the worker's own export: shortened after a failure
            left = self._budget.seconds(self._retry_deadline)
            retries = self._budget.retries()
        else:  # someone is flushing: their deadline holds
            left = deadline - time.monotonic()
        try:
            self._buffered.flush(left, retries=retries)
        except MixpanelException:
            delivered = False
        if deadline is None:
            self._budget.record(self._buffered.pending() == 0)
        if not delivered:
            _logger.debug("Delivery failed for now; messages stay buffered.")
        return LogExportResult.SUCCESS if delivered else LogExportResult.FAILURE
