"""What the span and log record exporters share: set-up, delivery and clean-up.

Both build their settings, consumer and mapper the same way, deliver a mapped
batch the same way (hand over, then flush by a deadline) and release the
consumer the same way at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Union

from ._buffered import BufferedConsumer
from ._errors import MixpanelException
from ._mapping import EventMapper, MessageBatch
from ._redaction import resolve_redact
from ._settings import ENVIRONMENT, DeliverySettings, load_delivery

_logger = logging.getLogger(__name__)

#: Delivery keywords an exporter accepts besides its named ones.
DELIVERY_KEYWORDS = frozenset(ENVIRONMENT) | {"credentials"}


@dataclass(frozen=True)
class ExporterParts:
    """An exporter's settings, consumer (and whether it owns it) and mapper."""

    settings: DeliverySettings
    consumer: BufferedConsumer
    owns_consumer: bool
    mapper: EventMapper


def build_parts(
    consumer: Optional[BufferedConsumer],
    redact: Union[str, Iterable[str], None],
    delivery: Mapping[str, Any],
) -> ExporterParts:
    """Read the settings (keywords, then environment) and build the parts.

    Raises ``TypeError`` for an unknown keyword and ``ValueError`` naming the
    variable for a missing token or an unreadable value.
    """
    unknown = sorted(set(delivery) - DELIVERY_KEYWORDS)
    if unknown:
        raise TypeError(f"Unexpected keyword argument(s): {', '.join(unknown)}")
    settings = load_delivery(**delivery)
    owns_consumer = consumer is None
    if consumer is None:
        consumer = settings.buffered_consumer()
    mapper = EventMapper(
        settings.token,
        uses_import=settings.uses_import,
        redact=resolve_redact(redact),
        losses=consumer.losses,
    )
    return ExporterParts(settings, consumer, owns_consumer, mapper)


class DeliveryBudget:
    """After a delivery that left messages unsent, the next ones get a short time.

    In an outage an export would otherwise hold the SDK's worker for a whole
    deadline on every batch, and the SDK's own queue (which drops without
    counting) would fill. Once a delivery fails, each export still tries
    (so delivery resumes by itself with the next batch) but once, within
    ``after_failure`` seconds, with what it cannot send kept in the
    consumer's buffer, bounded and counted. A full delivery restores the
    whole deadline and the retries. ``force_flush`` and ``shutdown`` use
    their own timeouts.
    """

    def __init__(self, after_failure: float = 1.0) -> None:
        self._after_failure = after_failure
        self._failing = False

    def seconds(self, timeout: float) -> float:
        """The time the next delivery may take, out of ``timeout``."""
        return min(timeout, self._after_failure) if self._failing else timeout

    def retries(self) -> Optional[int]:
        """The retries the next delivery may make (None: the consumer's own)."""
        return 0 if self._failing else None

    def record(self, all_sent: bool) -> None:
        """Note whether the last delivery left anything unsent."""
        self._failing = not all_sent


def deliver(
    consumer: BufferedConsumer,
    batch: MessageBatch,
    timeout: float,
    budget: Optional[DeliveryBudget] = None,
) -> bool:
    """Hand a mapped batch to the consumer and flush it within ``timeout``.

    Returns True when everything buffered was delivered. Never raises a
    delivery error: what failed stays buffered (or is counted as lost).
    ``budget`` shortens the time after a failed delivery.
    """
    delivered = True
    for endpoint, messages in batch.by_endpoint():
        try:
            consumer.send_many(endpoint, messages, flush_when_full=False)
        except MixpanelException as error:
            delivered = False
            _logger.debug("Mixpanel send failed: %s", describe(error))
    retries = None
    if budget is not None:
        timeout = budget.seconds(timeout)
        retries = budget.retries()
    flushed = flush(consumer, timeout, retries)
    if budget is not None:
        budget.record(consumer.pending() == 0)
    return flushed and delivered


def flush(
    consumer: BufferedConsumer, timeout: float, retries: Optional[int] = None
) -> bool:
    """Flush the consumer within ``timeout``; False (logged at DEBUG) on failure."""
    try:
        consumer.flush(timeout=max(0.0, timeout), retries=retries)
    except MixpanelException as error:
        _logger.debug("Mixpanel flush failed: %s", describe(error))
        return False
    return True


def release(consumer: BufferedConsumer, owned: bool, idle: bool) -> None:
    """At shutdown: cut an owned consumer's retries short, and close it if idle.

    A consumer the user passed in is left alone; one still used by a running
    export (``idle`` False) is only cancelled.
    """
    if owned:
        consumer.cancel()
        if idle:
            consumer.close(timeout=0)


class ExportLock:
    """The lock an exporter's export, flush and shutdown share.

    A forked child gets a fresh lock (a parent's export thread may hold the
    old one). When shutdown stops waiting for an export under way, that
    export releases the consumer itself once it ends, so what it could not
    deliver is still counted.
    """

    def __init__(self, consumer: BufferedConsumer, owns_consumer: bool) -> None:
        self._consumer = consumer
        self._owns_consumer = owns_consumer
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._abandoned = False

    def check_process(self) -> bool:
        """In a forked child, replace the lock; tell whether that happened."""
        if os.getpid() == self._pid:
            return False
        self._pid = os.getpid()
        self._lock = threading.Lock()
        return True

    @contextlib.contextmanager
    def exporting(self) -> Iterator[None]:
        """Hold the lock for an export; release the consumer if shutdown left."""
        self.check_process()
        with self._lock:
            try:
                yield
            finally:
                if self._abandoned:
                    release(self._consumer, self._owns_consumer, idle=True)

    def acquire(self, timeout: float) -> bool:
        """Take the lock within ``timeout`` seconds (for a flush)."""
        self.check_process()
        return self._lock.acquire(timeout=max(0.0, timeout))

    def release(self) -> None:
        """Give the lock back."""
        self._lock.release()

    def acquire_for_shutdown(self, timeout: float) -> bool:
        """Wait for a running export; if it outlasts ``timeout``, leave it to
        release the consumer when it ends. Tell whether the lock is held.
        """
        if self.acquire(timeout):
            return True
        self._abandoned = True
        release(self._consumer, self._owns_consumer, idle=False)
        # The export may have ended just now: then this thread does it.
        return self._lock.acquire(blocking=False)


def describe(error: MixpanelException) -> str:
    """The reason of a failure, without the batch it carries."""
    return f"{error.args[0] if error.args else type(error).__name__}"


def attributes_of(item: Any) -> Optional[Mapping[str, Any]]:
    """A span's, span event's or log record's attributes, as a plain dict if possible.

    Reading the SDK's private storage avoids a copy and a lock per access; the
    attributes of an ended span or an emitted record do not change. Falls
    back to the public ``attributes`` property.
    """
    raw = getattr(item, "_attributes", None)
    if raw is None:
        raw = item.attributes
    inner = getattr(raw, "_dict", None)
    if type(inner) is dict:
        return inner
    return raw  # type: ignore[no-any-return]
